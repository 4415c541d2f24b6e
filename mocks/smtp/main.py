"""Command line: ``python -m mocks.smtp --host H --smtp-port N --http-port M``."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from mocks.common.main import run, serve_until_signalled
from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import ENV_PREFIX, SmtpMockSettings


def parser() -> argparse.ArgumentParser:
    """The options; each overrides its MOCK_SMTP_* variable."""
    parser = argparse.ArgumentParser(prog="python -m mocks.smtp", description=__doc__)
    parser.add_argument("--host", help="address to bind (MOCK_SMTP_HOST, default 127.0.0.1)")
    parser.add_argument("--smtp-port", type=int, help="SMTP port, 0 for any (default 1025)")
    parser.add_argument("--http-port", type=int, help="HTTP inbox port, 0 for any (default 8025)")
    parser.add_argument("--max-messages", type=int, help="cap on stored messages, 0 for none")
    return parser


def serve(settings: SmtpMockSettings) -> int:
    """Serve until SIGTERM or SIGINT; print one JSON 'ready' line with the bound ports."""
    aiosmtpd_log = logging.getLogger("mail.log")
    aiosmtpd_log.setLevel(settings.aiosmtpd_log_level)
    # aiosmtpd 1.4 warns of this on every successful AUTH, from its own code; it is not ours.
    aiosmtpd_log.addFilter(lambda record: "login_data is deprecated" not in record.getMessage())
    return serve_until_signalled(
        MockSmtpServer(settings),
        lambda server: {
            "service": "mock-smtp",
            "smtp": f"{settings.host}:{server.smtp_port}",
            "smtp_port": server.smtp_port,
            "http_port": server.http_port,
            "http_url": server.http_url,
        },
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the mock SMTP server until SIGTERM or SIGINT."""
    return run("mock-smtp", parser(), argv, ENV_PREFIX, SmtpMockSettings.from_env, serve)
