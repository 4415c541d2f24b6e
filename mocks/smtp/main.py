"""Command line: ``python -m mocks.smtp --host H --smtp-port N --http-port M``."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from types import FrameType

from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import ENV_PREFIX, SettingsError, SmtpMockSettings


class _Shutdown(Exception):
    """Raised by the signal handler to leave the serving loop in the main thread."""


def _on_signal(signum: int, frame: FrameType | None) -> None:
    # Raising (rather than setting an Event) cannot deadlock on a lock the main thread holds.
    raise _Shutdown(signum)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse options; each overrides its MOCK_SMTP_* variable."""
    parser = argparse.ArgumentParser(prog="python -m mocks.smtp", description=__doc__)
    parser.add_argument("--host", help="address to bind (MOCK_SMTP_HOST, default 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, help="SMTP port, 0 for any (default 1025)")
    parser.add_argument("--http-port", type=int, help="HTTP inbox port, 0 for any (default 8025)")
    parser.add_argument("--max-messages", type=int, help="cap on stored messages, 0 for none")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM or SIGINT; print one JSON 'ready' line with the bound ports."""
    args = parse_args(argv)
    # Options win over MOCK_SMTP_* variables; both go through from_env().
    options = {
        "HOST": args.host,
        "SMTP_PORT": args.smtp_port,
        "HTTP_PORT": args.http_port,
        "MAX_MESSAGES": args.max_messages,
    }
    env = {**os.environ, **{ENV_PREFIX + k: str(v) for k, v in options.items() if v is not None}}
    try:
        settings = SmtpMockSettings.from_env(env)
    except SettingsError as error:
        print(f"mock-smtp: {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd 1.4 logs this on every successful AUTH, from its own code; it is not ours.
    logging.getLogger("mail.log").addFilter(
        lambda record: "login_data is deprecated" not in record.getMessage()
    )
    with MockSmtpServer(settings) as server:
        ready = {
            "event": "ready",
            "service": "mock-smtp",
            "smtp": f"{settings.host}:{server.smtp_port}",
            "smtp_port": server.smtp_port,
            "http_port": server.http_port,
            "http_url": server.http_url,
        }
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
