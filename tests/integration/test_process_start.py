"""A managed process can be stopped while it is still starting (the supervisor's
workers wait at the start gate for as long as the broker boots)."""

from __future__ import annotations

import socket
import sys
import threading

import psutil
import pytest

from sandbox.control.process import ManagedProcess, ProcessStartError
from sandbox.waiting import wait_for

pytestmark = pytest.mark.integration


def test_a_stop_while_the_process_starts_ends_its_start_and_the_process(tmp_path):
    # nothing answers on port 9 (discard) of loopback: the process never becomes ready
    process = ManagedProcess(
        "never-ready",
        [sys.executable, "-c", "import time; time.sleep(120)"],
        log_file=tmp_path / "never-ready.log",
        health_url="http://127.0.0.1:9/health",
        start_timeout_s=120,
    )
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


def test_spawn_refuses_a_health_url_that_already_answers(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answering = ManagedProcess.python_module(
        "first",
        "http.server",
        str(port),
        "--bind",
        "127.0.0.1",
        log_file=tmp_path / "first.log",
        health_url=f"http://127.0.0.1:{port}/",
    ).start()
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
