"""The ``sandbox`` command line.

Every ``--help`` ends with the exit codes a CI job can gate on (``sandbox.exitcodes``):
0 success, 1 a check, scenario or process failed, 2 bad usage or configuration, 3 no
broker answered or could be started, 4 (``contracts diff``) nothing is known to break but
a change could not be decided, 141 the reader of the output went away (``| head``).
An expected failure (a broker that is down or refuses the login, a closed pipe) is one
line on stderr and its code, never a traceback.

The commands find the sandbox's state directory as git finds its repository: the
nearest ``.sandbox`` in the current directory or a parent, unless ``--state-dir`` or
``SANDBOX_STATE_DIR`` names one.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from sandbox.cli.parser import parser
from sandbox.exitcodes import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_NO_BROKER,
    EXIT_OK,
    EXIT_UNDECIDED,
    EXIT_USAGE,
)
from sandbox.settings import SandboxSettings, SettingsError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        from sandbox.control.lifecycle import quiet_stdout

        quiet_stdout()  # nothing more reaches the reader; nor may the exit's flush fail
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("SANDBOX_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    try:
        settings = SandboxSettings.from_env(os.environ)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    from sandbox.control.state import find_state_dir

    state_dir = find_state_dir(args.state_dir, os.environ)
    settings = replace(settings, state_dir=state_dir)
    from sandbox.broker import BrokerUnavailable
    from sandbox.messaging import BrokerConnectError

    try:
        return int(args.func(args, settings))
    except (BrokerUnavailable, BrokerConnectError) as exc:
        return _no_broker(str(exc))
    except Exception as exc:
        # the AMQP adapter's own errors: the broker went away or refused mid-command
        if type(exc).__module__.split(".")[0] != "pika":
            raise
        return _no_broker(f"the broker failed: {type(exc).__name__}: {exc}")


def _no_broker(message: str) -> int:
    from sandbox.control.state import hide_credentials

    print(f"error: {hide_credentials(message)}", file=sys.stderr)
    return EXIT_NO_BROKER


__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_FAILED",
    "EXIT_NO_BROKER",
    "EXIT_OK",
    "EXIT_UNDECIDED",
    "EXIT_USAGE",
    "main",
    "parser",
]
