"""The whole broker topology, declared as data in one place (SPEC section 2).

Everything that touches exchanges or queues derives from ``build()``: the messaging
adapter declares it, the consumer routes failures through its retry ladder, the CLI prints
it, the contracts check compares it with the AsyncAPI document, and ``to_definitions()``
exports it for users who boot RabbitMQ from a definitions file.

Retry ladder: each consumed queue ``Q`` has one wait queue per delay level,
``Q.retry.1`` .. ``Q.retry.N``.  A wait queue has a fixed message TTL and dead-letters
back to ``Q`` through the default exchange, so every message in a wait queue expires in
arrival order and none blocks another (per-message TTL in one shared queue would only
expire at the head).  Dead-lettering through the default exchange with ``Q`` as routing
key returns the message to ``Q`` alone, never to every queue bound to its original key.
After the last level the consumer puts the message in ``Q.dlq`` with headers naming why.

The consumer moves messages to wait queues and DLQs through a second topic exchange,
``<exchange>.dlx``, where each of those queues is bound by its own name.  Routing stays
exactly as direct as the default exchange, but an observer (the event tap) can bind to
``#`` there and see every retry and dead-letter hop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.settings import BrokerSettings

# Services that consume queues; the names match the producers/consumers in contracts.
APPOINTMENT_SERVICE = "appointment-service"
NOTIFIER_SERVICE = "notifier-service"
PAYMENT_SERVICE = "payment-service"

DEFAULT_EXCHANGE = ""  # AMQP's default exchange routes by queue name


@dataclass(frozen=True)
class Exchange:
    name: str
    type: str = "topic"
    durable: bool = True


@dataclass(frozen=True)
class QueueDeclaration:
    """One queue as the broker should have it."""

    name: str
    arguments: dict[str, Any]
    role: str  # "work", "retry" or "dlq"
    durable: bool = True


@dataclass(frozen=True)
class ConsumedQueue:
    """A work queue, its bindings and the service that consumes it."""

    name: str
    bindings: tuple[str, ...]
    consumer: str

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue(self, level: int) -> str:
        """Name of the wait queue for retry ``level`` (1-based)."""
        return f"{self.name}.retry.{level}"


@dataclass(frozen=True)
class ObservedQueue:
    """A bounded queue no service consumes, so that events without a consumer (the
    notifier's ``notification.*``) are routable under ``mandatory`` publishing and can be
    read by observers: the event tap, load tests, people.  The oldest messages are
    dropped beyond ``max_length``."""

    name: str
    bindings: tuple[str, ...]
    max_length: int = 10_000


@dataclass(frozen=True)
class Topology:
    exchange: Exchange
    queues: tuple[ConsumedQueue, ...]
    queue_type: str
    retry_delays_ms: tuple[int, ...]
    delivery_limit: int
    observed: tuple[ObservedQueue, ...] = ()

    @property
    def max_attempts(self) -> int:
        """Deliveries a failing message gets in all: the first plus one per retry level."""
        return len(self.retry_delays_ms) + 1

    @property
    def hop_exchange(self) -> Exchange:
        """The exchange retries and dead letters travel through (see the module docstring)."""
        return Exchange(f"{self.exchange.name}.dlx")

    def queue(self, name: str) -> ConsumedQueue:
        for queue in self.queues:
            if queue.name == name:
                return queue
        known = ", ".join(q.name for q in self.queues)
        raise KeyError(f"no consumed queue named {name!r} (known: {known})")

    def queues_for(self, routing_key: str) -> list[str]:
        """Work queues that a message published with ``routing_key`` lands in."""
        return [
            q.name for q in self.queues if any(topic_matches(p, routing_key) for p in q.bindings)
        ]

    def observed_for(self, routing_key: str) -> list[str]:
        """Observer queues that a message published with ``routing_key`` lands in."""
        return [
            q.name for q in self.observed if any(topic_matches(p, routing_key) for p in q.bindings)
        ]

    def dlqs(self) -> list[str]:
        return [q.dlq for q in self.queues]

    def _type_arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {"x-queue-type": self.queue_type}
        if self.queue_type == "quorum":
            # Quorum queues dead-letter at-most-once unless told otherwise; at-least-once
            # needs reject-publish overflow.  Both keep retries from being lost.
            args["x-dead-letter-strategy"] = "at-least-once"
            args["x-overflow"] = "reject-publish"
        return args

    def declarations(self) -> list[QueueDeclaration]:
        """Every queue of the topology with its arguments, work queues first."""
        decls: list[QueueDeclaration] = []
        for queue in self.queues:
            work_args = self._type_arguments()
            # Safety net behind the retry ladder: a message the consumer never settles
            # (for instance because the consumer process dies on it every time) goes to
            # the DLQ instead of cycling forever.
            work_args["x-dead-letter-exchange"] = DEFAULT_EXCHANGE
            work_args["x-dead-letter-routing-key"] = queue.dlq
            if self.queue_type == "quorum":
                work_args["x-delivery-limit"] = self.delivery_limit
            decls.append(QueueDeclaration(queue.name, work_args, "work"))
            for level, delay in enumerate(self.retry_delays_ms, start=1):
                retry_args = self._type_arguments()
                retry_args["x-message-ttl"] = delay
                retry_args["x-dead-letter-exchange"] = DEFAULT_EXCHANGE
                retry_args["x-dead-letter-routing-key"] = queue.name
                decls.append(QueueDeclaration(queue.retry_queue(level), retry_args, "retry"))
            decls.append(QueueDeclaration(queue.dlq, {"x-queue-type": self.queue_type}, "dlq"))
        for observed in self.observed:
            args = {
                "x-queue-type": self.queue_type,
                "x-max-length": observed.max_length,
                "x-overflow": "drop-head",
            }
            decls.append(QueueDeclaration(observed.name, args, "observed"))
        return decls

    def bindings(self) -> list[tuple[str, str]]:
        """(queue, routing pattern) pairs bound to the events exchange."""
        consumed = [(q.name, pattern) for q in self.queues for pattern in q.bindings]
        return consumed + [(q.name, p) for q in self.observed for p in q.bindings]

    def hop_bindings(self) -> list[tuple[str, str]]:
        """(queue, routing key) pairs bound to the hop exchange: each by its own name."""
        return [(d.name, d.name) for d in self.declarations() if d.role in ("retry", "dlq")]

    def to_definitions(self, vhost: str = "/") -> dict[str, Any]:
        """The topology as a RabbitMQ definitions document (``rabbitmqctl import_definitions``)."""
        return {
            "vhosts": [{"name": vhost}],
            "exchanges": [
                {
                    "name": exchange.name,
                    "vhost": vhost,
                    "type": exchange.type,
                    "durable": exchange.durable,
                    "auto_delete": False,
                    "internal": False,
                    "arguments": {},
                }
                for exchange in (self.exchange, self.hop_exchange)
            ],
            "queues": [
                {
                    "name": d.name,
                    "vhost": vhost,
                    "durable": d.durable,
                    "auto_delete": False,
                    "arguments": d.arguments,
                }
                for d in self.declarations()
            ],
            "bindings": [
                {
                    "source": self.exchange.name,
                    "vhost": vhost,
                    "destination": queue,
                    "destination_type": "queue",
                    "routing_key": pattern,
                    "arguments": {},
                }
                for queue, pattern in self.bindings()
            ]
            + [
                {
                    "source": self.hop_exchange.name,
                    "vhost": vhost,
                    "destination": queue,
                    "destination_type": "queue",
                    "routing_key": key,
                    "arguments": {},
                }
                for queue, key in self.hop_bindings()
            ],
        }

    def to_contract_view(self) -> dict[str, Any]:
        """The shape the contracts check compares with the AsyncAPI document."""
        return {
            "exchange": {"name": self.exchange.name, "type": self.exchange.type},
            "queues": [
                {"name": q.name, "bindings": list(q.bindings), "consumer": q.consumer}
                for q in self.queues
            ]
            + [
                {"name": q.name, "bindings": list(q.bindings), "consumer": None}
                for q in self.observed
            ],
        }

    def describe(self) -> str:
        """A readable table of the topology, for ``sandbox topology``."""
        lines = [
            f"exchange {self.exchange.name} ({self.exchange.type}, durable); retries and "
            f"dead letters travel through {self.hop_exchange.name}",
            f"queue type {self.queue_type}; retries after "
            + ", ".join(f"{d / 1000:g} s" for d in self.retry_delays_ms)
            + f"; then dead-lettered ({self.max_attempts} deliveries in all)",
            "",
            f"{'queue':<40} {'role':<6} {'bound to / feeds':<28} consumer",
        ]
        for queue in self.queues:
            lines.append(
                f"{queue.name:<40} {'work':<6} {', '.join(queue.bindings):<28} {queue.consumer}"
            )
            for level, delay in enumerate(self.retry_delays_ms, start=1):
                feeds = f"-> {queue.name} after {delay} ms"
                lines.append(f"{queue.retry_queue(level):<40} {'retry':<6} {feeds:<28}")
            lines.append(f"{queue.dlq:<40} {'dlq':<6} {'(parked until replay)':<28}")
        for observed in self.observed:
            bound = ", ".join(observed.bindings)
            lines.append(
                f"{observed.name:<40} {'observe':<6} {bound:<28} "
                f"(nobody; keeps the last {observed.max_length})"
            )
        return "\n".join(lines)


def build(settings: BrokerSettings) -> Topology:
    """The topology for ``settings``: names, queue type and retry delays from configuration."""
    return Topology(
        exchange=Exchange(settings.exchange),
        queues=(
            ConsumedQueue(settings.payment_queue, ("payment.#",), APPOINTMENT_SERVICE),
            ConsumedQueue(settings.notification_queue, ("appointment.#",), NOTIFIER_SERVICE),
            ConsumedQueue(settings.notifier_payment_queue, ("payment.#",), NOTIFIER_SERVICE),
        ),
        queue_type=settings.queue_type,
        retry_delays_ms=settings.retry_delays_ms,
        delivery_limit=settings.delivery_limit,
        observed=(ObservedQueue(settings.notification_events_queue, ("notification.#",)),),
    )


def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: ``*`` is exactly one word, ``#`` zero or more words."""
    return _match(pattern.split("."), routing_key.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])
