"""The command line every mock shares: options over variables, one ready line, clean stop.

An option overrides the variable of the same name (``--smtp-port`` of ``mocks.smtp``
is ``MOCK_SMTP_SMTP_PORT``), so options and variables go through one ``from_env`` and
one set of checks.  A bad value ends the process with exit code 2 and a line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from types import FrameType
from typing import Any, TypeVar

from sandbox.settings import SettingsError

S = TypeVar("S")
T = TypeVar("T")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

log = logging.getLogger(__name__)


class _Shutdown(Exception):
    """Raised by the signal handler to leave the serving loop in the main thread."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Raising (rather than setting an Event) cannot deadlock on a lock the main thread holds.
    raise _Shutdown(signum)


def run(
    service: str,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None,
    prefix: str,
    from_env: Callable[[Mapping[str, str]], S],
    serve: Callable[[S], int],
) -> int:
    """Read the settings (options win over ``prefix`` variables), then ``serve`` them."""
    args = parser.parse_args(argv)
    given = {prefix + name.upper(): str(v) for name, v in vars(args).items() if v is not None}
    try:
        settings = from_env({**os.environ, **given})
    except SettingsError as error:
        print(f"{service}: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    return serve(settings)


def print_ready(fields: dict[str, Any]) -> None:
    """Print the one JSON line that says the mock listens, with where (its real ports)."""
    print(json.dumps({"event": "ready", **fields}), flush=True)


def serve_until_signalled(
    server: AbstractContextManager[T], ready: Callable[[T], dict[str, Any]]
) -> int:
    """Start ``server``, print its JSON ready line, serve until SIGTERM or SIGINT."""
    with server as running:
        try:
            # Inside the try: a SIGTERM right after the ready line must still end cleanly.
            signal.signal(signal.SIGTERM, _on_signal)
            signal.signal(signal.SIGINT, _on_signal)
            print_ready(ready(running))
            while True:
                signal.pause()
        except _Shutdown:
            log.info("shutting down")
    return 0
