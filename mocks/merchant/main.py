"""Command line: ``python -m mocks.merchant --host H --port N``.

The shared secret comes from ``MOCK_MERCHANT_SECRET`` only, never an option: a command
line is readable by every local user (``ps``, ``/proc/<pid>/cmdline``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from types import FrameType

from mocks.merchant.server import MockMerchantServer
from mocks.merchant.settings import ENV_PREFIX, MerchantMockSettings, SettingsError


class _Shutdown(Exception):
    """Raised by the signal handler to leave the serving loop in the main thread."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Raising (rather than setting an Event) cannot deadlock on a lock the main thread holds.
    raise _Shutdown(signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse options; each overrides its MOCK_MERCHANT_* variable."""
    parser = argparse.ArgumentParser(
        prog="python -m mocks.merchant",
        description=__doc__,
        epilog="The shared HMAC secret: MOCK_MERCHANT_SECRET (generated and printed when unset).",
    )
    parser.add_argument("--host", help="address to bind (MOCK_MERCHANT_HOST, default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port, 0 for any (MOCK_MERCHANT_PORT, 8010)")
    parser.add_argument("--path", dest="callback_path", help="callback path (default /callbacks)")
    parser.add_argument("--tolerance", dest="tolerance_s", type=int, help="timestamp tolerance s")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; print one JSON 'ready' line with the bound port."""
    args = parse_args(argv)
    # Options win over MOCK_MERCHANT_* variables; both go through from_env().
    options = {
        "HOST": args.host,
        "PORT": args.port,
        "CALLBACK_PATH": args.callback_path,
        "TOLERANCE_S": args.tolerance_s,
    }
    env = {**os.environ, **{ENV_PREFIX + k: str(v) for k, v in options.items() if v is not None}}
    try:
        settings = MerchantMockSettings.from_env(env)
    except SettingsError as error:
        print(f"mock-merchant: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with MockMerchantServer(settings) as server:
        ready = {
            "event": "ready",
            "service": "mock-merchant",
            "port": server.port,
            "url": server.url,
            "callback_url": server.callback_url,
        }
        if settings.secret_generated:
            ready["secret"] = settings.secret
        try:
            # Inside the try: a SIGTERM right after the ready line must still end cleanly.
            signal.signal(signal.SIGTERM, _on_signal)
            signal.signal(signal.SIGINT, _on_signal)
            print(json.dumps(ready), flush=True)
            while True:
                signal.pause()
        except _Shutdown:
            logging.getLogger(__name__).info("shutting down")
    return 0
