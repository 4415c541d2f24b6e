"""Settings of one mock SMTP process, read from ``MOCK_SMTP_*`` variables in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "MOCK_SMTP_"


class SettingsError(ValueError):
    """An environment variable or option holds a value that cannot be used."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        super().__init__(f"{name}={value!r} is not valid: expected {expected}")
        self.name = name


def _str(env: Mapping[str, str], name: str) -> str | None:
    return env.get(ENV_PREFIX + name) or None


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(ENV_PREFIX + name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(ENV_PREFIX + name, raw, "an integer") from None


@dataclass(frozen=True)
class SmtpMockSettings:
    """Where the mock listens and how much it keeps."""

    host: str = "127.0.0.1"
    # MailHog's ports, so tools that already know MailHog find this one.  0 picks a free port.
    smtp_port: int = 1025
    http_port: int = 8025
    # Oldest messages are dropped beyond this many; 0 keeps everything.
    max_messages: int = 10_000
    # Name in the SMTP greeting; fixed so startup never waits on a DNS lookup (getfqdn).
    server_hostname: str = "mock-smtp.local"
    data_size_limit: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("smtp_port", "http_port"):
            value = getattr(self, name)
            if not 0 <= value <= 65535:
                raise SettingsError(name, value, "a port between 0 and 65535")
        if self.max_messages < 0:
            raise SettingsError("max_messages", self.max_messages, "an integer >= 0")
        if self.data_size_limit < 1:
            raise SettingsError("data_size_limit", self.data_size_limit, "an integer >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SmtpMockSettings:
        """Build settings from ``MOCK_SMTP_*`` variables, defaults for the rest."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {
            "host": _str(env, "HOST"),
            "smtp_port": _int(env, "SMTP_PORT"),
            "http_port": _int(env, "HTTP_PORT"),
            "max_messages": _int(env, "MAX_MESSAGES"),
            "server_hostname": _str(env, "SERVER_HOSTNAME"),
            "data_size_limit": _int(env, "DATA_SIZE_LIMIT"),
        }
        return cls(**{name: value for name, value in given.items() if value is not None})
