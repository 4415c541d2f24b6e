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
