"""The sandbox CLI's commands that need no running broker, and their exit codes."""

from __future__ import annotations

import json

import pytest

from sandbox.cli import EXIT_OK, EXIT_USAGE, main


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


def test_dlq_list_without_a_broker_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("RABBITMQ_URL", raising=False)
    with pytest.raises(SystemExit, match="sandbox up"):
        main(["dlq", "list"])


def test_bad_configuration_exits_with_the_usage_code(monkeypatch, capsys):
    monkeypatch.setenv("RABBITMQ_QUEUE_TYPE", "stream")
    assert main(["topology"]) == EXIT_USAGE
    assert "RABBITMQ_QUEUE_TYPE" in capsys.readouterr().err
