"""sandbox up / status / down as a user runs them: real processes, real process table."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pika
import psutil
import pytest
import requests

from sandbox.control.state import StateFile, SupervisorClient, pid_alive
from sandbox.settings import SandboxSettings
from sandbox.topology import build
from sandbox.waiting import wait_for
from tests.integration.cli_support import sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# The mocks boot in seconds; the services are covered by the scenario suite.
ONLY = "provider,smtp,merchant"


def processes_of(state_dir: Path) -> list[psutil.Process]:
    """Every live process started for this sandbox (they inherit SANDBOX_STATE_DIR)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("SANDBOX_STATE_DIR") == str(state_dir):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def describe(procs: list[psutil.Process]) -> list[str]:
    out = []
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            out.append(f"{p.pid} {' '.join(p.cmdline())[:80]}")
    return out


@pytest.fixture
def state_dir(tmp_path):
    directory = tmp_path / "sbx"
    yield directory
    sandbox(directory, "down")
    for proc in processes_of(directory):
        proc.kill()


def test_cold_up_then_down_leaves_no_process_behind(state_dir):
    assert processes_of(state_dir) == []
    result = sandbox(state_dir, "up", "--only", ONLY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sandbox up in" in result.stdout
    for name in ("broker", "provider", "smtp", "merchant"):
        assert name in result.stdout

    running = processes_of(state_dir)
    assert len(running) >= 5, describe(running)  # supervisor, node, three mocks
    assert sandbox(state_dir, "status").returncode == 0

    result = sandbox(state_dir, "down")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no process left" in result.stdout
    left = wait_for(
        lambda: processes_of(state_dir) == [],
        timeout=10,
        what="no sandbox process in the process table",
        seen=lambda: describe(processes_of(state_dir)),
    )
    assert left
    assert not (state_dir / "state.json").exists()


def test_second_up_is_idempotent(state_dir):
    assert sandbox(state_dir, "up", "--only", ONLY).returncode == 0
    first = StateFile(state_dir).read()
    again = sandbox(state_dir, "up", "--only", ONLY)
    assert again.returncode == 0
    assert "already up" in again.stdout
    second = StateFile(state_dir).read()
    assert first["supervisor"]["pid"] == second["supervisor"]["pid"]
    assert first["components"]["smtp"]["pid"] == second["components"]["smtp"]["pid"]


def test_up_after_a_crashed_sandbox_reuses_nothing_stale(state_dir):
    assert sandbox(state_dir, "up", "--only", ONLY).returncode == 0
    old = StateFile(state_dir).read()
    old_pids = {c["pid"] for c in old["components"].values()} | {old["broker"]["pid"]}
    (state_dir / "data" / "stale-marker").write_text("left by the crashed run")
    # the supervisor dies without cleaning up, as after a power cut or kill -9
    os.kill(old["supervisor"]["pid"], signal.SIGKILL)

    result = sandbox(state_dir, "up", "--only", ONLY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clearing a stale sandbox" in result.stdout
    new = StateFile(state_dir).read()
    new_pids = {c["pid"] for c in new["components"].values()} | {new["broker"]["pid"]}
    assert not old_pids & new_pids
    assert not any(pid_alive(pid) for pid in old_pids)
    assert not (state_dir / "data" / "stale-marker").exists()


def test_supervisor_restarts_a_killed_component(state_dir):
    assert sandbox(state_dir, "up", "--only", ONLY).returncode == 0
    client = SupervisorClient(state_dir)
    before = client.state()["components"]["smtp"]["pid"]

    client.kill("smtp")

    def restarted():
        entry = client.state()["components"]["smtp"]
        return entry["pid"] != before and entry["status"] == "ready" and entry["restarts"] == 1

    wait_for(
        restarted,
        timeout=30,
        what="smtp restarted by the supervisor",
        seen=lambda: client.state()["components"]["smtp"],
    )
    health = requests.get(client.state()["components"]["smtp"]["health_url"], timeout=5)
    assert health.status_code == 200
    assert not pid_alive(before)

    # a name it does not know is refused with the names it does
    with pytest.raises(KeyError) as refused:
        client.kill("smpt")
    assert "no component 'smpt' (known: broker, merchant, provider, smtp)" in str(refused.value)


def test_status_without_a_sandbox_says_how_to_start_one(tmp_path):
    result = sandbox(tmp_path / "none", "status")
    assert result.returncode == 1
    assert "sandbox up" in result.stderr


def test_workers_load_while_the_broker_boots_and_connect_once_the_topology_is_declared(
    state_dir,
):
    workers = ("payment-relay", "appointment-consumer")
    result = sandbox(state_dir, "up", "--only", ",".join(workers))
    assert result.returncode == 0, result.stdout + result.stderr
    state = StateFile(state_dir).read()
    declared = (state_dir / "run" / "topology-declared").stat().st_mtime
    for name in workers:
        entry = state["components"][name]
        # started before the broker was up, held at the start gate until the topology was
        # declared, and connected by the time `up` says ready
        assert entry["create_time"] < declared, (name, entry["create_time"], declared)
        assert "start gate open after" in Path(entry["log"]).read_text()
        health = requests.get(entry["health_url"], timeout=5)
        assert health.status_code == 200, health.text
        assert health.json()["checks"]["broker"]["ok"] is True


def test_a_broker_killed_right_after_up_comes_back_with_every_queue_working(state_dir):
    # The node writes a new quorum queue to its register on disk about a second after the
    # declaration; the supervisor holds a kill until then, so the newest queue, declared
    # at the end of the boot, is not left refusing every message after the restart.
    assert sandbox(state_dir, "up", "--only", "smtp").returncode == 0
    client = SupervisorClient(state_dir)
    client.kill("broker")
    client.start("broker")

    url = client.state()["broker"]["url"]
    topology = build(SandboxSettings.from_env().broker)
    names = [q.name for q in topology.declarations()]
    refused = []
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        for name in names:
            try:
                channel.basic_publish("", name, b"probe", pika.BasicProperties(delivery_mode=2))
            except pika.exceptions.NackError:
                refused.append(name)
                channel = connection.channel()
                channel.confirm_delivery()
    finally:
        connection.close()
    assert refused == [], f"after the restart these queues refused a message: {refused}"
