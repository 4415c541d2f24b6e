"""Settings of one mock SMTP process, read from ``MOCK_SMTP_*`` variables in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mocks.common.settings import SettingsError, check_log_level, check_port, read_env
from sandbox.settings import SERVICE_PORTS

__all__ = ["ENV_PREFIX", "SettingsError", "SmtpMockSettings"]

ENV_PREFIX = "MOCK_SMTP_"


@dataclass(frozen=True)
class SmtpMockSettings:
    """Where the mock listens and how much it keeps."""

    host: str = "127.0.0.1"
    # MailHog's ports, so tools that already know MailHog find this one.  0 picks a free port.
    smtp_port: int = SERVICE_PORTS["smtp"]
    http_port: int = SERVICE_PORTS["smtp-http"]
    # Oldest messages are dropped beyond this many; 0 keeps everything.
    max_messages: int = 10_000
    # Name in the SMTP greeting; fixed so startup never waits on a DNS lookup (getfqdn).
    server_hostname: str = "mock-smtp.local"
    data_size_limit: int = 32 * 1024 * 1024
    # aiosmtpd logs every command of every session at INFO, which costs the mock about a
    # third of its CPU under load; its warnings and errors still show.
    aiosmtpd_log_level: str = "WARNING"

    def __post_init__(self) -> None:
        check_port("smtp_port", self.smtp_port)
        check_port("http_port", self.http_port)
        if self.max_messages < 0:
            raise SettingsError("max_messages", str(self.max_messages), "an integer >= 0")
        if self.data_size_limit < 1:
            raise SettingsError("data_size_limit", str(self.data_size_limit), "an integer >= 1")
        check_log_level("aiosmtpd_log_level", self.aiosmtpd_log_level)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpMockSettings:
        """Build settings from ``MOCK_SMTP_*`` variables, defaults for the rest."""
        return read_env(cls, ENV_PREFIX, env)
