"""The start gate: a worker started while the broker boots waits for the topology."""

from __future__ import annotations

import threading
from pathlib import Path

from sandbox.services.common import runner
from sandbox.settings import START_GATE_VARIABLE
from sandbox.waiting import hold_for, wait_for


def waiting(gate: Path, stopping: threading.Event) -> threading.Thread:
    """``await_start_gate`` on ``gate`` in a thread of its own, started."""
    thread = threading.Thread(
        target=runner.await_start_gate,
        args=(stopping, {START_GATE_VARIABLE: str(gate)}),
        daemon=True,
    )
    thread.start()
    return thread


def test_without_the_variable_nothing_is_awaited(tmp_path):
    stopping = threading.Event()
    thread = threading.Thread(target=runner.await_start_gate, args=(stopping, {}), daemon=True)
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_the_worker_waits_until_the_gate_file_exists(tmp_path):
    gate = tmp_path / "run" / "topology-declared"
    thread = waiting(gate, threading.Event())
    hold_for(lambda: not thread.is_alive(), within=0.3, what="the wait ending without a gate")
    gate.parent.mkdir()
    gate.touch()
    wait_for(lambda: not thread.is_alive(), timeout=5, what="the wait to end once the gate opened")


def test_a_stop_ends_the_wait_with_the_gate_still_closed(tmp_path):
    gate = tmp_path / "topology-declared"
    stopping = threading.Event()
    thread = waiting(gate, stopping)
    hold_for(lambda: not thread.is_alive(), within=0.2, what="the wait ending before the stop")
    stopping.set()
    wait_for(lambda: not thread.is_alive(), timeout=5, what="the wait to end on the stop")
    assert not gate.exists()


def test_the_starting_process_gone_ends_the_wait(tmp_path, monkeypatch, caplog):
    parents = iter([100, 100, 1])  # reparented to init on the third look
    monkeypatch.setattr(runner.os, "getppid", lambda: next(parents, 1))
    gate = tmp_path / "topology-declared"
    runner.await_start_gate(threading.Event(), {START_GATE_VARIABLE: str(gate)}, interval_s=0.01)
    assert "not waiting for" in caplog.text
