"""Run the ``sandbox`` command as a user would: a child process on a state directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sandbox(state_dir: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """``python -m sandbox ARGS`` on ``state_dir``, never on the machine's own broker."""
    env = {**os.environ, "SANDBOX_STATE_DIR": str(state_dir)}
    env.pop("RABBITMQ_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
