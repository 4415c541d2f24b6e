"""The notifier's settings, read from the environment once per process.

Secrets (SMTP password, merchant callback secret) are kept out of ``repr`` so they never
reach a log line through a settings dump.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import Any, ClassVar

from sandbox.services.common import settings as e
from sandbox.services.common.settings import ServiceSettings
from sandbox.settings import SERVICE_PORTS, SettingsError


@dataclass(frozen=True)
class SmtpSettings:
    """The SMTP server the emails go to (the sandbox's mock SMTP by default)."""

    host: str = "127.0.0.1"
    port: int = SERVICE_PORTS["smtp"]
    from_address: str = "Appointments <notifications@payment-sandbox.local>"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    timeout_s: float = 10.0
    # a kept connection unused this long is closed (0: one connection per email)
    idle_timeout_s: float = 30.0

    @property
    def sender_domain(self) -> str:
        """Domain of the From address, used in deterministic Message-IDs."""
        address = parseaddr(self.from_address)[1]
        return address.rpartition("@")[2] or "notifier.local"


@dataclass(frozen=True)
class MerchantSettings:
    """Where signed merchant callbacks go (seed 001); no URL: no callbacks."""

    url: str | None = None
    secret: str | None = field(default=None, repr=False)
    timeout_s: float = 5.0


@dataclass(frozen=True)
class NotifierSettings(ServiceSettings):
    """The shared ``ServiceSettings`` under ``NOTIFIER_*``, the SMTP server and the merchant."""

    PREFIX: ClassVar[str] = "NOTIFIER"

    port: int = SERVICE_PORTS["notifier"]
    consumer_health_port: int = SERVICE_PORTS["notifier-consumer"]
    # its handlers mostly wait on SMTP and merchant callbacks: let four flows wait at once
    consumer_concurrency: int = 4
    relay_health_port: int = SERVICE_PORTS["notifier-relay"]
    support_email: str = "support@payment-sandbox.local"
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    merchant: MerchantSettings = field(default_factory=MerchantSettings)

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        d = cls(database_url="")
        smtp = SmtpSettings(
            # SMTP_SERVER is seed 002's name for the same setting
            host=env.get("SMTP_HOST") or env.get("SMTP_SERVER") or d.smtp.host,
            port=e.port(env, "SMTP_PORT", d.smtp.port),
            from_address=e.text(env, "SMTP_FROM", d.smtp.from_address),
            username=e.optional_text(env, "SMTP_USERNAME"),
            password=e.optional_text(env, "SMTP_PASSWORD"),
            starttls=e.flag(env, "SMTP_STARTTLS", d.smtp.starttls),
            timeout_s=e.number(env, "SMTP_TIMEOUT_S", d.smtp.timeout_s, minimum=0.1),
            idle_timeout_s=e.number(env, "SMTP_IDLE_TIMEOUT_S", d.smtp.idle_timeout_s),
        )
        merchant = MerchantSettings(
            url=e.optional_text(env, "MERCHANT_CALLBACK_URL"),
            secret=e.optional_text(env, "MERCHANT_CALLBACK_SECRET"),
            timeout_s=e.number(
                env, "MERCHANT_CALLBACK_TIMEOUT_S", d.merchant.timeout_s, minimum=0.1
            ),
        )
        if merchant.url and not merchant.secret:
            raise SettingsError(
                "MERCHANT_CALLBACK_SECRET",
                "",
                "a secret to sign callbacks to MERCHANT_CALLBACK_URL",
            )
        return {
            "support_email": e.text(env, "NOTIFIER_SUPPORT_EMAIL", d.support_email),
            "smtp": smtp,
            "merchant": merchant,
        }
