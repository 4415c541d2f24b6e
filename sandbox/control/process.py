"""Start, check, stop and kill the sandbox's own processes (services, relays, mocks).

A thin layer over mirakuru: each process runs in its own process group with its output
in a log file, is ready when its health URL answers 2xx (or, for processes without HTTP,
when a readiness callable says so), and can be stopped (SIGTERM, then SIGKILL after the
grace period), killed (SIGKILL, for crash scenarios) and started again with the same
command and environment.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mirakuru import Executor, HTTPExecutor, SimpleExecutor
from mirakuru.exceptions import ProcessExitedWithError, TimeoutExpired

import sandbox.spawned  # noqa: F401  (mirakuru's exit hook, made exact)


class ProcessStartError(RuntimeError):
    """A managed process exited or never became ready; carries the end of its log."""


class _CheckedExecutor(Executor):
    def __init__(self, command: list[str], ready: Callable[[], bool], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._ready = ready

    def pre_start_check(self) -> bool:
        return False  # nothing of ours can be running before we start it

    def after_start_check(self) -> bool:
        try:
            return bool(self._ready())
        except Exception:
            return False


@dataclass
class ManagedProcess:
    """One OS process of the sandbox."""

    name: str
    argv: Sequence[str]
    log_file: Path
    env: Mapping[str, str] = field(default_factory=dict)
    health_url: str | None = None
    ready: Callable[[], bool] | None = None
    start_timeout_s: float = 30.0
    cwd: Path | None = None
    _executor: Executor | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)

    @classmethod
    def python_module(cls, name: str, module: str, *args: str, **kwargs: Any) -> ManagedProcess:
        """A process running ``python -m module args`` with this interpreter."""
        return cls(name, [sys.executable, "-m", module, *args], **kwargs)

    def start(self) -> ManagedProcess:
        """Start the process and return once it is ready."""
        return self.spawn().wait_ready()

    def spawn(self) -> ManagedProcess:
        """Start the process without waiting for it to be ready (``wait_ready`` does).

        From here on ``stop`` and ``kill`` reach it, also while it is still starting.
        """
        if self.running():
            return self
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_file.open("ab")
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        common: dict[str, Any] = {
            "envvars": env,
            "timeout": self.start_timeout_s,
            "sleep": 0.05,
            "stdout": self._log,
            "stderr": self._log,
            "cwd": str(self.cwd) if self.cwd else None,
        }
        executor: Executor
        if self.health_url is not None:
            executor = HTTPExecutor(list(self.argv), self.health_url, **common)
        else:
            executor = _CheckedExecutor(list(self.argv), self.ready or (lambda: True), **common)
        if executor.pre_start_check():
            self._close_log()
            raise ProcessStartError(
                f"{self.name} not started: its health URL {self.health_url} already answers, "
                "so another process holds its port"
            )
        # mirakuru's start is the process (SimpleExecutor.start, which also starts the
        # start timeout) followed by the wait for its check, which ``wait_ready`` does
        SimpleExecutor.start(executor)
        self._executor = executor
        return self

    def wait_ready(self, probe_once: Callable[[], bool] | None = None) -> ManagedProcess:
        """Wait until the spawned process is ready; ``ProcessStartError`` with the end of
        its log if it exits or the start timeout passes first (it is killed then).

        ``probe_once``: its readiness is probed only once this holds (a worker at the
        start gate cannot be ready before the gate opens); until then only its exit is
        watched, which costs neither it nor this process a health request per poll.
        """
        executor = self._executor
        if executor is None:
            raise ProcessStartError(f"{self.name} was not started")

        def stopped() -> ProcessStartError:
            return ProcessStartError(f"{self.name} was stopped while it started")

        def ready() -> bool:
            if self._executor is not executor:  # stopped or killed meanwhile
                raise stopped()
            held = probe_once is not None and not probe_once()
            if held and executor.process is not None and executor.process.poll() is None:
                return False
            return executor.check_subprocess()  # raises when it exited

        try:
            executor.wait_for(ready)
        except (ProcessExitedWithError, TimeoutExpired) as exc:
            if self._executor is not executor:  # its exit was the stop's doing
                raise stopped() from exc
            self._executor = None
            self._close_log()
            raise ProcessStartError(
                f"{self.name} did not become ready: {exc}\n--- {self.log_file} ---\n"
                f"{self.log_tail()}"
            ) from exc
        return self

    def stop(self) -> None:
        """SIGTERM, wait for a graceful exit, SIGKILL what is left."""
        # taken first: a start still waiting for this process sees it stopped, not failed
        executor, self._executor = self._executor, None
        if executor is not None:
            try:
                executor.stop(stop_signal=signal.SIGTERM, expected_returncode=None)
            except Exception:
                executor.kill()
        self._close_log()

    def kill(self) -> None:
        """SIGKILL the process group: no cleanup, as in a crash."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.kill()
        self._close_log()

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    @property
    def pid(self) -> int | None:
        if self._executor is not None and self._executor.process is not None:
            return int(self._executor.process.pid)
        return None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
