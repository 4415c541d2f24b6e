"""The message codec: events and their envelopes, out and in (SPEC section 3).

Plain data with no broker dependency, so producers, the outbox and tests can build and
inspect messages without pika.  The body is the event as JSON; the envelope is the
message id (de-duplication key), the correlation id (one per business flow), the type,
the time, the producer and the schema version.

Out: ``OutgoingMessage.event`` builds an event, ``Envelope.properties`` gives its AMQP
properties, ``Envelope.to_json``/``from_json`` store it in an outbox row.  In: every
delivered message, whoever took it (a service's consumer, the event tap, the load's
flow tracker, the queue tools), is one ``IncomingMessage``, whose body is parsed once,
on first use, by ``decode_body``.

AMQP carries the string properties (message id, correlation id, type, app id, content
type), the routing key and every header name as *short strings*: one length octet, so
at most 255 bytes of UTF-8.  A value over that cannot be put on the wire at all, so
values that come from outside are checked where they enter (``valid_correlation_id``),
and ``OutgoingMessage.amqp_problem`` names what would break before a publish is tried.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

CONTENT_TYPE = "application/json"
PERSISTENT = 2
SCHEMA_VERSION_HEADER = "x-schema-version"
SCHEMA_VERSION = "1"

# Headers the consumer adds when it retries or dead-letters a message.
ATTEMPT_HEADER = "x-attempt"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"
ORIGINAL_EXCHANGE_HEADER = "x-original-exchange"
DEAD_LETTER_REASON_HEADER = "x-dead-letter-reason"
EXCEPTION_CLASS_HEADER = "x-exception-class"
EXCEPTION_MESSAGE_HEADER = "x-exception-message"
FAILED_SERVICE_HEADER = "x-failed-service"
FAILED_AT_HEADER = "x-failed-at"
REPLAYED_HEADER = "x-replayed-from-dlq"

# The AMQP basic properties an event may carry, in the order they are shown.
PROPERTY_NAMES = (
    "message_id",
    "correlation_id",
    "type",
    "app_id",
    "timestamp",
    "content_type",
    "delivery_mode",
    "headers",
)
# The HTTP header that carries a flow's correlation id into the services.
CORRELATION_HEADER = "X-Correlation-Id"

SHORT_STRING_MAX_BYTES = 255
CORRELATION_ID_MAX = 128
# Visible ASCII only: one byte per character (so always within a short string), no
# spaces or controls, and safe to echo in HTTP and mail headers.
_CORRELATION_ID = re.compile(rf"[\x21-\x7e]{{1,{CORRELATION_ID_MAX}}}")
CORRELATION_ID_RULE = f"1-{CORRELATION_ID_MAX} visible ASCII characters (0x21-0x7E)"


def valid_correlation_id(value: str) -> bool:
    """True when ``value`` is a correlation id every producer may carry: see the rule."""
    return _CORRELATION_ID.fullmatch(value) is not None


def short_string_problem(name: str, value: object) -> str | None:
    """Why ``value`` cannot be an AMQP short string, naming ``name`` but not the value."""
    if not isinstance(value, str):
        return None  # not text: the encoder itself decides
    try:
        size = len(value.encode())
    except UnicodeEncodeError:
        return f"{name} is not valid Unicode text (it cannot be encoded as UTF-8)"
    if size > SHORT_STRING_MAX_BYTES:
        return (
            f"{name} is {size} bytes of UTF-8; AMQP short strings hold at most "
            f"{SHORT_STRING_MAX_BYTES}"
        )
    return None


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Envelope:
    """The AMQP properties of one event."""

    message_id: str
    correlation_id: str
    type: str
    app_id: str
    timestamp: int = field(default_factory=lambda: int(time.time()))
    headers: Mapping[str, Any] = field(default_factory=dict)

    def properties(self) -> dict[str, Any]:
        """The envelope as a plain dict of AMQP basic properties."""
        headers = {SCHEMA_VERSION_HEADER: SCHEMA_VERSION, **dict(self.headers)}
        return {
            "message_id": self.message_id,
            "correlation_id": self.correlation_id,
            "type": self.type,
            "app_id": self.app_id,
            "timestamp": self.timestamp,
            "content_type": CONTENT_TYPE,
            "delivery_mode": PERSISTENT,
            "headers": headers,
        }

    def to_json(self) -> str:
        """Everything but the message id (its own column), for an outbox row."""
        return json.dumps(
            {
                "correlation_id": self.correlation_id,
                "type": self.type,
                "app_id": self.app_id,
                "timestamp": self.timestamp,
                "headers": dict(self.headers),
            }
        )

    @classmethod
    def from_json(cls, message_id: str, text: str) -> Envelope:
        data = json.loads(text)
        return cls(
            message_id=message_id,
            correlation_id=data["correlation_id"],
            type=data["type"],
            app_id=data["app_id"],
            timestamp=data["timestamp"],
            headers=data.get("headers") or {},
        )


@dataclass(frozen=True)
class OutgoingMessage:
    """An event ready to publish: routing key, JSON body and envelope."""

    routing_key: str
    body: bytes
    envelope: Envelope

    @classmethod
    def event(
        cls,
        routing_key: str,
        body: Mapping[str, Any],
        *,
        producer: str,
        correlation_id: str | None = None,
        message_id: str | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> OutgoingMessage:
        """Build an event whose envelope type is the body's ``type``."""
        event_type = body.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError(f"event body for {routing_key!r} has no 'type'")
        envelope = Envelope(
            message_id=message_id or new_id(),
            correlation_id=correlation_id or new_id(),
            type=event_type,
            app_id=producer,
            headers=dict(headers or {}),
        )
        return cls(routing_key, encode_body(body), envelope)

    @property
    def message_id(self) -> str:
        return self.envelope.message_id

    def amqp_problem(self) -> str | None:
        """The first short string of this message that AMQP cannot carry, or None."""
        e = self.envelope
        named: list[tuple[str, object]] = [
            ("the routing key", self.routing_key),
            ("message_id", e.message_id),
            ("correlation_id", e.correlation_id),
            ("type", e.type),
            ("app_id", e.app_id),
            *((f"the name of header {i + 1}", name) for i, name in enumerate(e.headers)),
        ]
        for name, value in named:
            problem = short_string_problem(name, value)
            if problem is not None:
                return problem
        return None


def encode_body(body: Mapping[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def decode_body(raw: bytes) -> Any:
    """The JSON of a message body; ``ValueError`` when it is not JSON (NaN and Infinity,
    which JSON does not have, included)."""
    return json.loads(raw, parse_constant=_reject_constant)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def jsonable(value: Any) -> Any:
    """``value`` with AMQP's own types (bytes, timestamps) made printable as JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


@dataclass(frozen=True)
class IncomingMessage:
    """One delivered message, as a consumer's handler, the tap, the load's tracker and
    the queue tools see it.

    ``routing_key`` is the key it was delivered with; ``event_key`` the event's own key,
    also after a retry or dead-letter hop moved it.  ``body`` is the parsed JSON,
    decoded once on first use (``ValueError`` when the body is not JSON).
    """

    routing_key: str
    raw_body: bytes
    properties: Mapping[str, Any] = field(default_factory=dict)
    exchange: str = ""
    queue: str = ""  # the queue it was taken from; "" for an observer's private queue
    redelivered: bool = False

    @cached_property
    def body(self) -> Any:
        return decode_body(self.raw_body)

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.get("headers") or {})

    @property
    def event_key(self) -> str:
        return str(self.headers.get(ORIGINAL_ROUTING_KEY_HEADER) or self.routing_key)

    @property
    def message_id(self) -> str | None:
        return _text(self.properties.get("message_id"))

    @property
    def correlation_id(self) -> str | None:
        return _text(self.properties.get("correlation_id"))

    @property
    def type(self) -> str | None:
        value = self.properties.get("type")
        if value is None:
            try:
                body = self.body
            except ValueError:
                body = None
            value = body.get("type") if isinstance(body, dict) else None
        return _text(value)

    @property
    def producer(self) -> str | None:
        return _text(self.properties.get("app_id"))

    @property
    def attempt(self) -> int:
        """1 for a first delivery; one more after each trip round the retry ladder."""
        try:
            return max(int(self.headers.get(ATTEMPT_HEADER, 1)), 1)
        except (TypeError, ValueError):
            return 1

    def json(self) -> Any:
        """The body, as a ``requests`` response's ``json()`` gives it."""
        return self.body

    def to_dict(self) -> dict[str, Any]:
        try:
            body: Any = self.body
        except ValueError:
            body = self.raw_body.decode(errors="replace")
        return {
            "queue": self.queue,
            "routing_key": self.routing_key,
            "exchange": self.exchange,
            "properties": jsonable(dict(self.properties)),
            "body": body,
            "redelivered": self.redelivered,
        }


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None
