"""The payment service's settings: one frozen object per process, read from the environment.

``PaymentSettings.from_env()`` is called once in the entrypoint and the result is passed
down; tests build the object directly with the values they need.  The shared fields
(``ServiceSettings``) are read under ``PAYMENT_*``; the rest are the payment service's
own: the provider, webhooks, the appointment service, rate limits and idempotency.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from sandbox.services.common import settings as e
from sandbox.services.common.settings import ServiceSettings
from sandbox.settings import SERVICE_PORTS, SettingsError
from sandbox.topology import PAYMENT_SERVICE

SERVICE_NAME = PAYMENT_SERVICE
DEFAULT_RATE_LIMITS = ("100 per minute", "20 per 10 seconds")


def _currency(env: Mapping[str, str], name: str, default: str) -> str:
    value = (env.get(name) or default).strip().upper()
    if len(value) != 3 or not value.isascii() or not value.isalpha():
        raise SettingsError(name, value, "a three-letter ISO 4217 code such as USD")
    return value


def _limits(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    limits = tuple(part.strip() for part in raw.split(";") if part.strip())
    if not limits:
        raise SettingsError(name, raw, "limits such as '100 per minute; 20 per 10 seconds'")
    return limits


@dataclass(frozen=True)
class PaymentSettings(ServiceSettings):
    """Everything the web and relay processes of the payment service can be told."""

    PREFIX: ClassVar[str] = "PAYMENT"

    port: int = SERVICE_PORTS["payment"]
    threads: int = 16
    relay_health_port: int = SERVICE_PORTS["payment-relay"]
    provider_url: str = "http://127.0.0.1:12111"
    provider_api_key: str = "sk_test_payment_sandbox"
    provider_timeout_s: float = 10.0
    # the SDK's own retries; safe because every call carries an idempotency key
    provider_max_network_retries: int = 0
    # None: POST /payment/webhook answers 503 until a secret is configured
    webhook_secret: str | None = None
    webhook_tolerance_s: int = 300
    default_currency: str = "USD"
    # The appointment service: bookings in its format (appt_...) must be the caller's
    # tenant's appointments.  None: no appointment service, every booking is external.
    appointments_url: str | None = None
    appointments_timeout_s: float = 2.0
    rate_limit_enabled: bool = True
    rate_limits: tuple[str, ...] = DEFAULT_RATE_LIMITS
    # memory:// counts per worker process; use redis://... to share between workers
    rate_limit_storage_uri: str = "memory://"
    # an Idempotency-Key whose first request never finished may be taken over after this
    idempotency_stale_s: float = 120.0
    # keys the request fingerprints (HMAC), so stored fingerprints reveal nothing
    fingerprint_secret: str = "payment-sandbox-fingerprints"

    @property
    def request_timeout_s(self) -> int:
        """A card payment makes two provider calls (create and confirm) and asks the
        appointment service about its booking, each up to its timeout."""
        return max(30, int(self.provider_timeout_s * 3))

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        d = cls(database_url="")
        return dict(
            provider_url=e.text(env, "PROVIDER_URL", d.provider_url).rstrip("/"),
            provider_api_key=e.text(env, "PROVIDER_API_KEY", d.provider_api_key),
            provider_timeout_s=e.number(
                env, "PROVIDER_TIMEOUT_S", d.provider_timeout_s, minimum=0.1
            ),
            provider_max_network_retries=e.integer(
                env, "PROVIDER_MAX_NETWORK_RETRIES", d.provider_max_network_retries
            ),
            webhook_secret=e.optional_text(env, "PAYMENT_WEBHOOK_SECRET"),
            webhook_tolerance_s=e.integer(
                env, "PAYMENT_WEBHOOK_TOLERANCE_S", d.webhook_tolerance_s
            ),
            default_currency=_currency(env, "PAYMENT_DEFAULT_CURRENCY", d.default_currency),
            appointments_url=e.text(env, "PAYMENT_APPOINTMENTS_URL", "").rstrip("/") or None,
            appointments_timeout_s=e.number(
                env, "PAYMENT_APPOINTMENTS_TIMEOUT_S", d.appointments_timeout_s, minimum=0.1
            ),
            rate_limit_enabled=e.flag(env, "PAYMENT_RATE_LIMIT_ENABLED", d.rate_limit_enabled),
            rate_limits=_limits(env, "PAYMENT_RATE_LIMITS", d.rate_limits),
            rate_limit_storage_uri=e.text(
                env, "PAYMENT_RATE_LIMIT_STORAGE_URI", d.rate_limit_storage_uri
            ),
            idempotency_stale_s=e.number(env, "PAYMENT_IDEMPOTENCY_STALE_S", d.idempotency_stale_s),
            fingerprint_secret=e.text(env, "PAYMENT_FINGERPRINT_SECRET", d.fingerprint_secret),
        )
