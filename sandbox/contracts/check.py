"""``contracts check``: is the contracts directory sound, and does it agree with the topology?

Each check is a plain function from a :class:`_Context` to a list of problems (or a
:class:`_Skip`), run in order; one failing check never stops the others, so a broken
tree gets the whole list of what is wrong at once.  The AsyncAPI document is validated
against the official AsyncAPI 3.0.0 JSON Schema (vendored in ``meta/``), OpenAPI
documents with ``openapi-spec-validator`` when it is installed.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import SchemaError, best_match

from sandbox.contracts import files, refs
from sandbox.contracts.asyncapi import EventCatalog, read_catalog
from sandbox.contracts.check_report import FAILED, PASSED, SKIPPED, CheckReport, CheckResult
from sandbox.contracts.files import ContractLoadError
from sandbox.contracts.openapi_check import openapi_problems, spec_validator_available
from sandbox.contracts.registry import ContractRegistry
from sandbox.topology import topic_matches

META_2020_12 = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://payment-flow-sandbox.dev/contracts/events/"
ASYNCAPI_META = Path(__file__).with_name("meta") / "asyncapi-3.0.0.schema.json"
MIN_VALID_EXAMPLES = 2
MIN_INVALID_EXAMPLES = 3


class _Skip(Exception):
    """Raised by a check that does not apply (the message says why)."""


@dataclass
class _Context:
    contracts_dir: Path
    topology: Mapping[str, Any] | None
    notes: list[str] = field(default_factory=list)  # said by a check that passed

    @functools.cached_property
    def schemas(self) -> dict[Path, Any]:
        return {p: _try_load(p) for p in files.all_schema_paths(self.contracts_dir)}

    @functools.cached_property
    def registry(self) -> ContractRegistry:
        return ContractRegistry.from_directory(self.contracts_dir)

    @functools.cached_property
    def asyncapi(self) -> Any:
        return files.load_yaml(self.contracts_dir / files.ASYNCAPI_FILE)

    @functools.cached_property
    def catalog(self) -> EventCatalog:
        return read_catalog(self.asyncapi)


def _try_load(path: Path) -> Any:
    try:
        return files.load_json(path)
    except ContractLoadError as exc:
        return exc


def _rel(ctx: _Context, path: Path) -> str:
    try:
        return str(path.relative_to(ctx.contracts_dir))
    except ValueError:
        return str(path)


# -- the checks ----------------------------------------------------------------------


def check_schemas_valid(ctx: _Context) -> list[str]:
    problems: list[str] = []
    if not ctx.schemas:
        return ["no schemas in events/"]
    for path, schema in ctx.schemas.items():
        name = _rel(ctx, path)
        if isinstance(schema, ContractLoadError):
            problems.append(str(schema))
            continue
        if not isinstance(schema, dict) or schema.get("$schema") != META_2020_12:
            problems.append(f"{name}: $schema must be {META_2020_12}")
            continue
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            problems.append(f"{name}: {exc.message} at {exc.json_path}")
        if schema.get("$id") != ID_BASE + path.name:
            problems.append(f"{name}: $id must be {ID_BASE + path.name}")
    return problems


def check_event_conventions(ctx: _Context) -> list[str]:
    problems = []
    for routing_key, path in files.event_schema_paths(ctx.contracts_dir).items():
        schema = ctx.schemas.get(path)
        if not isinstance(schema, dict):
            continue  # reported by schemas-valid
        props = schema.get("properties", {})
        if not isinstance(props.get("type", {}).get("const"), str):
            problems.append(f"{routing_key}: properties.type.const must name the event type")
        if "type" not in schema.get("required", []):
            problems.append(f"{routing_key}: 'type' must be required")
        if schema.get("additionalProperties") is not False:
            problems.append(f"{routing_key}: additionalProperties must be false (see README)")
        if not str(schema.get("x-schema-version", "")).isdigit():
            problems.append(f"{routing_key}: x-schema-version must be a string of digits")
    return problems


def check_refs_resolve(ctx: _Context) -> list[str]:
    loaded = {p: s for p, s in ctx.schemas.items() if isinstance(s, dict)}
    registry = refs.file_registry({s["$id"]: s for s in loaded.values() if "$id" in s})
    problems: list[str] = []
    for path, schema in loaded.items():
        base = schema.get("$id") or path.resolve().as_uri()
        problems.extend(
            f"{_rel(ctx, path)}: {p}" for p in refs.unresolvable_refs(schema, base, registry)
        )
    return problems


def check_examples_present(ctx: _Context) -> list[str]:
    problems = []
    routing_keys = set(files.event_schema_paths(ctx.contracts_dir))
    for routing_key in sorted(routing_keys):
        examples = files.examples_for(ctx.contracts_dir, routing_key)
        valid = sum(e.valid for e in examples)
        invalid = len(examples) - valid
        if valid < MIN_VALID_EXAMPLES or invalid < MIN_INVALID_EXAMPLES:
            problems.append(
                f"{routing_key}: {valid} valid and {invalid} invalid examples; "
                f"at least {MIN_VALID_EXAMPLES} and {MIN_INVALID_EXAMPLES} are required"
            )
        problems.extend(
            f"{e.name}: no expected code and path in expectations.yaml"
            for e in examples
            if not e.valid and not (e.expected_code and e.expected_path)
        )
    for group in files.example_groups(ctx.contracts_dir):
        if group not in routing_keys and group != files.ENVELOPE_EXAMPLES:
            problems.append(f"examples/{group}: no event schema for this routing key")
    return problems


def check_event_examples(ctx: _Context) -> list[str]:
    registry = ctx.registry
    problems = []
    for routing_key in registry.routing_keys():
        for example in files.examples_for(ctx.contracts_dir, routing_key):
            try:
                body = files.load_json(example.path)
            except ContractLoadError as exc:
                problems.append(str(exc))
                continue
            found = registry.validate_body(routing_key, body)
            problems.extend(_judge(example, found))
    return problems


def check_envelope_examples(ctx: _Context) -> list[str]:
    registry = ctx.registry
    problems = []
    examples = files.examples_for(ctx.contracts_dir, files.ENVELOPE_EXAMPLES)
    if not examples:
        return ["examples/envelope has no examples"]
    for example in examples:
        message = files.load_json(example.path)
        if not isinstance(message, dict) or not {"routingKey", "properties", "body"} <= set(
            message
        ):
            problems.append(f"{example.name}: must hold routingKey, properties and body")
            continue
        body = json.dumps(message["body"]).encode()
        found = registry.validate_message(message["routingKey"], message["properties"], body)
        problems.extend(_judge(example, found))
    return problems


def _judge(example: files.Example, found: list[Any]) -> list[str]:
    if example.valid:
        return [f"{example.name}: rejected: {v}" for v in found]
    if not found:
        return [f"{example.name}: accepted, but it is an invalid example"]
    if example.expected_code and not any(
        v.code == example.expected_code and v.path == example.expected_path for v in found
    ):
        seen = "; ".join(str(v) for v in found)
        return [
            f"{example.name}: expected {example.expected_code} at {example.expected_path}, "
            f"got {seen}"
        ]
    return []


def check_asyncapi_schema(ctx: _Context) -> list[str]:
    document = ctx.asyncapi
    if not isinstance(document, dict) or document.get("asyncapi") != "3.0.0":
        return ["asyncapi.yaml must declare asyncapi: 3.0.0"]
    meta = _asyncapi_meta_validator()
    return [
        f"{e.json_path}: {best_match([e]).message[:300]}"
        for e in sorted(meta.iter_errors(document), key=lambda e: e.json_path)
    ]


@functools.lru_cache(maxsize=1)
def _asyncapi_meta_validator() -> Draft7Validator:
    return Draft7Validator(files.load_json(ASYNCAPI_META))


def check_asyncapi_references(ctx: _Context) -> list[str]:
    path = ctx.contracts_dir / files.ASYNCAPI_FILE
    problems = refs.unresolvable_refs(ctx.asyncapi, path.resolve().as_uri(), refs.file_registry())
    return problems + list(ctx.catalog.problems)


def check_asyncapi_matches_schemas(ctx: _Context) -> list[str]:
    catalog = ctx.catalog
    schemas = files.event_schema_paths(ctx.contracts_dir)
    problems = [
        f"{rk}: schema has no routing-key channel" for rk in schemas if rk not in catalog.routes
    ]
    for routing_key, route in catalog.routes.items():
        path = schemas.get(routing_key)
        if path is None:
            problems.append(f"{routing_key}: channel has no events/{routing_key}.schema.json")
            continue
        schema = ctx.schemas.get(path)
        event_type = (
            schema.get("properties", {}).get("type", {}).get("const")
            if isinstance(schema, dict)
            else None
        )
        if route.message_type != event_type:
            problems.append(
                f"{routing_key}: message type {route.message_type!r} differs from "
                f"the schema's {event_type!r}"
            )
        if route.schema_ref != f"./events/{routing_key}.schema.json":
            problems.append(f"{routing_key}: payload must $ref ./events/{routing_key}.schema.json")
        if len(route.producers) != 1:
            problems.append(
                f"{routing_key}: {len(route.producers)} send operations, need exactly one"
            )
    problems.extend(_queue_problems(catalog))
    if len(catalog.exchanges()) > 1:
        problems.append(
            f"routing keys name {len(catalog.exchanges())} different exchanges, expected one"
        )
    return problems


def _queue_problems(catalog: EventCatalog) -> list[str]:
    problems = []
    for queue in catalog.queues.values():
        if not queue.consumers:
            problems.append(f"queue {queue.name}: no receive operation consumes it")
        delivered = {
            r.message_id
            for r in catalog.routes.values()
            if any(topic_matches(p, r.routing_key) for p in queue.bindings)
        }
        for service, messages in queue.consumers.items():
            for missing in sorted(m for m in delivered - set(messages) if m):
                problems.append(
                    f"queue {queue.name}: {service} does not declare {missing}, "
                    "which its bindings deliver"
                )
            for extra in sorted(set(messages) - delivered):
                problems.append(
                    f"queue {queue.name}: {service} declares {extra}, "
                    "which its bindings never deliver"
                )
    return problems


def check_openapi(ctx: _Context) -> list[str]:
    paths = files.openapi_paths(ctx.contracts_dir)
    if not paths:
        raise _Skip("no OpenAPI documents in http/")
    if not spec_validator_available():
        ctx.notes.append("openapi-spec-validator is not installed: structural checks only")
    ctx.notes.append(f"{len(paths)} document(s): " + ", ".join(p.name for p in paths))
    return [f"{_rel(ctx, p)}: {problem}" for p in paths for problem in openapi_problems(p)]


def check_topology(ctx: _Context) -> list[str]:
    if ctx.topology is None:
        raise _Skip("no topology given (pass sandbox.topology's to_contract_view())")
    return topology_problems(ctx.catalog, ctx.topology)


def topology_problems(catalog: EventCatalog, topology: Mapping[str, Any]) -> list[str]:
    """Differences between the AsyncAPI document and a topology in contract-view shape."""
    problems = []
    exchange = topology.get("exchange", {})
    for declared in catalog.exchanges():
        for key in ("name", "type", "durable"):
            if key in exchange and declared.get(key) != exchange[key]:
                problems.append(
                    f"exchange {key}: AsyncAPI says {declared.get(key)!r}, "
                    f"topology says {exchange[key]!r}"
                )
    work_queues = {q["name"]: q for q in topology.get("queues", []) if q.get("consumer")}
    for name in sorted(set(catalog.queues) - set(work_queues)):
        problems.append(f"queue {name}: in AsyncAPI, not in the topology")
    for name in sorted(set(work_queues) - set(catalog.queues)):
        problems.append(f"queue {name}: in the topology, not in AsyncAPI")
    for name in sorted(set(work_queues) & set(catalog.queues)):
        ours, theirs = catalog.queues[name], work_queues[name]
        theirs_bindings = sorted(theirs.get("bindings", []))
        if sorted(ours.bindings) != theirs_bindings:
            problems.append(
                f"queue {name}: AsyncAPI binds {sorted(ours.bindings)}, "
                f"topology binds {theirs_bindings}"
            )
        if sorted(ours.consumers) != [theirs["consumer"]]:
            problems.append(
                f"queue {name}: AsyncAPI consumers {sorted(ours.consumers)}, "
                f"topology consumer {theirs['consumer']!r}"
            )
    return problems


Check = Callable[[_Context], list[str]]

CHECKS: tuple[tuple[str, str, Check], ...] = (
    (
        "schemas-valid",
        "every schema is valid JSON Schema 2020-12 with the right $id",
        check_schemas_valid,
    ),
    (
        "event-schema-conventions",
        "event schemas name their type, version and close their fields",
        check_event_conventions,
    ),
    ("refs-resolve", "every $ref in the event schemas resolves", check_refs_resolve),
    (
        "examples-present",
        "every event has valid and invalid examples with expectations",
        check_examples_present,
    ),
    (
        "event-examples",
        "valid examples pass, invalid ones fail where expected",
        check_event_examples,
    ),
    (
        "envelope-examples",
        "whole-message examples obey the envelope rules",
        check_envelope_examples,
    ),
    (
        "asyncapi-schema",
        "asyncapi.yaml is valid against the official AsyncAPI 3.0.0 schema",
        check_asyncapi_schema,
    ),
    (
        "asyncapi-references",
        "every $ref in asyncapi.yaml resolves and follows our conventions",
        check_asyncapi_references,
    ),
    (
        "asyncapi-matches-schemas",
        "channels, messages, operations and schemas agree",
        check_asyncapi_matches_schemas,
    ),
    ("openapi-documents", "every http/*.openapi.yaml is a valid OpenAPI document", check_openapi),
    ("topology-agrees", "AsyncAPI agrees with the broker topology", check_topology),
)


def check_names() -> tuple[str, ...]:
    return tuple(name for name, _, _ in CHECKS)


def run_check(
    contracts_dir: str | Path | None = None,
    topology: Mapping[str, Any] | None = None,
    only: Collection[str] | None = None,
) -> CheckReport:
    """Run the checks (all, or those named in ``only``) on ``contracts_dir``.

    ``contracts_dir`` defaults to ``default_contracts_dir()``; ``topology`` is the
    contract view of the broker topology (``Topology.to_contract_view()``), and without
    it the topology check is skipped.
    """
    unknown = set(only or ()) - set(check_names())
    if unknown:
        raise ValueError(f"unknown checks {sorted(unknown)}; known: {', '.join(check_names())}")
    path = Path(contracts_dir) if contracts_dir is not None else files.default_contracts_dir()
    ctx = _Context(path.resolve(), topology)
    selected = [c for c in CHECKS if only is None or c[0] in only]
    return CheckReport(ctx.contracts_dir, tuple(_run(ctx, *check) for check in selected))


def _run(ctx: _Context, name: str, description: str, check: Check) -> CheckResult:
    started = time.perf_counter()
    ctx.notes.clear()
    try:
        problems = check(ctx)
    except _Skip as skip:
        return CheckResult(name, description, SKIPPED, (str(skip),), time.perf_counter() - started)
    except Exception as exc:  # a broken tree must yield a report, never a traceback
        problems = [f"cannot run: {type(exc).__name__}: {exc}"]
    status = FAILED if problems else PASSED
    details = tuple(problems) if problems else tuple(ctx.notes)
    return CheckResult(name, description, status, details, time.perf_counter() - started)
