"""How the validator judges event bodies: codes, paths and the rules schemas alone miss."""

from __future__ import annotations

import json
import time

import pytest

from sandbox.contracts import ContractRegistry, UnknownRoutingKeyError, example_body
from sandbox.contracts.validation import decimal_places, is_rfc3339_date_time


def codes_and_paths(found: list) -> set[tuple[str, str]]:
    return {(v.code, v.path) for v in found}


def test_missing_required_field_is_reported_with_its_path(registry: ContractRegistry) -> None:
    body = example_body("payment.completed")
    del body["paymentId"]
    assert codes_and_paths(registry.validate_body("payment.completed", body)) == {
        ("missing_property", "$.paymentId")
    }


def test_missing_nested_field_is_reported_with_its_nested_path(registry: ContractRegistry) -> None:
    body = example_body("payment.failed", error={"message": "declined"})
    found = registry.validate_body("payment.failed", body)
    assert codes_and_paths(found) == {("missing_property", "$.error.code")}


def test_wrong_type_is_a_schema_violation_at_the_field(registry: ContractRegistry) -> None:
    body = example_body("payment.completed", amount="75.00")
    [violation] = registry.validate_body("payment.completed", body)
    assert (violation.code, violation.path) == ("schema_violation", "$.amount")
    assert "number" in violation.message


def test_body_type_of_another_event_is_a_type_mismatch(registry: ContractRegistry) -> None:
    body = example_body("payment.completed", type="PAYMENT_FAILED")
    found = registry.validate_body("payment.completed", body)
    assert codes_and_paths(found) == {("type_mismatch", "$.type")}


def test_unknown_routing_key_is_reported_not_raised(registry: ContractRegistry) -> None:
    [violation] = registry.validate_body("payment.disputed", {})
    assert violation.code == "unknown_routing_key"


@pytest.mark.parametrize("amount", [0, 75, 75.0, 75.1, 75.01, 0.07, 19.99, 1000000])
def test_amounts_with_at_most_two_decimals_are_accepted(
    registry: ContractRegistry, amount: float
) -> None:
    body = example_body("payment.completed", amount=amount)
    assert registry.validate_body("payment.completed", body) == []


@pytest.mark.parametrize("amount", [10.005, 0.001, 1e-05, -1, 1000000.01, float("inf")])
def test_amounts_with_more_decimals_or_out_of_range_are_rejected(
    registry: ContractRegistry, amount: float
) -> None:
    body = example_body("payment.completed", amount=amount)
    assert codes_and_paths(registry.validate_body("payment.completed", body)) == {
        ("schema_violation", "$.amount")
    }


@pytest.mark.parametrize(
    "timestamp",
    ["2023-06-01T12:34:56Z", "2023-06-01T12:34:56.789Z", "2024-02-29T00:00:00.123456+00:00"],
)
def test_utc_rfc3339_timestamps_are_accepted(registry: ContractRegistry, timestamp: str) -> None:
    body = example_body("payment.completed", timestamp=timestamp)
    assert registry.validate_body("payment.completed", body) == []


@pytest.mark.parametrize(
    "timestamp",
    [
        "2023-02-29T12:00:00Z",  # not a leap year: the format check, not the pattern, says no
        "2023-06-01T25:00:00Z",
        "2023-06-01T12:34:56+02:00",
        "2023-06-01 12:34:56Z",
        "2023-06-01T12:34:56",
        "1685622896",
    ],
)
def test_other_timestamps_are_rejected(registry: ContractRegistry, timestamp: str) -> None:
    body = example_body("payment.completed", timestamp=timestamp)
    assert codes_and_paths(registry.validate_body("payment.completed", body)) == {
        ("schema_violation", "$.timestamp")
    }


def test_start_time_accepts_any_offset_but_checks_the_date(registry: ContractRegistry) -> None:
    ok = example_body("appointment.created", startTime="2023-06-05T09:30:00-05:00")
    bad = example_body("appointment.created", startTime="2023-06-31T09:30:00+02:00")
    assert registry.validate_body("appointment.created", ok) == []
    assert codes_and_paths(registry.validate_body("appointment.created", bad)) == {
        ("schema_violation", "$.startTime")
    }


@pytest.mark.parametrize(
    "name", ["cardNumber", "card_number", "number", "cvc", "CVV", "exp_month", "expiryYear", "pan"]
)
def test_card_fields_are_forbidden_by_name(registry: ContractRegistry, name: str) -> None:
    body = example_body("payment.completed", **{name: "4111111111111111"})
    [violation] = registry.validate_body("payment.completed", body)
    assert (violation.code, violation.path) == ("schema_violation", f"$.{name}")
    assert "forbidden" in violation.message


def test_card_fields_are_forbidden_inside_nested_objects(registry: ContractRegistry) -> None:
    error = {"code": "CARD_DECLINED", "message": "declined", "cvv": "123"}
    body = example_body("payment.failed", error=error)
    assert codes_and_paths(registry.validate_body("payment.failed", body)) == {
        ("schema_violation", "$.error.cvv")
    }


def test_unknown_fields_are_refused_by_name(registry: ContractRegistry) -> None:
    body = example_body("payment.created", discountCode="SPRING")
    [violation] = registry.validate_body("payment.created", body)
    assert (violation.path, violation.message) == (
        "$.discountCode",
        "unexpected property 'discountCode': the contract does not list it",
    )


def test_nullable_field_reports_why_its_value_is_wrong(registry: ContractRegistry) -> None:
    body = example_body("appointment.created", paymentId="has spaces")
    [violation] = registry.validate_body("appointment.created", body)
    assert violation.path == "$.paymentId"
    assert "does not match" in violation.message


def test_partial_refund_must_say_partially_refunded(registry: ContractRegistry) -> None:
    body = example_body("payment.refunded", refundType="partial", refundedAmount=10)
    assert codes_and_paths(registry.validate_body("payment.refunded", body)) == {
        ("schema_violation", "$.status")
    }


def test_every_violation_serialises_to_code_message_and_path(registry: ContractRegistry) -> None:
    [violation] = registry.validate_body(
        "payment.completed", example_body("payment.completed", currency="usd")
    )
    assert violation.to_dict() == {
        "code": "schema_violation",
        "message": violation.message,
        "path": "$.currency",
    }
    assert str(violation).startswith("schema_violation at $.currency: ")


def test_lookups_of_unknown_routing_keys_raise_a_lookup_error(registry: ContractRegistry) -> None:
    with pytest.raises(UnknownRoutingKeyError, match=r"payment\.disputed"):
        registry.schema_for("payment.disputed")
    with pytest.raises(UnknownRoutingKeyError):
        registry.routing_key_for_type("PAYMENT_DISPUTED")


def test_decimal_places_are_counted_on_the_shortest_form() -> None:
    assert [decimal_places(x) for x in (75.0, 75.1, 0.07, 1e-05, 120)] == [0, 1, 2, 5, 0]
    assert decimal_places(float("nan")) is None


def test_date_time_check_needs_an_offset_and_a_real_date() -> None:
    assert is_rfc3339_date_time("2023-06-01T12:34:56.5+05:30")
    assert not is_rfc3339_date_time("2023-06-01T12:34:56")
    assert not is_rfc3339_date_time("2023-13-01T12:34:56Z")


def test_validating_a_message_takes_well_under_a_millisecond(registry: ContractRegistry) -> None:
    body = example_body("payment.refunded")
    raw = json.dumps(body).encode()
    props = {
        "message_id": "m-1",
        "correlation_id": "c-1",
        "type": "PAYMENT_REFUNDED",
        "timestamp": 1_700_000_000,
        "content_type": "application/json",
        "delivery_mode": 2,
        "app_id": "payment-service",
        "headers": {"x-schema-version": "1"},
    }
    assert registry.validate_message("payment.refunded", props, raw) == []
    rounds = 300
    best = min(_timed(registry, props, raw, rounds) for _ in range(3))
    assert best / rounds < 0.001, f"{best / rounds * 1e6:.0f} µs per message"


def _timed(registry: ContractRegistry, props: dict, raw: bytes, rounds: int) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        registry.validate_message("payment.refunded", props, raw)
    return time.perf_counter() - started


def test_every_event_schema_compiles_for_the_fast_check(registry: ContractRegistry) -> None:
    # jsonschema-rs before 0.40 has no custom keywords: every schema would fall back to
    # the slow validator without a word (validation.fast_check).
    slow = [k for k in registry.routing_keys() if registry.contract(k).fast is None]
    assert slow == []
    assert registry.contract("payment.completed").fast(example_body("payment.completed"))
