"""mirakuru's exit hook, made to kill only the exiting process's own children.

mirakuru marks every process it starts with ``mirakuru_uuid=<parent pid>:<uuid4>`` and,
at the exit of any Python process that imported it, SIGKILLs every process on the
machine whose mark *contains* the exiting process's pid as text.  With pids reused
(``kernel.pid_max`` is 32768 on many machines), a short-lived ``sandbox status`` with pid
``3201`` killed every process a supervisor with pid ``32017`` had started: each carries
``32017:...``.  Importing this module puts in its place a hook that kills only the
processes whose mark starts with ``<this pid>:``, which are this process's own.

``sandbox.control.process`` and ``sandbox.broker.local``, the two users of mirakuru,
import it.
"""

from __future__ import annotations

import atexit
import os
import signal

import psutil
from mirakuru import base as _mirakuru_base

MARK = _mirakuru_base.ENV_UUID


def marked_by(pid: int) -> list[psutil.Process]:
    """The live processes that mirakuru started from the process ``pid``."""
    prefix = f"{pid}:"
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK, "").startswith(prefix):
                found.append(process)
        except (psutil.Error, OSError):
            continue
    return found


def kill_own_leftovers() -> None:
    """At exit: SIGKILL what mirakuru started from this process and is still running."""
    for process in marked_by(os.getpid()):
        try:
            process.send_signal(signal.SIGKILL)
        except (psutil.Error, OSError):
            continue


atexit.unregister(_mirakuru_base.cleanup_subprocesses)
atexit.register(kill_own_leftovers)
