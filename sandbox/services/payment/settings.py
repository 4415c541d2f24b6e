"""The payment service's settings: one frozen object per process, read from the environment.

``PaymentSettings.from_env()`` is called once in each entrypoint's ``main()`` and the
result is passed down; tests build the object directly with the values they need.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.services.common import env as e
from sandbox.services.common.db import sqlite_url
from sandbox.settings import (
    BrokerSettings,
    SettingsError,
    env_flag,
    env_integer,
    env_number,
)

SERVICE_NAME = "payment-service"
RELAY_NAME = "payment-relay"
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


def default_database_url(state_dir: Path) -> str:
    return sqlite_url(state_dir / "payment.db")


@dataclass(frozen=True)
class PaymentSettings:
    """Everything the web and relay processes of the payment service can be told."""

    host: str = "127.0.0.1"
    port: int = 8003
    workers: int = 1
    threads: int = 16
    max_body_bytes: int = e.DEFAULT_MAX_BODY_BYTES
    # None: SQLite at $SANDBOX_STATE_DIR/payment.db (resolved by from_env / database())
    database_url: str | None = None
    state_dir: Path = field(default_factory=lambda: Path(".sandbox").resolve())
    provider_url: str = "http://127.0.0.1:12111"
    provider_api_key: str = "sk_test_payment_sandbox"
    provider_timeout_s: float = 10.0
    # the SDK's own retries; safe because every call carries an idempotency key
    provider_max_network_retries: int = 0
    # None: POST /payment/webhook answers 503 until a secret is configured
    webhook_secret: str | None = None
    webhook_tolerance_s: int = 300
    default_currency: str = "USD"
    default_tenant: str = "default"
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
    relay_host: str = "127.0.0.1"
    relay_port: int = 8013
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.02
    relay_confirm_timeout_s: float = 15.0
    relay_declare_topology: bool = True
    log_level: str = "INFO"
    broker: BrokerSettings = field(default_factory=BrokerSettings)

    def database(self) -> str:
        return self.database_url or default_database_url(self.state_dir)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PaymentSettings:
        env = os.environ if env is None else env
        d = cls()
        state_dir = Path(env.get("SANDBOX_STATE_DIR") or ".sandbox").resolve()
        database_url = env.get("PAYMENT_DATABASE_URL") or env.get("DATABASE_URL") or None
        tolerance = env_integer(env, "PAYMENT_WEBHOOK_TOLERANCE_S", d.webhook_tolerance_s)
        return cls(
            host=env.get("PAYMENT_HOST") or d.host,
            port=env_integer(env, "PAYMENT_PORT", d.port),
            workers=env_integer(env, "PAYMENT_WORKERS", d.workers, 1),
            threads=env_integer(env, "PAYMENT_THREADS", d.threads, 1),
            max_body_bytes=e.max_body_bytes(env, "payment"),
            database_url=database_url,
            state_dir=state_dir,
            provider_url=(env.get("PROVIDER_URL") or d.provider_url).rstrip("/"),
            provider_api_key=env.get("PROVIDER_API_KEY") or d.provider_api_key,
            provider_timeout_s=env_number(env, "PROVIDER_TIMEOUT_S", d.provider_timeout_s, 0.1),
            provider_max_network_retries=env_integer(
                env, "PROVIDER_MAX_NETWORK_RETRIES", d.provider_max_network_retries
            ),
            webhook_secret=env.get("PAYMENT_WEBHOOK_SECRET") or None,
            webhook_tolerance_s=tolerance,
            default_currency=_currency(env, "PAYMENT_DEFAULT_CURRENCY", d.default_currency),
            default_tenant=env.get("PAYMENT_DEFAULT_TENANT") or d.default_tenant,
            appointments_url=(env.get("PAYMENT_APPOINTMENTS_URL") or "").rstrip("/") or None,
            appointments_timeout_s=env_number(
                env, "PAYMENT_APPOINTMENTS_TIMEOUT_S", d.appointments_timeout_s, 0.1
            ),
            rate_limit_enabled=env_flag(env, "PAYMENT_RATE_LIMIT_ENABLED", d.rate_limit_enabled),
            rate_limits=_limits(env, "PAYMENT_RATE_LIMITS", d.rate_limits),
            rate_limit_storage_uri=env.get("PAYMENT_RATE_LIMIT_STORAGE_URI")
            or d.rate_limit_storage_uri,
            idempotency_stale_s=env_number(
                env, "PAYMENT_IDEMPOTENCY_STALE_S", d.idempotency_stale_s
            ),
            fingerprint_secret=env.get("PAYMENT_FINGERPRINT_SECRET") or d.fingerprint_secret,
            relay_host=env.get("PAYMENT_RELAY_HOST") or d.relay_host,
            relay_port=env_integer(env, "PAYMENT_RELAY_PORT", d.relay_port),
            relay_batch_size=env_integer(env, "PAYMENT_RELAY_BATCH_SIZE", d.relay_batch_size, 1),
            relay_poll_interval_s=env_number(
                env, "PAYMENT_RELAY_POLL_INTERVAL_S", d.relay_poll_interval_s
            ),
            relay_confirm_timeout_s=env_number(
                env, "PAYMENT_RELAY_CONFIRM_TIMEOUT_S", d.relay_confirm_timeout_s, 0.1
            ),
            relay_declare_topology=env_flag(
                env, "PAYMENT_RELAY_DECLARE_TOPOLOGY", d.relay_declare_topology
            ),
            log_level=(env.get("PAYMENT_LOG_LEVEL") or d.log_level).upper(),
            broker=BrokerSettings.from_env(env),
        )
