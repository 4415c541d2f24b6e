"""Run the ``sandbox`` command as a user would: a child process on a state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def sandbox(
    state_dir: Path, *args: str, timeout: float = 240, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m sandbox ARGS`` on ``state_dir``, never on the machine's own broker;
    ``env`` adds variables (a test's own ``RABBITMQ_URL``, say)."""
    variables = {**os.environ, "SANDBOX_STATE_DIR": str(state_dir)}
    variables.pop("RABBITMQ_URL", None)
    variables.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        env=variables,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def sandbox_in(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 240
) -> subprocess.CompletedProcess:
    """``python -m sandbox ARGS`` run from ``cwd`` with no SANDBOX_STATE_DIR, so that the
    command finds its state directory itself; ``env`` adds to the environment (and may
    set RABBITMQ_URL, which is otherwise unset)."""
    base = {k: v for k, v in os.environ.items() if k not in ("SANDBOX_STATE_DIR", "RABBITMQ_URL")}
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
