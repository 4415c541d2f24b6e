"""``diff_contracts`` classifies event-schema and AsyncAPI changes exactly.

Each case applies one change to a copy of the repository's contracts and states the
complete expected outcome: (severity, rule, location) for every reported change, so a
false alarm fails a case as surely as a missed break.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.contracts import ContractRegistry, diff_contracts
from tests.contracts.helpers import REPO_CONTRACTS, edit_json, edit_yaml

Mutation = Callable[[Path], None]
Expected = set[tuple[str, str, str]]


@dataclass(frozen=True)
class Case:
    id: str
    mutate: Mutation
    expected: Expected
    on_base: bool = False  # apply the mutation to the base tree instead of the head


def schema(routing_key: str, change: Callable[[dict[str, Any]], Any]) -> Mutation:
    return lambda root: edit_json(root / f"events/{routing_key}.schema.json", change)


def common(change: Callable[[dict[str, Any]], Any]) -> Mutation:
    return lambda root: edit_json(root / "events/common.schema.json", lambda s: change(s["$defs"]))


def asyncapi(change: Callable[[dict[str, Any]], Any]) -> Mutation:
    return lambda root: edit_yaml(root / "asyncapi.yaml", change)


def inline(routing_key: str, prop: str, **changes: Any) -> Mutation:
    """Replace a property's $ref by its resolved schema, with ``changes`` applied."""

    def change(s: dict[str, Any]) -> None:
        bundled = ContractRegistry.load(REPO_CONTRACTS).bundled_schema(routing_key)
        s["properties"][prop] = {**bundled["properties"][prop], **changes}

    return schema(routing_key, change)


def add_props(**props: Any) -> Callable[[dict[str, Any]], None]:
    return lambda s: s["properties"].update(props)


def rename_reason(s: dict[str, Any]) -> None:
    s["properties"]["cancelReason"] = s["properties"].pop("reason")
    s["required"] = [("cancelReason" if r == "reason" else r) for r in s["required"]]


def add_event(root: Path) -> None:
    source = json.loads((root / "events/payment.cancelled.schema.json").read_text())
    source["$id"] = source["$id"].replace("payment.cancelled", "payment.disputed")
    source["properties"]["type"]["const"] = "PAYMENT_DISPUTED"
    (root / "events/payment.disputed.schema.json").write_text(json.dumps(source))


def remove_queue(doc: dict[str, Any]) -> None:
    del doc["channels"]["notifierPaymentEventsQueue"]
    del doc["operations"]["notifierService_receivePaymentEvents"]


def remove_routing_key(doc: dict[str, Any]) -> None:
    del doc["channels"]["notificationFailed"]
    del doc["operations"]["notifierService_sendNotificationFailed"]
    del doc["components"]["messages"]["NotificationFailed"]


def add_routing_key(doc: dict[str, Any]) -> None:
    channel = json.loads(json.dumps(doc["channels"]["paymentCancelled"]))
    channel["address"] = channel["title"] = "payment.disputed"
    doc["channels"]["paymentDisputed"] = channel


def stop_receiving_created(doc: dict[str, Any]) -> None:
    op = doc["operations"]["appointmentService_receivePaymentEvents"]
    op["messages"] = [m for m in op["messages"] if not m["$ref"].endswith("/PaymentCreated")]


def queue_bindings(channel: str, bindings: list[str]) -> Mutation:
    return asyncapi(lambda d: d["channels"][channel].update({"x-bindings": bindings}))


B, C = "breaking", "compatible"
NULLABLE_PAYMENT_ID = "Absent or null: the appointment is not paid yet."

CASES = [
    Case("no-change", lambda root: None, set()),
    Case(
        "description-edited",
        schema("payment.completed", lambda s: s.update(description="Money arrived.")),
        {(C, "annotation-changed", "payment.completed $")},
    ),
    Case(
        "optional-field-added",
        schema("payment.completed", add_props(receiptUrl={"type": "string"})),
        {(C, "optional-field-added", "payment.completed $.receiptUrl")},
    ),
    Case(
        "required-field-added",
        schema(
            "payment.completed",
            lambda s: (
                add_props(receiptUrl={"type": "string"})(s),
                s["required"].append("receiptUrl"),
            ),
        ),
        {(B, "required-field-added", "payment.completed $.receiptUrl")},
    ),
    Case(
        "field-removed",
        schema("payment.created", lambda s: s["properties"].pop("customerName")),
        {(B, "field-removed", "payment.created $.customerName")},
    ),
    Case(
        "field-renamed",
        schema("payment.cancelled", rename_reason),
        {(B, "field-renamed", "payment.cancelled $.reason")},
    ),
    Case(
        "field-made-required",
        schema("payment.created", lambda s: s["required"].append("customerEmail")),
        {(B, "field-made-required", "payment.created $.customerEmail")},
    ),
    Case(
        "field-made-optional",
        schema("payment.failed", lambda s: s["required"].remove("error")),
        {(B, "field-made-optional", "payment.failed $.error")},
    ),
    Case(
        "field-made-optional-on-an-event-nobody-consumes",
        schema("notification.sent", lambda s: s["required"].remove("recipient")),
        {(C, "field-made-optional", "notification.sent $.recipient")},
    ),
    Case(
        "type-narrowed",
        inline("payment.completed", "amount", type="integer"),
        {(B, "type-narrowed", "payment.completed $.amount")},
    ),
    Case(
        "type-changed",
        inline("payment.completed", "tenantId", type="integer"),
        {(B, "type-changed", "payment.completed $.tenantId")},
    ),
    Case(
        "enum-value-removed",
        schema(
            "payment.refunded",
            lambda s: s["properties"]["status"]["enum"].remove("partially_refunded"),
        ),
        {(B, "enum-value-removed", "payment.refunded $.status")},
    ),
    Case(
        "enum-value-added",
        schema("payment.completed", lambda s: s["properties"]["status"]["enum"].append("captured")),
        {(C, "enum-value-added", "payment.completed $.status")},
    ),
    Case(
        "format-added",
        schema("appointment.created", lambda s: s["properties"]["service"].update(format="uuid")),
        {(B, "format-added", "appointment.created $.service")},
    ),
    Case(
        "pattern-tightened",
        inline("payment.created", "currency", pattern="^(USD|EUR)$"),
        {(B, "pattern-tightened", "payment.created $.currency")},
    ),
    Case(
        "pattern-relaxed",
        inline("payment.created", "currency", pattern="^[A-Z]{3,4}$"),
        {(B, "pattern-relaxed", "payment.created $.currency")},
    ),
    Case(
        "max-length-lowered",
        schema("appointment.created", lambda s: s["properties"]["service"].update(maxLength=50)),
        {(B, "constraint-tightened", "appointment.created $.service")},
    ),
    Case(
        "max-length-raised",
        schema("appointment.created", lambda s: s["properties"]["service"].update(maxLength=400)),
        {(B, "constraint-relaxed", "appointment.created $.service")},
    ),
    Case(
        "max-length-raised-on-an-event-nobody-consumes",
        inline("notification.sent", "template", maxLength=200),
        {(C, "constraint-relaxed", "notification.sent $.template")},
    ),
    Case(
        "minimum-raised",
        inline("payment.completed", "amount", minimum=1),
        {(B, "constraint-tightened", "payment.completed $.amount")},
    ),
    Case(
        "additional-properties-opened",
        schema("payment.completed", lambda s: s.update(additionalProperties=True)),
        {(C, "additional-properties-opened", "payment.completed $")},
    ),
    Case(
        "additional-properties-closed",
        schema("payment.completed", lambda s: s.update(additionalProperties=True)),
        {(B, "additional-properties-closed", "payment.completed $")},
        on_base=True,
    ),
    Case(
        "event-removed",
        lambda root: (root / "events/notification.failed.schema.json").unlink(),
        {(B, "event-removed", "notification.failed")},
    ),
    Case("event-added", add_event, {(C, "event-added", "payment.disputed")}),
    Case(
        "shared-limit-relaxed",
        common(lambda d: d["reason"].pop("maxLength")),
        {
            (B, "constraint-relaxed", f"{rk} $.reason")
            for rk in ("payment.refunded", "payment.cancelled", "appointment.cancelled")
        },
    ),
    Case(
        "shared-nested-pattern-changed",
        common(lambda d: d["error"]["properties"]["code"].update(pattern="^[A-Z_]+$")),
        {
            (B, "pattern-changed", f"{rk} $.error.code")
            for rk in ("payment.failed", "notification.failed")
        },
    ),
    Case(
        "field-made-nullable",
        schema(
            "appointment.confirmed",
            lambda s: s["properties"].update(
                paymentId={"anyOf": [s["properties"]["paymentId"], {"type": "null"}]}
            ),
        ),
        {(B, "type-widened", "appointment.confirmed $.paymentId")},
    ),
    Case(
        "nullable-removed",
        schema(
            "appointment.created",
            lambda s: s["properties"].update(
                paymentId={
                    "$ref": "common.schema.json#/$defs/paymentId",
                    "description": NULLABLE_PAYMENT_ID,
                }
            ),
        ),
        {(B, "type-narrowed", "appointment.created $.paymentId")},
    ),
    Case(
        "schema-version-bumped",
        schema("payment.completed", lambda s: s.update({"x-schema-version": "2"})),
        {(C, "schema-version-changed", "payment.completed $")},
    ),
    Case(
        "envelope-property-removed",
        schema("envelope", lambda s: s["properties"].pop("priority")),
        {(B, "field-removed", "envelope $.priority")},
    ),
    Case(
        "binding-removed",
        queue_bindings("notifierPaymentEventsQueue", []),
        {(B, "binding-removed", "asyncapi queue notifier_payment_events")},
    ),
    Case(
        "binding-added",
        queue_bindings("appointmentNotificationsQueue", ["appointment.#", "notification.#"]),
        {(C, "binding-added", "asyncapi queue appointment_notifications")},
    ),
    Case(
        "queue-removed",
        asyncapi(remove_queue),
        {(B, "queue-removed", "asyncapi queue notifier_payment_events")},
    ),
    Case(
        "routing-key-removed",
        asyncapi(remove_routing_key),
        {(B, "routing-key-removed", "asyncapi notification.failed")},
    ),
    Case(
        "routing-key-added",
        asyncapi(add_routing_key),
        {(C, "routing-key-added", "asyncapi payment.disputed")},
    ),
    Case(
        "producer-changed",
        asyncapi(
            lambda d: d["operations"]["paymentService_sendPaymentCreated"].update(
                {"x-service": "appointment-service"}
            )
        ),
        {(B, "producer-changed", "asyncapi payment.created")},
    ),
    Case(
        "consumer-stops-receiving",
        asyncapi(stop_receiving_created),
        {(B, "consumer-message-removed", "asyncapi queue payment_events")},
    ),
    Case(
        "asyncapi-description-edited",
        asyncapi(lambda d: d["info"].update(description="Events.")),
        {(C, "annotation-changed", "asyncapi info")},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_change_is_classified_exactly(case: Case, tmp_path: Path) -> None:
    base, head = tmp_path / "base", tmp_path / "head"
    shutil.copytree(REPO_CONTRACTS, base)
    shutil.copytree(REPO_CONTRACTS, head)
    case.mutate(base if case.on_base else head)
    report = diff_contracts(base, head)
    found = [(c.severity, c.rule, c.location) for c in report.changes]
    assert len(found) == len(set(found)), found
    assert set(found) == case.expected
    assert report.breaking == any(severity == B for severity, _, _ in case.expected)


def test_the_suite_holds_enough_compatible_cases_to_catch_false_alarms() -> None:
    compatible = [c for c in CASES if c.expected and all(e[0] == C for e in c.expected)]
    assert len(CASES) >= 20 and len(compatible) >= 8


def test_identical_trees_render_a_no_change_table() -> None:
    report = diff_contracts(REPO_CONTRACTS, REPO_CONTRACTS)
    assert report.changes == ()
    assert report.render_table().startswith("no contract changes")


def test_enum_addition_tells_consumers_to_tolerate_the_value(contracts_copy: Path) -> None:
    schema("payment.completed", lambda s: s["properties"]["status"]["enum"].append("captured"))(
        contracts_copy
    )
    [change] = diff_contracts(REPO_CONTRACTS, contracts_copy).changes
    assert change.message == "value(s) ['captured'] added; readers must tolerate the new value"


def test_a_breaking_event_change_names_the_consumers_it_breaks(contracts_copy: Path) -> None:
    schema("payment.completed", lambda s: s["required"].remove("paymentId"))(contracts_copy)
    [change] = diff_contracts(REPO_CONTRACTS, contracts_copy).changes
    assert change.message == (
        "field 'paymentId' is no longer required; breaks appointment-service, notifier-service"
    )


def test_a_tightened_event_names_its_producer_and_the_queued_messages(
    contracts_copy: Path,
) -> None:
    schema("payment.created", lambda s: s["required"].append("customerEmail"))(contracts_copy)
    [change] = diff_contracts(REPO_CONTRACTS, contracts_copy).changes
    assert change.message.endswith("; breaks payment-service, messages already in queues")


def test_table_is_aligned_and_ends_with_the_verdict(contracts_copy: Path) -> None:
    schema("notification.sent", lambda s: s["required"].remove("recipient"))(contracts_copy)
    schema("payment.created", lambda s: s["properties"].pop("customerName"))(contracts_copy)
    lines = diff_contracts(REPO_CONTRACTS, contracts_copy).render_table().splitlines()
    assert lines[0].split() == ["SEVERITY", "RULE", "LOCATION", "CHANGE"]
    assert lines[2].startswith("breaking    field-removed ")
    assert lines[3].startswith("compatible  field-made-optional ")
    assert len({line.index(" payment.created") for line in lines[2:3]}) == 1
    assert lines[3].index(" notification.sent") == lines[2].index(" payment.created")
    assert lines[-1] == "BREAKING: 1 breaking, 0 undecided, 1 compatible change(s)"


def test_report_dict_counts_and_lists_changes(contracts_copy: Path) -> None:
    schema("notification.sent", lambda s: s["required"].remove("recipient"))(contracts_copy)
    report = diff_contracts(REPO_CONTRACTS, contracts_copy).to_dict()
    assert (report["verdict"], report["breaking"], report["undecided"]) == (
        "compatible",
        False,
        False,
    )
    assert report["counts"] == {"breaking": 0, "undecided": 0, "compatible": 1}
    assert report["changes"][0] == {
        "location": "notification.sent $.recipient",
        "kind": "field",
        "severity": "compatible",
        "rule": "field-made-optional",
        "message": "field 'recipient' is no longer required",
    }


def test_an_undecidable_pattern_makes_the_verdict_undecided(contracts_copy: Path) -> None:
    inline("payment.created", "currency", pattern="^(?!XXX)[A-Z]{3}$")(contracts_copy)
    report = diff_contracts(REPO_CONTRACTS, contracts_copy, base_label="origin/main")
    [change] = report.changes
    assert (change.severity, change.rule) == ("undecided", "pattern-undecided")
    assert (report.verdict(), report.breaking, report.undecided) == ("undecided", False, True)
    assert report.render_table().splitlines()[-1].startswith("UNDECIDED: 0 breaking, 1 undecided")
    assert report.base == "origin/main"
