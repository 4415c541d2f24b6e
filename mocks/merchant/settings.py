"""Settings of one mock merchant process, read from ``MOCK_MERCHANT_*`` variables in one place."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from mocks.common.settings import SettingsError, check_port, read_env
from sandbox.settings import SERVICE_PORTS

__all__ = ["ENV_PREFIX", "RESERVED_PREFIXES", "MerchantMockSettings", "SettingsError"]

ENV_PREFIX = "MOCK_MERCHANT_"
# Paths the mock itself serves; a callback path there would shadow them.
RESERVED_PREFIXES = ("/_control", "/health")


@dataclass(frozen=True)
class MerchantMockSettings:
    """Where the mock listens, how it verifies callbacks and how much it keeps."""

    host: str = "127.0.0.1"
    port: int = SERVICE_PORTS["merchant"]  # 0 picks a free port
    # Shared with the notifier; empty means generate one (SPEC section 7), and main()
    # then prints it, since a secret nobody can learn verifies nothing.
    secret: str = field(default="", repr=False)
    callback_path: str = "/callbacks"
    signature_header: str = "X-Merchant-Signature"
    tolerance_s: int = 300
    max_records: int = 10_000  # oldest attempts are dropped beyond this; 0 keeps everything
    max_body_bytes: int = 1024 * 1024
    # request threads of the mock's own process; an injected delay holds one per callback
    threads: int = 8
    secret_generated: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        check_port("port", self.port)
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
            raise SettingsError("tolerance_s", str(self.tolerance_s), "seconds >= 0 (0 disables)")
        if self.max_records < 0:
            raise SettingsError("max_records", str(self.max_records), "an integer >= 0")
        if self.max_body_bytes < 1:
            raise SettingsError("max_body_bytes", str(self.max_body_bytes), "an integer >= 1")
        if self.threads < 1:
            raise SettingsError("threads", str(self.threads), "an integer >= 1")

    def callback_url(self, port: int) -> str:
        """Return the URL the notifier posts callbacks to, once bound to ``port``."""
        return f"http://{self.host}:{port}{self.callback_path}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> MerchantMockSettings:
        """Build settings from ``MOCK_MERCHANT_*`` variables, defaults for the rest."""
        return read_env(cls, ENV_PREFIX, env)
