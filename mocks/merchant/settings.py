"""Settings of one mock merchant process, read from ``MOCK_MERCHANT_*`` variables in one place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ENV_PREFIX = "MOCK_MERCHANT_"
# Paths the mock itself serves; a callback path there would shadow them.
RESERVED_PREFIXES = ("/_control", "/health")


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
class MerchantMockSettings:
    """Where the mock listens, how it verifies callbacks and how much it keeps."""

    host: str = "127.0.0.1"
    port: int = 8010  # 0 picks a free port
    # Shared with the notifier; empty means generate one (SPEC section 7), and main()
    # then prints it, since a secret nobody can learn verifies nothing.
    secret: str = field(default="", repr=False)
    callback_path: str = "/callbacks"
    signature_header: str = "X-Merchant-Signature"
    tolerance_s: int = 300
    max_records: int = 10_000  # oldest attempts are dropped beyond this; 0 keeps everything
    max_body_bytes: int = 1024 * 1024
    secret_generated: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise SettingsError("port", self.port, "a port between 0 and 65535")
        if not self.secret:
            # Frozen dataclass: __post_init__ is the one place a derived field may be set.
            object.__setattr__(self, "secret", secrets.token_hex(16))
            object.__setattr__(self, "secret_generated", True)
        path = self.callback_path
        if not path.startswith("/") or path.startswith(RESERVED_PREFIXES) or path == "/":
            raise SettingsError(
                "callback_path", path, f"a path starting with / outside {RESERVED_PREFIXES}"
            )
        if self.tolerance_s < 0:
            raise SettingsError("tolerance_s", self.tolerance_s, "seconds >= 0 (0 disables)")
        if self.max_records < 0:
            raise SettingsError("max_records", self.max_records, "an integer >= 0")
        if self.max_body_bytes < 1:
            raise SettingsError("max_body_bytes", self.max_body_bytes, "an integer >= 1")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MerchantMockSettings:
        """Build settings from ``MOCK_MERCHANT_*`` variables, defaults for the rest."""
        env = os.environ if env is None else env
        given: dict[str, Any] = {
            "host": _str(env, "HOST"),
            "port": _int(env, "PORT"),
            "secret": _str(env, "SECRET"),
            "callback_path": _str(env, "CALLBACK_PATH"),
            "signature_header": _str(env, "SIGNATURE_HEADER"),
            "tolerance_s": _int(env, "TOLERANCE_S"),
            "max_records": _int(env, "MAX_RECORDS"),
            "max_body_bytes": _int(env, "MAX_BODY_BYTES"),
        }
        return cls(**{name: value for name, value in given.items() if value is not None})
