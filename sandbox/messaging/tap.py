"""The event tap: records every message on the bus, validated against its contract.

The tap binds a private, exclusive queue to ``#`` on the events exchange (every event)
and on the hop exchange (every retry and dead-letter move), and records each message
with its properties, headers, body and arrival time.  Events are validated as they
arrive; a violation is kept with the record, naming the message and its producer.
Scenario expectations, contract gates and reports all read from the tap.

The tap's queue is not part of the topology: it is the observer's own, deleted when the
tap disconnects.  While the broker is down nothing is observed; after a restart the tap
binds a new queue and carries on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.subscription import Subscription
from sandbox.messaging.tools import publish_raw_message
from sandbox.topology import Topology
from sandbox.waiting import wait_for

log = logging.getLogger(__name__)

KIND_EVENT = "event"
KIND_RETRY = "retry"
KIND_DEAD_LETTER = "dead-letter"
MARKER_HEADER = "x-sandbox-tap-marker"  # see EventTap.settle

# a message seen on the bus -> violations, each printable
TapValidator = Callable[[IncomingMessage], Sequence[object]]


@dataclass(frozen=True)
class TapRecord:
    """One message seen on the bus: when, which kind of hop, and what was wrong with it."""

    seq: int
    at: float  # wall-clock seconds, comparable across processes
    kind: str
    message: IncomingMessage
    violations: tuple[str, ...] = ()

    @property
    def exchange(self) -> str:
        return self.message.exchange

    @property
    def routing_key(self) -> str:
        """As delivered; for hops, the queue it was moved to."""
        return self.message.routing_key

    @property
    def event_key(self) -> str:
        """The event's own routing key, also for retry and dead-letter hops."""
        return self.message.event_key

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.message.properties

    @property
    def headers(self) -> dict[str, Any]:
        return self.message.headers

    @property
    def message_id(self) -> str | None:
        return self.message.message_id

    @property
    def correlation_id(self) -> str | None:
        return self.message.correlation_id

    @property
    def type(self) -> str | None:
        return self.message.properties.get("type")

    @property
    def producer(self) -> str | None:
        return self.message.producer

    def json(self) -> Any:
        return self.message.body

    def to_dict(self) -> dict[str, Any]:
        message = self.message.to_dict()
        return {
            "seq": self.seq,
            "at": self.at,
            "exchange": self.exchange,
            "routing_key": self.routing_key,
            "event_key": self.event_key,
            "kind": self.kind,
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
            "type": self.type,
            "producer": self.producer,
            "headers": message["properties"].get("headers") or {},
            "body": message["body"],
            "violations": list(self.violations),
        }


class EventTap:
    """Observe a vhost's events exchange and hop exchange from a background thread."""

    def __init__(
        self,
        url: str,
        topology: Topology,
        *,
        validator: TapValidator | None = None,
        name: str = "event-tap",
        reconnect_max_s: float = 2.0,
    ) -> None:
        self._topology = topology
        self._validator = validator
        self._name = name
        self._url = url
        self._records: list[TapRecord] = []
        self._markers: set[str] = set()
        self._lock = threading.Lock()
        self._subscription = Subscription(
            url,
            [(topology.exchange.name, "#"), (topology.hop_exchange.name, "#")],
            self._on_message,
            name=name,
            reconnect_max_s=reconnect_max_s,
        )

    # -- control -----------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> EventTap:
        self._subscription.start(timeout)
        return self

    def stop(self) -> None:
        self._subscription.stop()

    def __enter__(self) -> EventTap:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._subscription.connected

    def settle(self, timeout: float = 5.0) -> bool:
        """Return once every message routed to the tap before this call is recorded.

        A message confirmed to its publisher is in the tap's queue but may not have
        reached this process yet; a marker sent to the same queue arrives after it.  False
        when the tap is not connected or the marker did not come back in time."""
        queue = self._subscription.queue_name
        if not queue or not self.connected:
            return False
        token = uuid.uuid4().hex
        try:
            # the default exchange routes by queue name: to this tap's queue and no other
            publish_raw_message(self._url, "", queue, b"", {"headers": {MARKER_HEADER: token}})
            wait_for(lambda: token in self._markers, timeout=timeout, what="the tap's marker")
        except Exception as exc:  # a broker gone meanwhile: settle for what was seen
            log.info("%s: could not settle: %r", self._name, exc)
            return False
        return True

    # -- reading -----------------------------------------------------------------------

    def records(self, where: Callable[[TapRecord], bool] | None = None) -> list[TapRecord]:
        with self._lock:
            snapshot = list(self._records)
        return [r for r in snapshot if where is None or where(r)]

    def events(self, **match: Any) -> list[TapRecord]:
        return self.records(lambda r: r.kind == KIND_EVENT and _matches(r, match))

    def violations(self) -> list[TapRecord]:
        return self.records(lambda r: bool(r.violations))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def expect(
        self,
        *,
        timeout: float = 5.0,
        count: int = 1,
        kind: str = KIND_EVENT,
        where: Callable[[TapRecord], bool] | None = None,
        **match: Any,
    ) -> list[TapRecord]:
        """Wait until at least ``count`` matching records are seen; return them.

        ``match`` keys: ``routing_key`` / ``event_key``, ``type``, ``correlation_id``,
        ``message_id``, ``producer``; ``kind`` is ``event``, ``retry`` or ``dead-letter``.
        """

        def found() -> list[TapRecord]:
            hits = self.records(
                lambda r: r.kind == kind and _matches(r, match) and (where is None or where(r))
            )
            return hits if len(hits) >= count else []

        description = f"{count} x {kind} {match or ''}".strip()
        return wait_for(
            found,
            timeout=timeout,
            what=description,
            seen=lambda: [
                f"{r.kind}:{r.event_key}:{r.type}:{r.correlation_id}" for r in self.records()
            ][-15:],
        )

    # -- messages ---------------------------------------------------------------------

    def _on_message(self, message: IncomingMessage) -> None:
        marker = message.headers.get(MARKER_HEADER) if not message.exchange else None
        if marker is not None:
            with self._lock:
                self._markers.add(str(marker))
            return
        if message.exchange == self._topology.hop_exchange.name:
            dead = message.routing_key.endswith(".dlq")
            kind = KIND_DEAD_LETTER if dead else KIND_RETRY
            violations: tuple[str, ...] = ()
        else:
            kind = KIND_EVENT
            violations = self._validate(message)
        with self._lock:
            record = TapRecord(len(self._records) + 1, time.time(), kind, message, violations)
            self._records.append(record)
        if violations:
            log.warning(
                "%s: contract violation in %s from %s: %s",
                self._name,
                record.message_id,
                record.producer,
                "; ".join(violations),
            )

    def _validate(self, message: IncomingMessage) -> tuple[str, ...]:
        if self._validator is None:
            return ()
        try:
            return tuple(str(v) for v in self._validator(message))
        except Exception as exc:  # a broken validator must not kill the observer
            return (f"validator crashed: {exc!r}",)


def _matches(record: TapRecord, match: dict[str, Any]) -> bool:
    for key, expected in match.items():
        if key in ("routing_key", "event_key"):
            actual: Any = record.event_key
        else:
            actual = getattr(record, key)
        if actual != expected:
            return False
    return True
