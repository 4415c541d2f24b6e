"""Fixtures for the mock SMTP server and the mock merchant: real sockets on free ports."""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service_support import http as http

# the mock SMTP server and the mock merchant, each on free ports and the test's own
from tests.service_support import own_merchant as merchant  # noqa: F401
from tests.service_support import own_smtp as smtp_server  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]


class MockProcess:
    """A ``python -m mocks.<name>`` child process and the ready line it printed."""

    def __init__(
        self, proc: subprocess.Popen[bytes], ready: dict[str, Any], stderr_path: Path
    ) -> None:
        self.proc = proc
        self.ready = ready
        self.stderr_path = stderr_path

    def log(self) -> str:
        """Return what the process wrote to stderr (its log) so far."""
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 10) -> int:
        """Send SIGTERM and wait (bounded) for the exit code."""
        self.proc.terminate()
        return self.proc.wait(timeout=timeout_s)

    @staticmethod
    def accepts_connections(host: str, port: int) -> bool:
        """Return whether something accepts TCP connections on host:port."""
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False


def _read_ready_line(proc: subprocess.Popen[bytes], stderr_path: Path, timeout_s: float) -> Any:
    """Read the first stdout line with a deadline; fail with the child's stderr if none."""
    assert proc.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    buffer = b""
    deadline = time.monotonic() + timeout_s
    try:
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or proc.poll() is not None:
                pytest.fail(
                    f"waited for the ready line of {proc.args!r}; exit code {proc.poll()}, "
                    f"stdout {buffer!r}, stderr:\n{stderr_path.read_text(errors='replace')}"
                )
            if selector.select(min(remaining, 0.1)):
                chunk = os.read(proc.stdout.fileno(), 4096)
                buffer += chunk
    finally:
        selector.close()
    return json.loads(buffer.split(b"\n", 1)[0])


@pytest.fixture
def start_mock_process(tmp_path: Path) -> Iterator[Callable[..., MockProcess]]:
    """Start ``python -m <module> <args>`` children; kill any still running afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    # The caller's own MOCK_* settings must not leak into what a test starts.
    isolated_env = {k: v for k, v in os.environ.items() if not k.startswith("MOCK_")}

    def start(module: str, *args: str, env: dict[str, str] | None = None) -> MockProcess:
        stderr_path = tmp_path / f"{module}.stderr.log"
        with stderr_path.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=REPO_ROOT,
                env={**isolated_env, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        started.append(proc)
        ready = _read_ready_line(proc, stderr_path, timeout_s=20)
        return MockProcess(proc, ready, stderr_path)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
