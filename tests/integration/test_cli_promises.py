"""What the ``sandbox`` command promises, checked on real processes: exit codes, no
traceback for expected failures, the state directory found as git finds its repository,
replaced ports reported, ``logs -f`` with a correlation-id filter.

The sandboxes here run only the SMTP mock on the session's broker given
as ``RABBITMQ_URL``, so that each boots in a few seconds."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.broker import Admin
from sandbox.broker.admin import answers
from sandbox.exitcodes import EXIT_BROKEN_PIPE, EXIT_NO_BROKER, EXIT_OK
from sandbox.waiting import wait_for
from tests.integration.cli_support import sandbox_in

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def broker_env(sandbox_broker) -> dict[str, str]:
    """The session's broker as a user's external one: RABBITMQ_URL and its management URL."""
    url = sandbox_broker.management_url
    if not url or not answers(url):
        pytest.skip(f"the session broker's management API does not answer at {url}")
    # a URL that names no vhost, as a user's usually does: the sandbox makes its own
    base = sandbox_broker.url.rsplit("/", 1)[0] + "/"
    return {"RABBITMQ_URL": base, "RABBITMQ_MANAGEMENT_URL": url}


@dataclass(frozen=True)
class Project:
    root: Path
    up: subprocess.CompletedProcess  # what `sandbox up` said when it started the sandbox


def _hold(port: int) -> socket.socket | None:
    """Listen on ``port`` so that a sandbox finds it taken; None if it is taken already."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", port))
        holder.listen()
    except OSError:
        holder.close()
        return None
    return holder


@pytest.fixture(scope="module")
def project(tmp_path_factory, broker_env):
    """A project folder whose sandbox (SMTP mock only) was started from its root, with the
    SMTP mock's usual ports (1025, 8025) taken, so that `up` had to replace them."""
    root = tmp_path_factory.mktemp("project")
    (root / "src" / "deep").mkdir(parents=True)
    holders = [_hold(1025), _hold(8025)]
    try:
        result = sandbox_in(root, "up", "--only", "smtp", env=broker_env)
        assert result.returncode == 0, result.stdout + result.stderr
        yield Project(root, result)
        sandbox_in(root, "down", env=broker_env)
    finally:
        for holder in holders:
            if holder is not None:
                holder.close()


def test_status_from_a_subdirectory_finds_the_sandbox_started_at_the_root(project):
    result = sandbox_in(project.root / "src" / "deep", "status", "--json")
    assert result.returncode == EXIT_OK, result.stderr
    state = json.loads(result.stdout)
    assert state["running"] is True and "smtp" in state["components"]
    assert not (project.root / "src" / "deep" / ".sandbox").exists()


def test_up_from_a_subdirectory_finds_the_running_sandbox_instead_of_a_second(project):
    result = sandbox_in(project.root / "src", "up", "--only", "smtp", "--random-ports")
    assert result.returncode == EXIT_OK, result.stderr
    assert "already up" in result.stdout
    assert not (project.root / "src" / ".sandbox").exists()


@pytest.mark.parametrize("where", ["before", "after"])
def test_state_dir_option_names_the_sandbox_from_anywhere(project, tmp_path, where):
    option = ["--state-dir", str(project.root / ".sandbox")]
    args = [*option, "status"] if where == "before" else ["status", *option]
    result = sandbox_in(tmp_path, *args)
    assert result.returncode == EXIT_OK, result.stderr
    assert "smtp" in result.stdout


def test_status_shows_the_management_url_only_where_something_answers(project, broker_env):
    state = json.loads(sandbox_in(project.root, "status", "--json").stdout)
    assert state["broker"]["management_url"] == broker_env["RABBITMQ_MANAGEMENT_URL"]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: nothing answers there
    port = closed.getsockname()[1]
    try:
        state_file = project.root / ".sandbox" / "state.json"
        saved = state_file.read_text()
        recorded = json.loads(saved)
        recorded["broker"]["management_url"] = f"http://127.0.0.1:{port}"
        state_file.write_text(json.dumps(recorded))
        try:
            text = sandbox_in(project.root, "status")
            as_json = json.loads(sandbox_in(project.root, "status", "--json").stdout)
        finally:
            state_file.write_text(saved)
    finally:
        closed.close()
    assert f"nothing answers at http://127.0.0.1:{port}" in text.stdout
    assert f"http://127.0.0.1:{port} (guest/guest)" not in text.stdout
    assert as_json["broker"]["management_url"] is None


def test_up_names_each_usual_port_it_found_taken_and_the_one_it_used(project):
    state = json.loads((project.root / ".sandbox" / "state.json").read_text())
    for key in ("smtp", "smtp-http"):
        port, usual = state["ports"][key], {"smtp": 1025, "smtp-http": 8025}[key]
        assert port != usual
        assert f"note: port {usual} ({key}) was taken; {key} uses {port}" in project.up.stdout
    assert set(state["ports_replaced"]) == {"smtp", "smtp-http"}, "only what was started"


def test_up_whose_broker_does_not_answer_is_exit_3_without_a_traceback(tmp_path):
    env = {"RABBITMQ_URL": "amqp://guest:hunter2@127.0.0.1:1/"}
    result = sandbox_in(tmp_path, "up", "--only", "smtp", "--timeout", "60", env=env)
    assert result.returncode == EXIT_NO_BROKER, result.stdout + result.stderr
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr
    sandbox_in(tmp_path, "down", env=env)


def test_a_wrong_password_is_exit_3_with_one_line(tmp_path, sandbox_broker):
    url = sandbox_broker.url.replace("guest:guest@", "guest:not-the-password@")
    result = sandbox_in(tmp_path, "dlq", "list", "--url", url)
    assert result.returncode == EXIT_NO_BROKER
    assert "ACCESS_REFUSED" in result.stderr and "wrong user or password" in result.stderr
    assert "Traceback" not in result.stderr and "not-the-password" not in result.stderr


def test_output_into_a_closed_pipe_ends_quietly_with_141(tmp_path):
    logs = tmp_path / ".sandbox" / "logs"
    logs.mkdir(parents=True)
    # far more than a pipe holds, so the command is still writing when head is gone
    (logs / "payment.log").write_text("a log line\n" * 200_000)
    _into_head(tmp_path, "logs -n 200000", timeout=60)


def _into_head(
    cwd: Path, arguments: str, env: dict[str, str] | None = None, timeout: float = 240
) -> None:
    """Run ``sandbox <arguments> | head -n 1``: the command ends quietly with 141."""
    result = subprocess.run(
        f"{sys.executable} -m sandbox {arguments} | head -n 1; echo exit=${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert f"exit={EXIT_BROKEN_PIPE}" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr


def test_up_into_head_still_brings_the_sandbox_up_and_ends_quietly(tmp_path, broker_env):
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_STATE_DIR"}
    try:
        _into_head(tmp_path, "up --only smtp --random-ports", env={**env, **broker_env})
        assert sandbox_in(tmp_path, "status").returncode == EXIT_OK, "up waited for ready"
    finally:
        sandbox_in(tmp_path, "down", env=broker_env)


# ``sandbox logs -f`` run as the CLI runs it, with SIGINT's disposition set first: a
# shell starts a command it runs in the background (``cmd &``) with SIGINT ignored
FOLLOW = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.{disposition}); "
    "sys.argv = ['sandbox', 'logs', 'payment', '-f', '-c', 'flow-a']; "
    "runpy.run_module('sandbox', run_name='__main__')"
)


@pytest.mark.parametrize(
    ("disposition", "ending"),
    [
        ("default_int_handler", signal.SIGINT),
        ("SIG_IGN", signal.SIGINT),
        ("default_int_handler", signal.SIGTERM),
    ],
    ids=["ctrl-c", "ctrl-c-when-started-in-the-background", "sigterm"],
)
def test_logs_follow_prints_new_lines_of_one_flow_until_interrupted(tmp_path, disposition, ending):
    logs = tmp_path / ".sandbox" / "logs"
    logs.mkdir(parents=True)
    log = logs / "payment.log"

    def line(cid: str, message: str) -> str:
        return json.dumps({"message": message, "correlation_id": cid}) + "\n"

    log.write_text(line("flow-a", "old line of a") + line("flow-b", "old line of b"))
    out = tmp_path / "follow.out"
    with out.open("w") as sink:
        follower = subprocess.Popen(
            [sys.executable, "-c", FOLLOW.format(disposition=disposition)],
            cwd=tmp_path,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        wait_for(lambda: "old line of a" in out.read_text(), timeout=20, what="the log's end")
        with log.open("a") as appending:
            appending.write(line("flow-b", "new line of b") + line("flow-a", "new line of a"))
        wait_for(
            lambda: "new line of a" in out.read_text(),
            timeout=20,
            what="the appended line of flow-a",
            seen=out.read_text,
        )
    finally:
        follower.send_signal(ending)
        try:
            _, err = follower.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            follower.kill()
            follower.communicate()
            raise AssertionError(f"the follow did not end on {ending.name}") from None
    assert follower.returncode == EXIT_OK
    assert "Traceback" not in err
    assert "of b" not in out.read_text()


def test_down_deletes_the_vhost_the_sandbox_made_on_an_external_broker(tmp_path, broker_env):
    admin = Admin.for_amqp_url(broker_env["RABBITMQ_URL"], broker_env["RABBITMQ_MANAGEMENT_URL"])
    before = set(admin.vhosts())
    # the session's own sandbox may have declared its queues in "/" already
    root_before = {q["name"] for q in admin.queues("/")}
    try:
        result = sandbox_in(tmp_path, "up", "--only", "smtp", "--random-ports", env=broker_env)
        assert result.returncode == EXIT_OK, result.stdout + result.stderr
        broker = json.loads((tmp_path / ".sandbox" / "state.json").read_text())["broker"]
        assert broker["vhost_owned"] is True and broker["vhost"] not in before
        assert {q["name"] for q in admin.queues(broker["vhost"])} >= {"payment_events"}
        assert {q["name"] for q in admin.queues("/")} == root_before, "nothing declared in /"
    finally:
        down = sandbox_in(tmp_path, "down", env=broker_env)
    assert down.returncode == EXIT_OK, down.stdout + down.stderr
    assert set(admin.vhosts()) == before


def test_down_purge_deletes_what_the_sandbox_declared_in_a_vhost_it_was_given(
    tmp_path, broker_env, sandbox_vhost
):
    env = {**broker_env, "RABBITMQ_URL": sandbox_vhost.url}
    result = sandbox_in(tmp_path, "up", "--only", "smtp", "--random-ports", env=env)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    declared = {q["name"] for q in sandbox_vhost.admin.queues(sandbox_vhost.name)}
    assert "payment_events" in declared

    kept = sandbox_in(tmp_path, "down", env=env)
    assert "down --purge" in kept.stdout, "says what it leaves and how to remove it"
    assert {q["name"] for q in sandbox_vhost.admin.queues(sandbox_vhost.name)} == declared

    purged = sandbox_in(tmp_path, "down", "--purge", env=env)
    assert purged.returncode == EXIT_OK, purged.stdout + purged.stderr
    assert sandbox_vhost.admin.queues(sandbox_vhost.name) == []
    exchanges = sandbox_vhost.admin._request("GET", f"exchanges/{sandbox_vhost.name}").json()
    assert not [e["name"] for e in exchanges if not e["name"].startswith("amq.") and e["name"]]
