"""Running `sandbox load` as a user would, for the load tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def sandbox_load(state_dir: Path, out: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sandbox load --out OUT ARGS`` against the sandbox in ``state_dir``."""
    env = {**os.environ, "SANDBOX_STATE_DIR": str(state_dir)}
    command = [sys.executable, "-m", "sandbox.cli", "load", "--out", str(out), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
