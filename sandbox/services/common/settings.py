"""What every service's processes are told, read from the environment in one place.

Each service's ``settings.py`` extends the frozen ``ServiceSettings`` with its own
fields and reads them in its ``own_from_env()`` with the typed readers below;
``from_env()`` reads the shared ones too, and nothing else reads the environment.  The
rules match ``sandbox.settings``: an unset or empty variable means the default, a bad
value raises ``SettingsError`` naming the variable and what it expects.  The shared
fields are read under the service's prefix (``PAYMENT``, ``APPOINTMENT``,
``NOTIFIER``), so the three services answer to the same names::

    <P>_HOST, <P>_PORT                  the web process; the workers' /health share the host
    <P>_REPLICA_PORT                    set on web replicas: they share <P>_PORT
                                        (SO_REUSEPORT) and each answers alone on this one
    <P>_WORKERS, <P>_THREADS            gunicorn worker processes and threads per worker
    <P>_MAX_BODY_BYTES                  the largest request body read (413 past it)
    <P>_CONSUMER_HEALTH_PORT            the consumer's /health (services that consume)
    <P>_CONSUMER_CONCURRENCY            the consumer's lanes: handlers run at once (1..64,
                                        at most RABBITMQ_PREFETCH)
    <P>_RELAY_HEALTH_PORT               the outbox relay's /health
    <P>_RELAY_BATCH_SIZE                rows the relay publishes per pass
    <P>_RELAY_POLL_INTERVAL_S           the relay's pause between idle passes
    <P>_RELAY_CONFIRM_TIMEOUT_S         how long the relay waits for the broker's confirms
    <P>_DEFAULT_TENANT                  tenant of requests without X-Tenant-Id
    <P>_LOG_LEVEL                       level of the JSON log lines on stderr
    <P>_DATABASE_URL, DATABASE_URL      else SQLite at $SANDBOX_STATE_DIR/<service>.db
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Self

from sandbox.settings import BrokerSettings, SettingsError, env_flag, env_integer, env_number

# Request bodies past this size are refused with 413 (``<P>_MAX_BODY_BYTES``).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# Lanes of one consumer process; past this, run more consumer processes instead.
MAX_CONSUMER_CONCURRENCY = 64

integer = env_integer
number = env_number
flag = env_flag


def text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name) or default


def optional_text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def relay_name(env: Mapping[str, str], name: str, default: str) -> str:
    value = text(env, name, default)
    if len(value) > 64 or not value.isprintable():
        raise SettingsError(name, value, "a name of at most 64 printable characters")
    return value


def port(env: Mapping[str, str], name: str, default: int) -> int:
    return integer(env, name, default, minimum=0, maximum=65535)


def consumer_concurrency(
    env: Mapping[str, str], name: str, default: int, broker: BrokerSettings
) -> int:
    """How many handlers the consumer runs at once: 1..64, and no more than the prefetch.

    The broker hands a consumer at most ``RABBITMQ_PREFETCH`` unacked messages, so lanes
    beyond that could never get work.
    """
    value = integer(env, name, default, minimum=1, maximum=MAX_CONSUMER_CONCURRENCY)
    if value > broker.prefetch:
        raise SettingsError(
            name,
            str(value),
            f"no more lanes than RABBITMQ_PREFETCH ({broker.prefetch}); raise the prefetch "
            "or lower the concurrency",
        )
    return value


def state_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("SANDBOX_STATE_DIR") or ".sandbox").resolve()


def database_url(env: Mapping[str, str], service: str) -> str:
    """``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL``, else SQLite in the state dir.

    Tables are prefixed with the service name, so one shared ``DATABASE_URL`` works.
    """
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        return specific
    shared = env.get("DATABASE_URL")
    if shared:
        return shared
    return f"sqlite:///{state_dir(env) / f'{service}.db'}"


@dataclass(frozen=True)
class ServiceSettings:
    """Where a service's processes listen, store and find the broker (see the module doc)."""

    # the variables' prefix and the SQLite file's name: PAYMENT -> payment.db
    PREFIX: ClassVar[str] = "SERVICE"

    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    # a web replica's own port (0: no replicas); see serve.serve
    replica_port: int = 0
    workers: int = 1
    threads: int = 8
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    consumer_health_port: int = 0
    # handlers the consumer runs at once, each flow (correlation id) in order in one lane
    consumer_concurrency: int = 1
    relay_health_port: int = 0
    relay_batch_size: int = 500
    relay_poll_interval_s: float = 0.02
    relay_confirm_timeout_s: float = 15.0
    # how long a confirmed row's sent mark may wait for the next pass's claim (0: never)
    relay_hold_marks_s: float = 0.1
    # the name the relay claims outbox rows under (empty: "<service>-relay"); a relay
    # started again under its name takes its claims back at once, so replicas need
    # names of their own
    relay_name: str = ""
    default_tenant: str = "default"
    log_level: str = "INFO"
    broker: BrokerSettings = field(default_factory=BrokerSettings)

    @property
    def request_timeout_s(self) -> int:
        """How long gunicorn lets one request run before it restarts the worker."""
        return 30

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """The settings from ``env`` (default: the process's environment)."""
        env = os.environ if env is None else env
        return cls(**cls.shared_from_env(env), **cls.own_from_env(env))

    @classmethod
    def own_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The service's own fields (none here); defaults are the class's own."""
        return {}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    @classmethod
    def shared_from_env(cls, env: Mapping[str, str]) -> dict[str, Any]:
        """The shared fields from ``<PREFIX>_*``; defaults are the class's own."""
        d = cls.defaults()
        p = cls.PREFIX
        broker = BrokerSettings.from_env(env)
        return {
            "database_url": database_url(env, p.lower()),
            "host": text(env, f"{p}_HOST", d["host"]),
            "port": port(env, f"{p}_PORT", d["port"]),
            "replica_port": port(env, f"{p}_REPLICA_PORT", d["replica_port"]),
            "workers": integer(env, f"{p}_WORKERS", d["workers"], minimum=1),
            "threads": integer(env, f"{p}_THREADS", d["threads"], minimum=1),
            "max_body_bytes": integer(
                env, f"{p}_MAX_BODY_BYTES", d["max_body_bytes"], minimum=1024
            ),
            "consumer_health_port": port(
                env, f"{p}_CONSUMER_HEALTH_PORT", d["consumer_health_port"]
            ),
            "consumer_concurrency": consumer_concurrency(
                env, f"{p}_CONSUMER_CONCURRENCY", d["consumer_concurrency"], broker
            ),
            "relay_health_port": port(env, f"{p}_RELAY_HEALTH_PORT", d["relay_health_port"]),
            "relay_batch_size": integer(
                env, f"{p}_RELAY_BATCH_SIZE", d["relay_batch_size"], minimum=1
            ),
            "relay_poll_interval_s": number(
                env, f"{p}_RELAY_POLL_INTERVAL_S", d["relay_poll_interval_s"]
            ),
            "relay_confirm_timeout_s": number(
                env, f"{p}_RELAY_CONFIRM_TIMEOUT_S", d["relay_confirm_timeout_s"], minimum=0.1
            ),
            "relay_hold_marks_s": number(env, f"{p}_RELAY_HOLD_MARKS_S", d["relay_hold_marks_s"]),
            "relay_name": relay_name(env, f"{p}_RELAY_NAME", d["relay_name"]),
            "default_tenant": text(env, f"{p}_DEFAULT_TENANT", d["default_tenant"]),
            "log_level": text(env, f"{p}_LOG_LEVEL", d["log_level"]).upper(),
            "broker": broker,
        }
