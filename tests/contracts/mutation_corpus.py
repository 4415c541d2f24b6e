"""The mutation corpus (``tests/contracts/mutations/*.yaml``): load, apply, classify.

A mutation edits copies of the contracts and of producer code.  Contract edits are
judged by ``diff_contracts`` (base: the repository's contracts, head: the edited copy);
producer-code edits by the live validation the services' own tests use: the edited
event builder is loaded from its copy, run on fixed inputs, and every event it builds
is validated against the head contracts (``ContractRegistry.validate_message``).  The
verdict is the worst of the two; the rules are the diff's rule ids plus the
violation codes.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from sandbox.contracts import ContractRegistry, diff_contracts
from sandbox.contracts.changes import BREAKING, COMPATIBLE, SEVERITY_ORDER
from sandbox.messaging import OutgoingMessage
from sandbox.services.payment import model
from tests.appointment.test_rules import appointment
from tests.notifier.test_storage import attempt

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIR = Path(__file__).resolve().parent / "mutations"
KINDS = ("direction", "composition", "security", "pattern", "structure", "producer-code")


class CorpusError(Exception):
    """A corpus entry cannot be applied as written."""


@dataclass(frozen=True)
class Edit:
    target: str  # a path relative to the repository, e.g. contracts/asyncapi.yaml
    ops: list[dict[str, Any]]
    side: str = "head"  # head, base (the change read backwards) or both


@dataclass(frozen=True)
class Mutation:
    id: str
    about: str
    covers: str
    edits: list[Edit]
    verdict: str
    rules: frozenset[str] = field(default_factory=frozenset)


def load_corpus(directory: Path = CORPUS_DIR) -> list[Mutation]:
    return [
        _mutation(raw, path.name)
        for path in sorted(directory.glob("*.yaml"))
        for raw in yaml.safe_load(path.read_text()) or []
    ]


def _mutation(raw: dict[str, Any], source: str) -> Mutation:
    where = f"{source}: entry {raw.get('id')!r}"
    try:
        mutation = Mutation(
            id=raw["id"],
            about=raw["about"],
            covers=raw["covers"],
            edits=[Edit(e["target"], e["ops"], e.get("side", "head")) for e in raw["edits"]],
            verdict=raw["verdict"],
            rules=frozenset(raw.get("rules") or ()),
        )
    except KeyError as exc:
        raise CorpusError(f"{where} lacks {exc}") from None
    if mutation.covers not in KINDS:
        raise CorpusError(f"{where}: covers must be one of {', '.join(KINDS)}")
    if mutation.verdict not in SEVERITY_ORDER:
        raise CorpusError(f"{where}: verdict must be one of {', '.join(SEVERITY_ORDER)}")
    for edit in mutation.edits:
        if edit.side not in ("head", "base", "both"):
            raise CorpusError(f"{where}: side must be head, base or both")
        if not (REPO / edit.target).is_file():
            raise CorpusError(f"{where}: {edit.target} is not a file of the repository")
        if not edit.target.startswith("contracts/") and edit.target not in PROBES:
            raise CorpusError(f"{where}: no probe runs {edit.target}; see PROBES")
    return mutation


# -- edits ----------------------------------------------------------------------------


def _walk(document: Any, pointer: str) -> tuple[Any, str]:
    """(parent container, last key) of a JSON pointer."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    if not parts:
        raise CorpusError("an op needs a path below the document root")
    node = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, parts[-1]


def apply_op(document: Any, op: dict[str, Any]) -> None:
    """One JSON-Patch-like op: add, replace, remove, remove-value or merge."""
    parent, key = _walk(document, op["path"])
    kind = op["op"]
    if isinstance(parent, list):
        index = len(parent) if key == "-" else int(key)
        if kind == "add":
            parent.insert(index, op["value"])
        elif kind == "remove":
            del parent[index]
        else:
            parent[index] = op["value"]
        return
    if kind in ("add", "replace"):
        if kind == "replace" and key not in parent:
            raise CorpusError(f"replace: nothing at {op['path']}")
        parent[key] = op["value"]
    elif kind == "remove":
        del parent[key]
    elif kind == "remove-value":
        parent[key].remove(op["value"])
    elif kind == "merge":
        parent[key].update(op["value"])
    else:
        raise CorpusError(f"unknown op {kind!r}")


def apply_edit(path: Path, ops: list[dict[str, Any]]) -> None:
    if all(op["op"] == "text" for op in ops):
        text = path.read_text()
        for op in ops:
            if text.count(op["old"]) != 1:
                raise CorpusError(f"{path.name}: {op['old']!r} must occur exactly once")
            text = text.replace(op["old"], op["new"])
        path.write_text(text)
        return
    if path.suffix == ".json":
        document = json.loads(path.read_text())
        for op in ops:
            apply_op(document, op)
        path.write_text(json.dumps(document, indent=2))
    else:
        document = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
        for op in ops:
            apply_op(document, op)
        path.write_text(yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False))


# -- classification -------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    verdict: str
    rules: frozenset[str]
    details: list[str]


def classify(mutation: Mutation, workdir: Path) -> Outcome:
    """Apply ``mutation`` to copies under ``workdir`` and classify it."""
    trees = {side: workdir / side for side in ("base", "head")}
    for root in trees.values():
        shutil.copytree(REPO / "contracts", root / "contracts")
    code = []
    for edit in mutation.edits:
        sides = ("base", "head") if edit.side == "both" else (edit.side,)
        for side in sides:
            target = trees[side] / edit.target
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO / edit.target, target)
            apply_edit(target, edit.ops)
        if not edit.target.startswith("contracts/"):
            code.append(edit.target)
    report = diff_contracts(trees["base"] / "contracts", trees["head"] / "contracts")
    severities = [c.severity for c in report.changes]
    rules = {c.rule for c in report.changes}
    details = [f"{c.severity} {c.rule} {c.location}: {c.message}" for c in report.changes]
    registry = ContractRegistry.load(trees["head"] / "contracts")
    for target in code:
        for message in PROBES[target](_load_module(trees["head"] / target)):
            props = message.envelope.properties()
            for v in registry.validate_message(message.routing_key, props, message.body):
                severities.append(BREAKING)
                rules.add(v.code)
                details.append(f"{message.routing_key} {v.code} {v.path}: {v.message}")
    verdict = min(severities, key=SEVERITY_ORDER.__getitem__, default=COMPATIBLE)
    return Outcome(verdict, frozenset(rules), details)


@contextmanager
def _registered(name: str, module: ModuleType) -> Iterator[None]:
    sys.modules[name] = module
    try:
        yield
    finally:
        del sys.modules[name]


def _load_module(path: Path) -> ModuleType:
    """The module at ``path`` (a mutated copy), imported under a name of its own."""
    name = f"mutated_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with _registered(name, module):
        spec.loader.exec_module(module)
    return module


# -- producer probes: fixed inputs for each event builder ------------------------------

AT = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


# The payment as the payment service stores it (most fields of seed 000's example).
PAYMENT = {
    "id": "pay_1",
    "tenant_id": "t1",
    "booking_id": "appt_1",
    "user_id": "cust_1",
    "amount_minor": 7510,
    "currency": "USD",
    "payment_method": "credit_card",
    "flow": "card",
    "status": "succeeded",
    "correlation_id": "flow-1",
    "created_at": AT,
    "updated_at": AT,
    "customer": model.Customer("jane@example.com", "Jane"),
}


def _payment_events(events: ModuleType) -> list[OutgoingMessage]:
    paid = model.Payment(**PAYMENT)
    failed = paid.with_changes(status="failed", error_code="CARD_DECLINED", error_message="no")
    refunded = paid.with_changes(status="refunded", refunded_minor=7510)
    refund = model.Refund("re_1", "pay_1", "t1", 7510, "customer asked", "succeeded", AT)
    return [
        events.message("payment.created", paid.with_changes(status="pending"), AT),
        events.message("payment.completed", paid, AT),
        events.message("payment.failed", failed, AT),
        events.message("payment.cancelled", paid.with_changes(status="cancelled"), AT),
        events.message("payment.refunded", refunded, AT, refund=refund),
    ]


def _appointment_events(events: ModuleType) -> list[OutgoingMessage]:
    booked = appointment()
    paid = appointment(status="confirmed", payment_status="paid", payment_id="pay_1")
    cancelled = appointment(status="cancelled")
    return [
        events.event_for("appointment.created", booked, correlation_id="flow-1"),
        events.event_for("appointment.confirmed", paid, correlation_id="flow-1"),
        events.event_for("appointment.cancelled", cancelled, correlation_id="flow-1"),
    ]


def _notification_events(events: ModuleType) -> list[OutgoingMessage]:
    sent = attempt("evt-1", "email")
    failed = replace(
        attempt("evt-1", "webhook", status="failed"),
        tenant_id=None,
        payment_id=None,
        recipient=None,
        error_code="SMTP_DOWN",
        error_message="the SMTP server refused",
    )
    return [events.notification(sent, "cust_1"), events.notification(failed, None)]


PROBES: dict[str, Callable[[ModuleType], list[OutgoingMessage]]] = {
    "sandbox/services/payment/events.py": _payment_events,
    "sandbox/services/appointment/events.py": _appointment_events,
    "sandbox/services/notifier/events.py": _notification_events,
}
