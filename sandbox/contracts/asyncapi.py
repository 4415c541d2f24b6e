"""What the AsyncAPI document says, as plain data: routes, queues, producers, consumers.

Conventions of ``contracts/asyncapi.yaml`` (AsyncAPI 3.0.0):

- a channel whose ``bindings.amqp.is`` is ``routingKey`` is one routing key (its
  ``address``) on one exchange (``bindings.amqp.exchange``) and carries one message;
- a channel whose binding ``is: queue`` is a consumed work queue; its binding patterns
  are in ``x-bindings`` (AMQP channel bindings 0.3.0 have no field for them);
- every operation names the service that performs it in ``x-service``: a ``send``
  operation on a routing-key channel makes that service the producer, a ``receive``
  operation on a queue channel makes it a consumer of the messages it lists;
- a message's ``bindings.amqp.messageType`` is the event ``type``, and its payload
  ``$ref`` points at ``events/<routing-key>.schema.json``.

``read_catalog`` never raises on a badly formed document: what it cannot understand it
lists in ``problems``, which the contracts check reports and the registry refuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sandbox.topology import topic_matches

ROUTING_KEY_CHANNEL = "routingKey"
QUEUE_CHANNEL = "queue"


@dataclass(frozen=True)
class Route:
    """One routing key: its channel, message, producers and schema reference."""

    routing_key: str
    channel_id: str
    message_id: str | None
    message_type: str | None
    schema_ref: str | None
    exchange: Mapping[str, Any]
    producers: tuple[str, ...]


@dataclass(frozen=True)
class Queue:
    """One consumed work queue: binding patterns and the messages each consumer takes."""

    name: str
    channel_id: str
    bindings: tuple[str, ...]
    consumers: Mapping[str, tuple[str, ...]]  # service -> message ids it receives


@dataclass(frozen=True)
class Operation:
    operation_id: str
    action: str
    service: str | None
    channel_id: str | None
    message_ids: tuple[str, ...]


@dataclass(frozen=True)
class EventCatalog:
    routes: Mapping[str, Route]
    queues: Mapping[str, Queue]
    operations: Mapping[str, Operation]
    problems: tuple[str, ...] = field(default=())

    def message_routing_key(self, message_id: str) -> str | None:
        for route in self.routes.values():
            if route.message_id == message_id:
                return route.routing_key
        return None

    def queues_for(self, routing_key: str) -> tuple[str, ...]:
        return tuple(
            q.name
            for q in self.queues.values()
            if any(topic_matches(p, routing_key) for p in q.bindings)
        )

    def consumers_of(self, routing_key: str) -> tuple[str, ...]:
        """Services that receive ``routing_key`` from a queue bound to it, sorted."""
        route = self.routes.get(routing_key)
        if route is None or route.message_id is None:
            return ()
        found = {
            service
            for name in self.queues_for(routing_key)
            for service, messages in self.queues[name].consumers.items()
            if route.message_id in messages
        }
        return tuple(sorted(found))

    def exchanges(self) -> list[Mapping[str, Any]]:
        distinct: list[Mapping[str, Any]] = []
        for route in self.routes.values():
            if route.exchange not in distinct:
                distinct.append(route.exchange)
        return distinct


def resolve_pointer(document: Any, ref: str) -> Any:
    """The node a local ``#/a/b`` reference points at; KeyError if there is none."""
    if not ref.startswith("#/"):
        raise KeyError(ref)
    node = document
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, Mapping) and key in node:
            node = node[key]
        else:
            raise KeyError(ref)
    return node


class _Reader:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.doc = document
        self.problems: list[str] = []

    def mapping(self, node: Any, where: str) -> Mapping[str, Any]:
        if isinstance(node, Mapping):
            return node
        self.problems.append(f"{where} is not an object")
        return {}

    def deref(self, node: Any, where: str) -> tuple[Any, str | None]:
        """Follow local refs; returns the target and the last ref followed."""
        last = None
        for _ in range(10):
            if not (isinstance(node, Mapping) and isinstance(node.get("$ref"), str)):
                return node, last
            last = node["$ref"]
            try:
                node = resolve_pointer(self.doc, last)
            except KeyError:
                self.problems.append(f"{where}: $ref {last!r} does not resolve")
                return {}, last
        self.problems.append(f"{where}: $ref chain too long")
        return {}, last


def _message_id(ref: str | None) -> str | None:
    if ref and ref.startswith("#/components/messages/"):
        return ref.rsplit("/", 1)[1]
    return None


def read_catalog(document: Any) -> EventCatalog:
    """The routes, queues and operations of an AsyncAPI 3 document."""
    if not isinstance(document, Mapping):
        return EventCatalog({}, {}, {}, ("the AsyncAPI document is not an object",))
    reader = _Reader(document)
    channels = reader.mapping(document.get("channels", {}), "channels")
    operations = _read_operations(reader, document)
    routes: dict[str, Route] = {}
    queues: dict[str, Queue] = {}
    for channel_id, raw in channels.items():
        channel = reader.mapping(raw, f"channels.{channel_id}")
        amqp = reader.mapping(channel.get("bindings", {}), f"channels.{channel_id}.bindings")
        amqp = reader.mapping(amqp.get("amqp", {}), f"channels.{channel_id}.bindings.amqp")
        address = channel.get("address")
        if not isinstance(address, str):
            reader.problems.append(f"channels.{channel_id} has no address")
            continue
        if amqp.get("is") == ROUTING_KEY_CHANNEL:
            routes[address] = _read_route(reader, channel_id, channel, amqp, operations)
        elif amqp.get("is") == QUEUE_CHANNEL:
            queues[address] = _read_queue(reader, channel_id, channel, operations)
        else:
            reader.problems.append(
                f"channels.{channel_id}: bindings.amqp.is must be routingKey or queue"
            )
    return EventCatalog(routes, queues, operations, tuple(reader.problems))


def _read_operations(reader: _Reader, document: Mapping[str, Any]) -> dict[str, Operation]:
    found = {}
    for op_id, raw in reader.mapping(document.get("operations", {}), "operations").items():
        op = reader.mapping(raw, f"operations.{op_id}")
        channel_ref = reader.mapping(op.get("channel", {}), f"operations.{op_id}.channel").get(
            "$ref"
        )
        channel_id = None
        if isinstance(channel_ref, str) and channel_ref.startswith("#/channels/"):
            channel_id = channel_ref.split("/")[2]
            reader.deref({"$ref": channel_ref}, f"operations.{op_id}.channel")
        else:
            reader.problems.append(f"operations.{op_id}.channel must be a $ref to #/channels/...")
        message_ids = []
        for index, item in enumerate(op.get("messages") or []):
            where = f"operations.{op_id}.messages[{index}]"
            ref = item.get("$ref") if isinstance(item, Mapping) else None
            if not (isinstance(ref, str) and ref.startswith(f"#/channels/{channel_id}/messages/")):
                reader.problems.append(f"{where} must reference a message of its own channel")
                continue
            _, last = reader.deref(item, where)
            message_ids.append(_message_id(last) or ref.rsplit("/", 1)[1])
        service = op.get("x-service")
        if not isinstance(service, str):
            reader.problems.append(f"operations.{op_id} has no x-service naming the service")
        found[op_id] = Operation(
            op_id,
            str(op.get("action")),
            service if isinstance(service, str) else None,
            channel_id,
            tuple(message_ids),
        )
    return found


def _read_route(
    reader: _Reader,
    channel_id: str,
    channel: Mapping[str, Any],
    amqp: Mapping[str, Any],
    operations: Mapping[str, Operation],
) -> Route:
    where = f"channels.{channel_id}"
    messages = reader.mapping(channel.get("messages", {}), f"{where}.messages")
    if len(messages) != 1:
        reader.problems.append(f"{where} must carry exactly one message, has {len(messages)}")
    message_id = message_type = schema_ref = None
    for key, raw in list(messages.items())[:1]:
        message, last = reader.deref(raw, f"{where}.messages.{key}")
        message = reader.mapping(message, f"{where}.messages.{key}")
        message_id = _message_id(last) or key
        bindings = reader.mapping(message.get("bindings", {}), f"message {message_id} bindings")
        message_type = reader.mapping(bindings.get("amqp", {}), f"message {message_id}").get(
            "messageType"
        )
        payload, _ = reader.deref(message.get("payload"), f"message {message_id} payload")
        schema = payload.get("schema", payload) if isinstance(payload, Mapping) else {}
        schema_ref = schema.get("$ref") if isinstance(schema, Mapping) else None
    producers = tuple(
        sorted(
            op.service
            for op in operations.values()
            if op.action == "send" and op.channel_id == channel_id and op.service
        )
    )
    return Route(
        routing_key=str(channel.get("address")),
        channel_id=channel_id,
        message_id=message_id,
        message_type=message_type if isinstance(message_type, str) else None,
        schema_ref=schema_ref if isinstance(schema_ref, str) else None,
        exchange=dict(reader.mapping(amqp.get("exchange", {}), f"{where} exchange")),
        producers=producers,
    )


def _read_queue(
    reader: _Reader,
    channel_id: str,
    channel: Mapping[str, Any],
    operations: Mapping[str, Operation],
) -> Queue:
    patterns = channel.get("x-bindings")
    if not (isinstance(patterns, list) and all(isinstance(p, str) for p in patterns)):
        reader.problems.append(f"channels.{channel_id}.x-bindings must list routing patterns")
        patterns = []
    consumers: dict[str, tuple[str, ...]] = {}
    for op in operations.values():
        if op.action == "receive" and op.channel_id == channel_id and op.service:
            consumers[op.service] = tuple(sorted({*consumers.get(op.service, ()), *op.message_ids}))
    return Queue(str(channel.get("address")), channel_id, tuple(patterns), consumers)
