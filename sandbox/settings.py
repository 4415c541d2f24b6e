"""Typed, frozen settings read from the environment in one place.

Every process builds its settings once in its ``main()`` with ``from_env()`` and passes
them down; tests build them directly.  Nothing else in the code base reads ``os.environ``
for configuration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

QUEUE_TYPES = ("quorum", "classic")
T = TypeVar("T")

# The port each process of the sandbox listens on unless told otherwise: SPEC section 7
# for the services and their workers' /health, the usual ports of the tools the mocks
# stand in for (stripe-mock, MailHog).  The control plane prefers them and falls back to
# a free port where one is taken.
SERVICE_PORTS = {
    "provider": 12111,
    "smtp": 1025,
    "smtp-http": 8025,
    "merchant": 8010,
    "payment": 8003,
    "appointment": 8002,
    "notifier": 8004,
    # health ports of the workers, which have no API of their own
    "payment-relay": 8013,
    "appointment-consumer": 8012,
    "appointment-relay": 8022,
    "notifier-consumer": 8014,
    "notifier-relay": 8024,
}

# Set by the supervisor for the consumers and relays it starts while the broker boots:
# the path of a file that exists once the topology is declared; they connect after it.
START_GATE_VARIABLE = "SANDBOX_START_GATE"


class SettingsError(ValueError):
    """Raised when an environment variable holds a value that cannot be used."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"{name}={value!r} is not valid: expected {expected}")
        self.name = name


def _parsed(
    env: Mapping[str, str], name: str, parse: Callable[[str], T], expected: str
) -> tuple[str, T] | None:
    """The variable's text and parsed value; None when it is unset or empty."""
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return raw, parse(raw)
    except ValueError:
        raise SettingsError(name, raw, expected) from None


def env_integer(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    """An integer variable; unset or empty means ``default``."""
    found = _parsed(env, name, int, "an integer")
    if found is None:
        return default
    raw, value = found
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(name, raw, f"an integer {bounds}")
    return value


def env_number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    """A number variable; unset or empty means ``default``."""
    found = _parsed(env, name, float, "a number")
    if found is None:
        return default
    raw, value = found
    if not math.isfinite(value) or value < minimum:
        raise SettingsError(name, raw, f"a finite number >= {minimum:g}")
    return value


def env_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A true/false variable (1/0, true/false, yes/no, on/off)."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, raw, "true or false")


def _delays(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Parse a comma-separated list of retry delays in milliseconds."""
    expected = "comma-separated milliseconds, e.g. 1000,2000,4000"
    found = _parsed(env, name, lambda raw: tuple(int(part) for part in raw.split(",")), expected)
    if found is None:
        return default
    raw, values = found
    if not values or any(v <= 0 for v in values):
        raise SettingsError(name, raw, "one or more positive delays in milliseconds")
    return values


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise SettingsError(name, value, " or ".join(choices))
    return value


@dataclass(frozen=True)
class BrokerSettings:
    """Where the broker is and how the topology is named and shaped (SPEC section 2)."""

    url: str | None = None
    # management API of the broker at ``url``; default http://<host>:15672
    management_url: str | None = None
    exchange: str = "appointment_events"
    payment_queue: str = "payment_events"
    notification_queue: str = "appointment_notifications"
    notifier_payment_queue: str = "notifier_payment_events"
    notification_events_queue: str = "notification_events"
    queue_type: str = "quorum"
    retry_delays_ms: tuple[int, ...] = (1000, 2000, 4000)
    # quorum queues' own redelivery cap: a second safety net behind the retry ladder
    delivery_limit: int = 10
    prefetch: int = 16
    heartbeat_s: int = 30
    reconnect_max_s: float = 5.0
    # broker refusals (nack, unroutable) of one outbox row before its relay parks it
    outbox_max_refusals: int = 5

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BrokerSettings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            url=env.get("RABBITMQ_URL") or None,
            management_url=env.get("RABBITMQ_MANAGEMENT_URL") or None,
            exchange=env.get("RABBITMQ_EVENTS_EXCHANGE") or defaults.exchange,
            payment_queue=env.get("RABBITMQ_PAYMENT_QUEUE") or defaults.payment_queue,
            notification_queue=env.get("RABBITMQ_NOTIFICATION_QUEUE")
            or defaults.notification_queue,
            notifier_payment_queue=env.get("RABBITMQ_NOTIFIER_PAYMENT_QUEUE")
            or defaults.notifier_payment_queue,
            notification_events_queue=env.get("RABBITMQ_NOTIFICATION_EVENTS_QUEUE")
            or defaults.notification_events_queue,
            queue_type=_choice(env, "RABBITMQ_QUEUE_TYPE", defaults.queue_type, QUEUE_TYPES),
            retry_delays_ms=_delays(env, "RABBITMQ_RETRY_DELAYS_MS", defaults.retry_delays_ms),
            delivery_limit=env_integer(env, "RABBITMQ_DELIVERY_LIMIT", defaults.delivery_limit, 1),
            prefetch=env_integer(env, "RABBITMQ_PREFETCH", defaults.prefetch, 1),
            heartbeat_s=env_integer(env, "RABBITMQ_HEARTBEAT", defaults.heartbeat_s, 0),
            reconnect_max_s=env_number(env, "RABBITMQ_RECONNECT_MAX_S", defaults.reconnect_max_s),
            outbox_max_refusals=env_integer(
                env, "OUTBOX_MAX_REFUSALS", defaults.outbox_max_refusals, 1
            ),
        )


@dataclass(frozen=True)
class SandboxSettings:
    """Settings of the harness itself: where it keeps state and how it finds a broker."""

    state_dir: Path = field(default_factory=lambda: Path(".sandbox").resolve())
    # None: find rabbitmq-server on PATH (and prefer the script it wraps, see broker.local)
    rabbitmq_server: str | None = None
    rabbitmq_image: str = "rabbitmq:3.13.7-management"
    broker_start_timeout_s: float = 60.0
    broker: BrokerSettings = field(default_factory=BrokerSettings)
    # the address every process of the sandbox binds and is dialled on, the private
    # broker node's included (SANDBOX_HOST)
    host: str = "127.0.0.1"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if env is None else env
        defaults = cls()
        return cls(
            state_dir=Path(env.get("SANDBOX_STATE_DIR") or ".sandbox").resolve(),
            rabbitmq_server=env.get("SANDBOX_RABBITMQ_SERVER") or None,
            rabbitmq_image=env.get("SANDBOX_RABBITMQ_IMAGE") or defaults.rabbitmq_image,
            broker_start_timeout_s=env_number(
                env, "SANDBOX_BROKER_START_TIMEOUT", defaults.broker_start_timeout_s
            ),
            broker=BrokerSettings.from_env(env),
            host=env.get("SANDBOX_HOST") or defaults.host,
        )
