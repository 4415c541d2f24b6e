"""The appointment service's settings, read from the environment once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from sandbox.services.common import env as e
from sandbox.settings import BrokerSettings

SERVICE = "appointment"


@dataclass(frozen=True)
class AppointmentSettings:
    """Where the appointment service listens, stores and finds the broker."""

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8002
    workers: int = 1
    threads: int = 8
    max_body_bytes: int = e.DEFAULT_MAX_BODY_BYTES
    # /health ports of the consumer and relay processes (they have no other HTTP API)
    consumer_health_port: int = 8012
    relay_health_port: int = 8022
    # tenant of requests without X-Tenant-Id (SPEC 4: a documented default)
    default_tenant: str = "default"
    broker: BrokerSettings = field(default_factory=BrokerSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppointmentSettings:
        env = os.environ if env is None else env
        d = cls(database_url="")
        return cls(
            database_url=e.database_url(env, SERVICE),
            host=e.text(env, "APPOINTMENT_HOST", d.host),
            port=e.port(env, "APPOINTMENT_PORT", d.port),
            workers=e.integer(env, "APPOINTMENT_WORKERS", d.workers, minimum=1),
            threads=e.integer(env, "APPOINTMENT_THREADS", d.threads, minimum=1),
            max_body_bytes=e.max_body_bytes(env, SERVICE),
            consumer_health_port=e.port(
                env, "APPOINTMENT_CONSUMER_HEALTH_PORT", d.consumer_health_port
            ),
            relay_health_port=e.port(env, "APPOINTMENT_RELAY_HEALTH_PORT", d.relay_health_port),
            default_tenant=e.text(env, "APPOINTMENT_DEFAULT_TENANT", d.default_tenant),
            broker=BrokerSettings.from_env(env),
        )
