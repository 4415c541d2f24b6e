"""A Python process that exits kills what it started itself, and nothing else.

mirakuru marks each process it starts with ``mirakuru_uuid=<parent pid>:<uuid4>``; its
own exit hook killed every process whose mark merely contained the exiting pid, so a
short-lived ``sandbox`` command whose pid was part of a supervisor's (pids are reused)
killed that supervisor's every process.  ``sandbox.spawned`` makes the match exact.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.integration]

SLEEPER = [sys.executable, "-c", "import signal; signal.pause()"]
# imports the sandbox's process layer (and so mirakuru), says its pid, exits on a line
EXITING = [
    sys.executable,
    "-c",
    "import os, sys; import sandbox.control.process; print(os.getpid(), flush=True); "
    "sys.stdin.readline()",
]


def marked(mark: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(SLEEPER, env={**os.environ, "mirakuru_uuid": mark})


def test_an_exiting_process_kills_what_it_started_and_spares_a_mark_that_only_contains_its_pid():
    exiting = subprocess.Popen(EXITING, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert exiting.stdout is not None
    pid = int(exiting.stdout.readline())
    own = marked(f"{pid}:its-own-child")
    # another supervisor's child: the exiting pid is only a part of that supervisor's pid
    other = marked(f"9{pid}7:another-supervisors-child")
    try:
        exiting.communicate("\n", timeout=30)

        assert own.wait(timeout=10) == -signal.SIGKILL
        assert other.poll() is None, "a process marked by another parent was killed"
    finally:
        for process in (own, other):
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
