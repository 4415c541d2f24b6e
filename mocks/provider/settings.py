"""The mock provider's settings: one frozen object, read from ``PROVIDER_*`` variables.

``main()`` builds it once with :meth:`ProviderSettings.from_env` and passes it down;
tests construct it directly with the values they need (fast webhook retries, a seed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from mocks.common.settings import (
    SettingsError,
    check_port,
    env_flag,
    env_integer,
    env_list,
    env_number,
    env_text,
)
from sandbox.settings import SERVICE_PORTS

__all__ = ["ProviderSettings", "SettingsError"]


@dataclass(frozen=True)
class ProviderSettings:
    """Everything the mock provider can be told from outside."""

    host: str = "127.0.0.1"
    # stripe-mock's port, so tools that default to it find this mock too
    port: int = SERVICE_PORTS["provider"]
    threads: int = 8
    # empty: any key that starts with sk_test_ or rk_test_ is accepted
    api_keys: tuple[str, ...] = ()
    seed: int = 0
    api_version: str = "2024-06-20"
    idempotency_ttl_s: float = 24 * 3600.0
    # endpoints registered at startup (and again after every reset), paired by position
    webhook_urls: tuple[str, ...] = ()
    # event types the configured endpoints subscribe to (Stripe's enabled_events)
    webhook_events: tuple[str, ...] = ("*",)
    # seconds from an event to its first delivery attempt (0: at once), before faults
    webhook_latency_s: float = 0.0
    webhook_secrets: tuple[str, ...] = ()
    webhook_retry_base_s: float = 1.0
    webhook_retry_max_s: float = 60.0
    webhook_max_attempts: int = 6
    webhook_timeout_s: float = 5.0
    # how long gunicorn waits for in-flight requests (e.g. an injected hang) on shutdown
    graceful_timeout_s: float = 3.0
    access_log: bool = False

    def __post_init__(self) -> None:
        check_port("PROVIDER_PORT", self.port)
        for url in self.webhook_urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError("PROVIDER_WEBHOOK_URL", url, "absolute http(s) URLs")
        if len(self.webhook_secrets) > 1 and len(self.webhook_secrets) != len(self.webhook_urls):
            raise SettingsError(
                "PROVIDER_WEBHOOK_SECRET",
                ",".join(self.webhook_secrets),
                "one secret for all URLs or one per URL in PROVIDER_WEBHOOK_URL",
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ProviderSettings:
        """Read every ``PROVIDER_*`` variable, falling back to the defaults above."""
        env = os.environ if env is None else env
        d = cls()
        return cls(
            host=env_text(env, "PROVIDER_HOST", d.host),
            port=env_integer(env, "PROVIDER_PORT", d.port),
            threads=env_integer(env, "PROVIDER_THREADS", d.threads, minimum=1),
            api_keys=env_list(env, "PROVIDER_API_KEYS"),
            seed=env_integer(env, "PROVIDER_SEED", d.seed),
            api_version=env_text(env, "PROVIDER_API_VERSION", d.api_version),
            idempotency_ttl_s=env_number(env, "PROVIDER_IDEMPOTENCY_TTL_S", d.idempotency_ttl_s),
            webhook_urls=env_list(env, "PROVIDER_WEBHOOK_URL"),
            webhook_events=env_list(env, "PROVIDER_WEBHOOK_EVENTS") or d.webhook_events,
            webhook_secrets=env_list(env, "PROVIDER_WEBHOOK_SECRET"),
            webhook_latency_s=env_number(
                env, "PROVIDER_WEBHOOK_LATENCY_S", d.webhook_latency_s, minimum=0.0
            ),
            webhook_retry_base_s=env_number(
                env, "PROVIDER_WEBHOOK_RETRY_BASE_S", d.webhook_retry_base_s
            ),
            webhook_retry_max_s=env_number(
                env, "PROVIDER_WEBHOOK_RETRY_MAX_S", d.webhook_retry_max_s
            ),
            webhook_max_attempts=env_integer(
                env, "PROVIDER_WEBHOOK_MAX_ATTEMPTS", d.webhook_max_attempts, minimum=1
            ),
            webhook_timeout_s=env_number(env, "PROVIDER_WEBHOOK_TIMEOUT_S", d.webhook_timeout_s),
            graceful_timeout_s=env_number(env, "PROVIDER_GRACEFUL_TIMEOUT_S", d.graceful_timeout_s),
            access_log=env_flag(env, "PROVIDER_ACCESS_LOG", d.access_log),
        )
