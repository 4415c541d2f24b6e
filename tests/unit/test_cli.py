"""The sandbox CLI's commands that need no running broker, and their exit codes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from sandbox.cli import EXIT_FAILED, EXIT_NO_BROKER, EXIT_OK, EXIT_USAGE, main, parser
from sandbox.control import lifecycle
from sandbox.control.state import find_state_dir
from sandbox.exitcodes import MEANINGS
from sandbox.scenario.runner import BrokenScenario, load_catalog


def test_topology_prints_every_queue(capsys):
    assert main(["topology"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "payment_events.retry.3" in out and "appointment_notifications.dlq" in out


def test_topology_export_writes_a_definitions_file(tmp_path):
    target = tmp_path / "defs.json"
    assert main(["topology", "--export", str(target)]) == EXIT_OK
    assert {e["name"] for e in json.loads(target.read_text())["exchanges"]} == {
        "appointment_events",
        "appointment_events.dlx",
    }


def test_contracts_check_passes_on_the_repository_and_writes_junit(tmp_path, capsys):
    junit = tmp_path / "contracts.xml"
    assert main(["contracts", "check", "--junit", str(junit)]) == EXIT_OK
    assert "0 failed" in capsys.readouterr().out
    assert junit.read_text().startswith("<?xml")


def test_scenario_list_names_the_catalog(capsys):
    assert main(["scenario", "list"]) == EXIT_OK
    out = capsys.readouterr().out
    for name in ("happy-path", "poison-message", "smtp-down-dlq-replay"):
        assert name in out


def test_unknown_scenario_is_a_usage_error(capsys):
    assert main(["scenario", "run", "no-such-scenario"]) == EXIT_USAGE
    assert "happy-path" in capsys.readouterr().err


def test_dlq_list_without_a_broker_is_exit_3_and_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    assert main(["dlq", "list"]) == EXIT_NO_BROKER
    assert "sandbox up" in capsys.readouterr().err


def test_dlq_list_against_a_closed_port_is_exit_3_without_a_traceback(capsys):
    assert main(["dlq", "list", "--url", "amqp://guest:secret@127.0.0.1:1/"]) == EXIT_NO_BROKER
    err = capsys.readouterr().err
    assert "nothing listens" in err and "Traceback" not in err
    assert "secret" not in err, "the password is not repeated"


def test_bad_configuration_exits_with_the_usage_code(monkeypatch, capsys):
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "stream")
    assert main(["topology"]) == EXIT_USAGE
    assert "RABBITMQ_QUEUE_TYPE" in capsys.readouterr().err


def _commands(root: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every command line of the parser tree: (), ("up",), ("dlq", "list"), ..."""
    yield path
    for action in root._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


@pytest.mark.parametrize(
    "command", list(_commands(parser())), ids=lambda command: " ".join(("sandbox", *command))
)
def test_every_help_lists_every_exit_code(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([*command, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "exit codes:" in out
    for code in MEANINGS:
        assert f"\n  {code} " in out, f"exit code {code} missing from sandbox {command} --help"


def test_status_of_nothing_is_exit_1(tmp_path, capsys):
    assert main(["--state-dir", str(tmp_path), "status"]) == EXIT_FAILED
    assert "sandbox up" in capsys.readouterr().err


def test_status_json_prints_json_when_nothing_runs(tmp_path, capsys):
    assert main(["status", "--json", "--state-dir", str(tmp_path)]) == EXIT_FAILED
    answer = json.loads(capsys.readouterr().out)
    assert answer["running"] is False and answer["state_dir"] == str(tmp_path)


def test_state_dir_is_the_nearest_dot_sandbox_above_the_current_directory(tmp_path):
    (tmp_path / ".sandbox").mkdir()
    deep = tmp_path / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_state_dir(None, {}, deep) == tmp_path / ".sandbox"
    assert find_state_dir(None, {"SANDBOX_STATE_DIR": "/elsewhere"}, deep) == Path("/elsewhere")
    assert find_state_dir("/given", {"SANDBOX_STATE_DIR": "/elsewhere"}, deep) == Path("/given")


def test_without_any_dot_sandbox_the_state_dir_is_the_current_directorys(tmp_path):
    assert find_state_dir(None, {}, tmp_path) == tmp_path / ".sandbox"


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "--random-ports"],
        ["load", "--random-ports", "-t", "1s"],
        ["scenario", "run", "happy-path", "--random-ports"],
    ],
    ids=lambda command: command[0],
)
def test_every_command_that_boots_a_sandbox_takes_random_ports(command, tmp_path, monkeypatch):
    booted: list[dict] = []

    def up(state_dir, **options):
        booted.append(options)
        return EXIT_FAILED  # stop there: the boot itself is lifecycle's tests' business

    monkeypatch.setattr(lifecycle, "up", up)
    assert main(["--state-dir", str(tmp_path), *command]) == EXIT_FAILED
    assert booted and booted[0]["random_ports"] is True


@pytest.mark.parametrize(
    "command",
    [["demo"], ["load", "-t", "1s"], ["scenario", "run", "happy-path"]],
    ids=lambda command: command[0],
)
def test_a_boot_without_a_broker_is_exit_3_for_every_command_that_boots(
    command, tmp_path, monkeypatch
):
    monkeypatch.setattr(lifecycle, "up", lambda state_dir, **options: EXIT_NO_BROKER)
    assert main(["--state-dir", str(tmp_path), *command]) == EXIT_NO_BROKER


@pytest.fixture
def catalog_dir(tmp_path):
    folder = tmp_path / "my-scenarios"
    folder.mkdir()
    (folder / "good_one.py").write_text(
        '"""A scenario that loads."""\n\ndef run(flow):\n    pass\n'
    )
    (folder / "typo.py").write_text('"""Broken."""\n\ndef run(flow)\n    pass\n')
    (folder / "bad_import.py").write_text("import no_such_module_here\n\ndef run(flow): ...\n")
    return folder


def test_a_broken_scenario_file_is_named_and_the_rest_still_load(catalog_dir):
    catalog = load_catalog(catalog_dir)
    assert list(catalog.scenarios) == ["good-one"]
    assert set(catalog.broken) == {"typo", "bad-import"}
    assert "SyntaxError" in catalog.broken["typo"].error
    assert "line 3" in catalog.broken["typo"].error
    assert "no_such_module_here" in catalog.broken["bad-import"].error


def test_scenario_list_names_a_broken_file_and_exits_1(catalog_dir, capsys):
    assert main(["scenario", "list", "--dir", str(catalog_dir)]) == EXIT_FAILED
    out, err = capsys.readouterr()
    assert "good-one" in out and "A scenario that loads." in out
    assert "typo" in err and "typo.py" in err and "SyntaxError" in err


def test_running_a_broken_scenario_fails_it_by_name_without_booting(
    catalog_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(lifecycle, "up", lambda *a, **k: pytest.fail("nothing to boot for"))
    junit = tmp_path / "out.xml"
    code = main(
        [
            "--state-dir",
            str(tmp_path / "s"),
            "scenario",
            "run",
            "--dir",
            str(catalog_dir),
            "typo",
            "--junit",
            str(junit),
        ]
    )
    assert code == EXIT_FAILED
    out = capsys.readouterr().out
    assert "FAILED  typo" in out and "SyntaxError" in out
    assert "typo" in junit.read_text() and "failure" in junit.read_text()


@pytest.mark.parametrize(
    "ref", ["happy-path", "happy_path", "happy_path.py", "scenarios/happy_path.py"]
)
def test_a_scenario_is_found_by_dashed_name_file_name_or_file(ref, monkeypatch):
    monkeypatch.chdir(Path(__file__).parents[2])
    found = load_catalog().find(ref)
    assert found is not None and not isinstance(found, BrokenScenario)
    assert found.name == "happy-path"


def test_a_scenario_file_outside_the_catalog_is_found_by_its_path(catalog_dir):
    found = load_catalog().find(str(catalog_dir / "good_one.py"))
    assert found is not None and found.name == "good-one"
