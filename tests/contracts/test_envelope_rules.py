"""The AMQP envelope: its schema, and the cross-field rules between routing key, type,
producer, schema version and body."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.contracts import ContractRegistry, example_body
from sandbox.contracts.files import examples_for
from tests.contracts.helpers import REPO_CONTRACTS


def props(**overrides: Any) -> dict[str, Any]:
    base = {
        "message_id": "3f9a1c2e",
        "correlation_id": "flow-1",
        "type": "PAYMENT_COMPLETED",
        "timestamp": 1_685_622_896,
        "content_type": "application/json",
        "delivery_mode": 2,
        "app_id": "payment-service",
        "headers": {"x-schema-version": "1"},
    }
    base.update(overrides)
    return base


def body_bytes(routing_key: str = "payment.completed", **overrides: Any) -> bytes:
    return json.dumps(example_body(routing_key, **overrides)).encode()


def found(violations: list) -> set[tuple[str, str]]:
    return {(v.code, v.path) for v in violations}


def test_a_well_formed_message_has_no_violations(registry: ContractRegistry) -> None:
    assert registry.validate_message("payment.completed", props(), body_bytes()) == []


def test_type_property_must_match_the_routing_key(registry: ContractRegistry) -> None:
    result = registry.validate_message(
        "payment.completed", props(type="PAYMENT_FAILED"), body_bytes()
    )
    assert ("type_mismatch", "properties.type") in found(result)


def test_type_property_must_match_the_body_type(registry: ContractRegistry) -> None:
    result = registry.validate_envelope("payment.completed", props(), {"type": "PAYMENT_CREATED"})
    assert found(result) == {("type_mismatch", "properties.type")}
    assert "body's type" in result[0].message


def test_only_the_declared_producer_may_publish_a_routing_key(registry: ContractRegistry) -> None:
    result = registry.validate_envelope("payment.completed", props(app_id="notifier-service"))
    assert found(result) == {("wrong_producer", "properties.app_id")}
    assert "payment-service" in result[0].message


def test_appointment_events_come_from_the_appointment_service(registry: ContractRegistry) -> None:
    ok = props(type="APPOINTMENT_CONFIRMED", app_id="appointment-service")
    assert registry.validate_envelope("appointment.confirmed", ok) == []


def test_schema_version_header_must_match_the_contract(registry: ContractRegistry) -> None:
    result = registry.validate_envelope(
        "payment.completed", props(headers={"x-schema-version": "2"})
    )
    assert found(result) == {("schema_version_mismatch", "properties.headers.x-schema-version")}


def test_schema_version_header_is_required(registry: ContractRegistry) -> None:
    result = registry.validate_envelope("payment.completed", props(headers={}))
    assert found(result) == {("missing_property", "properties.headers.x-schema-version")}


@pytest.mark.parametrize("name", ["message_id", "correlation_id", "type", "app_id", "timestamp"])
def test_required_properties_are_reported_missing(registry: ContractRegistry, name: str) -> None:
    properties = props()
    del properties[name]
    assert ("missing_property", f"properties.{name}") in found(
        registry.validate_envelope("payment.completed", properties)
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("delivery_mode", 1),
        ("content_type", "text/plain"),
        ("timestamp", 1_685_622_896_789),
        ("timestamp", "2023-06-01T12:34:56Z"),
        ("message_id", ""),
    ],
)
def test_bad_property_values_are_schema_violations(
    registry: ContractRegistry, name: str, value: Any
) -> None:
    result = registry.validate_envelope("payment.completed", props(**{name: value}))
    assert found(result) == {("schema_violation", f"properties.{name}")}


def test_unset_properties_given_as_none_count_as_absent(registry: ContractRegistry) -> None:
    assert (
        registry.validate_envelope("payment.completed", props(reply_to=None, priority=None)) == []
    )


def test_retry_and_dead_letter_headers_are_allowed(registry: ContractRegistry) -> None:
    headers = {"x-schema-version": "1", "x-attempt": 3, "x-death": [{"count": 1}]}
    assert registry.validate_envelope("payment.completed", props(headers=headers)) == []


def test_unknown_amqp_property_is_refused(registry: ContractRegistry) -> None:
    result = registry.validate_envelope("payment.completed", props(routing_key="payment.completed"))
    assert found(result) == {("schema_violation", "properties.routing_key")}


def test_body_that_is_not_json_is_reported_as_invalid_json(registry: ContractRegistry) -> None:
    result = registry.validate_message("payment.completed", props(), b"\xff\xfe not json")
    assert found(result) == {("invalid_json", "$")}


def test_nan_is_not_accepted_as_a_json_number(registry: ContractRegistry) -> None:
    raw = body_bytes(amount=12.5).replace(b"12.5", b"NaN")
    assert b"NaN" in raw
    assert found(registry.validate_message("payment.completed", props(), raw)) == {
        ("invalid_json", "$")
    }


def test_message_violations_cover_envelope_and_body_together(registry: ContractRegistry) -> None:
    raw = body_bytes(currency="usd")
    result = registry.validate_message("payment.completed", props(app_id="x-service"), raw)
    assert found(result) == {
        ("wrong_producer", "properties.app_id"),
        ("schema_violation", "$.currency"),
    }


def test_unknown_routing_key_message_gets_one_violation(registry: ContractRegistry) -> None:
    result = registry.validate_message("payment.disputed", props(), b"{}")
    assert [v.code for v in result] == ["unknown_routing_key"]


ENVELOPE_EXAMPLES = examples_for(REPO_CONTRACTS, "envelope")


@pytest.mark.parametrize("example", ENVELOPE_EXAMPLES, ids=[e.name for e in ENVELOPE_EXAMPLES])
def test_envelope_examples_are_judged_as_labelled(registry: ContractRegistry, example: Any) -> None:
    message = json.loads(example.path.read_text())
    result = registry.validate_message(
        message["routingKey"], message["properties"], json.dumps(message["body"]).encode()
    )
    if example.valid:
        assert result == []
    else:
        assert (example.expected_code, example.expected_path) in found(result)
