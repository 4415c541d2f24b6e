"""A managed process can be stopped while it is still starting (the supervisor's
workers wait at the start gate for as long as the broker boots)."""

from __future__ import annotations

import socket
import sys
import threading

import psutil
import pytest

from sandbox.control.process import ManagedProcess, ProcessStartError
from sandbox.waiting import hold_for, wait_for

pytestmark = pytest.mark.integration


def never_ready(tmp_path, name: str, code: str) -> ManagedProcess:
    """A process running ``code`` whose health check never answers: nothing listens on
    port 9 (discard) of loopback."""
    return ManagedProcess(
        name,
        [sys.executable, "-c", code],
        log_file=tmp_path / f"{name}.log",
        health_url="http://127.0.0.1:9/health",
        start_timeout_s=120,
    )


def test_a_stop_while_the_process_starts_ends_its_start_and_the_process(tmp_path):
    process = never_ready(tmp_path, "never-ready", "import time; time.sleep(120)")
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            process.start()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    starter = threading.Thread(target=start, daemon=True)
    starter.start()
    pid = wait_for(lambda: process.pid, timeout=10, what="the process spawned")
    assert starter.is_alive() and process.running()

    process.stop()

    wait_for(lambda: outcome, timeout=10, what="start() to return after the stop")
    assert isinstance(outcome[0], ProcessStartError), outcome
    assert "stopped while it started" in str(outcome[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def http_server(tmp_path, name: str, port: int) -> ManagedProcess:
    """Python's http.server on loopback ``port``, healthy once it answers; it logs every
    request it answers to its log."""
    return ManagedProcess.python_module(
        name,
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        log_file=tmp_path / f"{name}.log",
        health_url=f"http://127.0.0.1:{port}/",
    )


def test_spawn_refuses_a_health_url_that_already_answers(tmp_path):
    port = free_port()
    answering = http_server(tmp_path, "first", port).start()
    try:
        second = ManagedProcess.python_module(
            "second",
            "http.server",
            str(port),
            log_file=tmp_path / "second.log",
            health_url=f"http://127.0.0.1:{port}/",
        )
        with pytest.raises(ProcessStartError, match="already answers"):
            second.spawn()
        assert second.pid is None
    finally:
        answering.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def test_readiness_is_probed_only_once_probe_once_holds(tmp_path):
    port = free_port()
    process = http_server(tmp_path, "held", port).spawn()
    gate = threading.Event()
    ready = threading.Event()
    threading.Thread(
        target=lambda: (process.wait_ready(gate.is_set), ready.set()), daemon=True
    ).start()
    try:
        wait_for(lambda: listening(port), timeout=10, what="the server listening")
        hold_for(lambda: ready.is_set(), within=0.5, what="ready before probe_once held")
        assert "HTTP/1.1" not in process.log_file.read_text(), "probed before probe_once held"

        gate.set()

        wait_for(ready.is_set, timeout=10, what="ready once probe_once held")
        assert "HTTP/1.1" in process.log_file.read_text()
    finally:
        process.stop()


def test_a_process_that_exits_while_held_fails_its_start_with_its_log(tmp_path):
    code = "import sys; print('no database here'); sys.exit(3)"
    process = never_ready(tmp_path, "exits", code).spawn()

    with pytest.raises(ProcessStartError, match="no database here"):
        process.wait_ready(lambda: False)
