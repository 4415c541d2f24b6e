"""The event contracts, loaded once per directory and used by everything that sends or reads.

``ContractRegistry.load(path)`` reads the event schemas, the envelope schema and the
AsyncAPI document of one contracts directory, builds one validator per schema and keeps
the result for the life of the process (cached on the resolved path).  Producers,
consumers, the tap and the tests all ask the same object, so each schema has one source
of truth and validation costs no file access.

The envelope rules that a schema cannot state are checked here: the AMQP ``type`` must
be the routing key's type and the body's, ``app_id`` must be the producer that the
AsyncAPI document names for the routing key, and ``x-schema-version`` must be the event
schema's version.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from sandbox.contracts import files, refs
from sandbox.contracts.asyncapi import EventCatalog, read_catalog
from sandbox.contracts.files import ContractLoadError
from sandbox.contracts.validation import (
    FastCheck,
    build_validator,
    fast_check,
    format_checker,
    schema_registry,
    violations,
)
from sandbox.contracts.violations import (
    BODY_ROOT,
    ENVELOPE_ROOT,
    INVALID_JSON,
    SCHEMA_VERSION_MISMATCH,
    TYPE_MISMATCH,
    UNKNOWN_ROUTING_KEY,
    WRONG_PRODUCER,
    Violation,
)
from sandbox.messaging.envelope import IncomingMessage

VERSION_HEADER = "x-schema-version"


class UnknownRoutingKeyError(LookupError):
    """No contract exists for a routing key or type."""


@dataclass(frozen=True)
class EventContract:
    """Everything known about one routing key."""

    routing_key: str
    type: str
    version: str
    producer: str
    consumers: tuple[str, ...]
    schema: Mapping[str, Any]
    bundled: Mapping[str, Any]
    validator: Validator
    fast: FastCheck | None = None


class ContractRegistry:
    """The contracts of one directory; build it with :meth:`load`."""

    def __init__(
        self,
        contracts_dir: Path,
        events: Mapping[str, EventContract],
        envelope_validator: Validator,
        catalog: EventCatalog,
        envelope_fast: FastCheck | None = None,
    ) -> None:
        self.contracts_dir = contracts_dir
        self._events = dict(events)
        self._by_type = {c.type: c.routing_key for c in events.values()}
        self._envelope = envelope_validator
        self._envelope_fast = envelope_fast
        self.catalog = catalog

    @classmethod
    def load(cls, contracts_dir: str | Path | None = None) -> ContractRegistry:
        """The registry of ``contracts_dir`` (default: :func:`default_contracts_dir`), cached."""
        path = Path(contracts_dir) if contracts_dir is not None else files.default_contracts_dir()
        return _load_cached(path.resolve())

    @classmethod
    def from_directory(cls, contracts_dir: str | Path) -> ContractRegistry:
        """Read ``contracts_dir`` now, bypassing the cache (for checks and diffs)."""
        return _load(Path(contracts_dir).resolve())

    @staticmethod
    def clear_cache() -> None:
        """Forget every loaded directory (for tests that edit contract files in place)."""
        _load_cached.cache_clear()

    # -- lookups -------------------------------------------------------------------

    def routing_keys(self) -> tuple[str, ...]:
        return tuple(sorted(self._events))

    def contract(self, routing_key: str) -> EventContract:
        try:
            return self._events[routing_key]
        except KeyError:
            known = ", ".join(self.routing_keys())
            raise UnknownRoutingKeyError(
                f"no contract for routing key {routing_key!r} (known: {known})"
            ) from None

    def schema_for(self, routing_key: str) -> dict[str, Any]:
        """A copy of the event's JSON Schema as written (with its ``$ref``s)."""
        return copy.deepcopy(dict(self.contract(routing_key).schema))

    def bundled_schema(self, routing_key: str) -> dict[str, Any]:
        """A copy of the event's schema with every ``$ref`` inlined (self-contained)."""
        return copy.deepcopy(dict(self.contract(routing_key).bundled))

    def type_for(self, routing_key: str) -> str:
        return self.contract(routing_key).type

    def routing_key_for_type(self, event_type: str) -> str:
        try:
            return self._by_type[event_type]
        except KeyError:
            raise UnknownRoutingKeyError(f"no contract for event type {event_type!r}") from None

    def producer_for(self, routing_key: str) -> str:
        return self.contract(routing_key).producer

    def consumers_of(self, routing_key: str) -> tuple[str, ...]:
        return self.contract(routing_key).consumers

    def schema_version(self, routing_key: str) -> str:
        return self.contract(routing_key).version

    # -- validation ----------------------------------------------------------------

    def validate_body(self, routing_key: str, body: Any) -> list[Violation]:
        """Violations of the routing key's body schema; empty when the body is valid."""
        contract = self._events.get(routing_key)
        if contract is None:
            return [_unknown(routing_key)]
        found = violations(contract.validator, body, BODY_ROOT, contract.fast)
        if isinstance(body, Mapping) and "type" in body and body["type"] != contract.type:
            found = [v for v in found if v.path != "$.type"]
            found.insert(
                0,
                Violation(
                    TYPE_MISMATCH,
                    f"body type {body['type']!r} is not {contract.type!r}, "
                    f"the type of routing key {routing_key!r}",
                    "$.type",
                ),
            )
        return found

    def validate_envelope(
        self, routing_key: str, properties: Mapping[str, Any], body: Any = None
    ) -> list[Violation]:
        """Violations of the envelope schema and of the cross-field rules."""
        contract = self._events.get(routing_key)
        if contract is None:
            return [_unknown(routing_key)]
        props = {k: v for k, v in properties.items() if v is not None}
        found = violations(self._envelope, props, ENVELOPE_ROOT, self._envelope_fast)
        found.extend(_cross_rules(contract, props, body))
        return found

    def validate_message(
        self, routing_key: str, properties: Mapping[str, Any], body_bytes: bytes
    ) -> list[Violation]:
        """Everything about one message: JSON, envelope and body."""
        return self.validate_delivered(IncomingMessage(routing_key, body_bytes, properties))

    def validate_delivered(self, message: IncomingMessage) -> list[Violation]:
        """Everything about one delivered message, under the event's own routing key;
        the body is the message's own parse, shared with whoever reads it next."""
        routing_key, properties = message.event_key, message.properties
        if routing_key not in self._events:
            return [_unknown(routing_key)]
        try:
            body = message.body
        except ValueError as exc:
            envelope = self.validate_envelope(routing_key, properties)
            return [Violation(INVALID_JSON, f"body is not JSON: {exc}", BODY_ROOT), *envelope]
        return [
            *self.validate_envelope(routing_key, properties, body),
            *self.validate_body(routing_key, body),
        ]


def _unknown(routing_key: str) -> Violation:
    return Violation(
        UNKNOWN_ROUTING_KEY, f"no contract for routing key {routing_key!r}", "routing_key"
    )


def _cross_rules(contract: EventContract, props: Mapping[str, Any], body: Any) -> list[Violation]:
    amqp_type = _text(props.get("type"))
    body_type = _text(body.get("type")) if isinstance(body, Mapping) else None
    app_id = _text(props.get("app_id"))
    headers = props.get("headers")
    version = _text(headers.get(VERSION_HEADER)) if isinstance(headers, Mapping) else None
    rules = [  # (broken, code, message, path)
        (
            amqp_type is not None and amqp_type != contract.type,
            TYPE_MISMATCH,
            f"type {amqp_type!r} does not match routing key {contract.routing_key!r} "
            f"(expected {contract.type!r})",
            "properties.type",
        ),
        (
            None not in (amqp_type, body_type) and body_type != amqp_type,
            TYPE_MISMATCH,
            f"type {amqp_type!r} differs from the body's type {body_type!r}",
            "properties.type",
        ),
        (
            app_id is not None and app_id != contract.producer,
            WRONG_PRODUCER,
            f"{app_id!r} may not publish {contract.routing_key!r}; "
            f"its producer is {contract.producer!r}",
            "properties.app_id",
        ),
        (
            version is not None and version.isdigit() and version != contract.version,
            SCHEMA_VERSION_MISMATCH,
            f"message says schema version {version!r}; the contract for "
            f"{contract.routing_key!r} is version {contract.version!r}",
            f"properties.headers.{VERSION_HEADER}",
        ),
    ]
    return [Violation(code, message, path) for broken, code, message, path in rules if broken]


def _text(value: Any) -> str | None:
    """``value`` if it is a string, else None (a property of another type is not read)."""
    return value if isinstance(value, str) else None


@functools.lru_cache(maxsize=16)
def _load_cached(contracts_dir: Path) -> ContractRegistry:
    return _load(contracts_dir)


def _load(contracts_dir: Path) -> ContractRegistry:
    if not contracts_dir.is_dir():
        raise ContractLoadError("contracts directory does not exist", contracts_dir)
    schemas = {p: files.load_json(p) for p in files.all_schema_paths(contracts_dir)}
    by_id = {s["$id"]: s for s in schemas.values() if isinstance(s, dict) and "$id" in s}
    registry = schema_registry(by_id.values())
    checker = format_checker()
    envelope_path = files.events_dir(contracts_dir) / files.ENVELOPE_SCHEMA
    if envelope_path not in schemas:
        raise ContractLoadError("missing", envelope_path)
    catalog = read_catalog(files.load_yaml(contracts_dir / files.ASYNCAPI_FILE))
    if catalog.problems:
        raise ContractLoadError("; ".join(catalog.problems), contracts_dir / files.ASYNCAPI_FILE)
    # Validators run on the schemas with their $refs inlined: resolving references on
    # every message costs more than half of the validation time.
    refs_registry = refs.file_registry(by_id)
    events = {}
    for routing_key, path in files.event_schema_paths(contracts_dir).items():
        schema = schemas[path]
        bundled = _bundle(schema, refs_registry, path)
        events[routing_key] = EventContract(
            routing_key=routing_key,
            type=_event_type(schema, path),
            version=str(schema.get("x-schema-version", "")),
            producer=_producer(catalog, routing_key, path),
            consumers=catalog.consumers_of(routing_key),
            schema=schema,
            bundled=bundled,
            validator=build_validator(bundled, registry, checker),
            fast=fast_check(bundled),
        )
    undescribed = sorted(set(catalog.routes) - set(events))
    if undescribed:
        raise ContractLoadError(f"AsyncAPI channels without an event schema: {undescribed}")
    envelope_schema = _bundle(schemas[envelope_path], refs_registry, envelope_path)
    envelope = build_validator(envelope_schema, registry, checker)
    return ContractRegistry(
        contracts_dir, events, envelope, catalog, envelope_fast=fast_check(envelope_schema)
    )


def _bundle(schema: Any, registry: Any, path: Path) -> dict[str, Any]:
    if not isinstance(schema, dict) or not isinstance(schema.get("$id"), str):
        raise ContractLoadError("not a JSON Schema with an $id", path)
    try:
        bundled: dict[str, Any] = refs.inline_refs(schema, schema["$id"], registry)
    except Unresolvable as exc:
        raise ContractLoadError(f"a $ref does not resolve: {exc}", path) from exc
    return bundled


def _event_type(schema: Any, path: Path) -> str:
    try:
        event_type = schema["properties"]["type"]["const"]
    except (KeyError, TypeError):
        raise ContractLoadError("properties.type.const (the event type) is missing", path) from None
    return str(event_type)


def _producer(catalog: EventCatalog, routing_key: str, path: Path) -> str:
    route = catalog.routes.get(routing_key)
    if route is None or len(route.producers) != 1:
        found = route.producers if route else ()
        raise ContractLoadError(
            f"AsyncAPI must name exactly one producer (send operation) for {routing_key!r}, "
            f"found {list(found)}",
            path,
        )
    return route.producers[0]
