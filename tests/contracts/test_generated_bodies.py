"""Bodies generated from the schemas (hypothesis) or by ``fake_body`` (Faker) validate.

hypothesis-jsonschema 0.23.1 crashes on object schemas with this Hypothesis release
(``'many' object has no attribute 'more'``), so objects are assembled here with
``fixed_dictionaries`` and hypothesis-jsonschema generates every leaf value.  Three
things a generic generator cannot know are given explicitly: UTC timestamps (the
date-time format plus the UTC pattern), money with at most two decimals (our
``x-maxDecimalPlaces`` keyword), and the refund rule that status follows refundType.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from sandbox.contracts import ContractRegistry, UnknownRoutingKeyError, example_body, fake_body
from tests.contracts.helpers import REPO_CONTRACTS, load_example

ROUTING_KEYS = ContractRegistry.load(REPO_CONTRACTS).routing_keys()
_TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31))
UTC_TIMES = _TIMES.map(lambda d: d.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"))
ANY_OFFSET_TIMES = st.builds(
    lambda d, hours: d.replace(tzinfo=timezone(timedelta(hours=hours))).isoformat(),
    _TIMES,
    st.integers(-12, 14),
)
ANNOTATIONS = {"description", "title", "examples", "$comment"}


def strategy_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "properties" in schema:
        props, required = schema["properties"], set(schema.get("required", []))
        return st.fixed_dictionaries(
            {name: strategy_for(props[name]) for name in props if name in required},
            optional={name: strategy_for(props[name]) for name in props if name not in required},
        )
    if "anyOf" in schema:
        return st.one_of([strategy_for(branch) for branch in schema["anyOf"]])
    if "x-maxDecimalPlaces" in schema:
        cents = st.integers(int(schema["minimum"] * 100), int(schema["maximum"] * 100))
        return cents.map(lambda c: c / 100)
    if schema.get("format") == "date-time":
        return UTC_TIMES if "pattern" in schema else ANY_OFFSET_TIMES
    leaf = {k: v for k, v in schema.items() if k not in ANNOTATIONS}
    return from_schema(leaf)


def refund_rule(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("refundType") in ("full", "partial"):
        body["status"] = "refunded" if body["refundType"] == "full" else "partially_refunded"
    return body


@pytest.mark.parametrize("routing_key", ROUTING_KEYS)
def test_bodies_generated_from_the_schema_validate(
    registry: ContractRegistry, routing_key: str
) -> None:
    bodies = strategy_for(registry.bundled_schema(routing_key)).map(refund_rule)

    @settings(
        max_examples=15,
        deadline=None,
        database=None,  # keep no example database in the work tree
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(bodies)
    def check(body: dict[str, Any]) -> None:
        assert registry.validate_body(routing_key, body) == []

    check()


@pytest.mark.parametrize("routing_key", ROUTING_KEYS)
def test_fake_bodies_are_valid_for_many_seeds(registry: ContractRegistry, routing_key: str) -> None:
    for seed in range(15):
        body = fake_body(routing_key, seed)
        assert registry.validate_body(routing_key, body) == [], (seed, body)


def test_fake_bodies_repeat_for_a_seed_and_vary_across_seeds() -> None:
    assert fake_body("payment.completed", 7) == fake_body("payment.completed", 7)
    assert len({fake_body("payment.completed", seed)["paymentId"] for seed in range(10)}) == 10


def test_fake_body_accepts_a_random_instance() -> None:
    first = fake_body("appointment.created", random.Random(3))
    assert first == fake_body("appointment.created", random.Random(3))


def test_fake_full_refund_refunds_the_whole_amount() -> None:
    full = [
        b
        for b in (fake_body("payment.refunded", s) for s in range(20))
        if b["refundType"] == "full"
    ]
    assert full and all(b["refundedAmount"] == b["amount"] for b in full)


def test_example_body_is_the_documented_basic_example() -> None:
    assert example_body("payment.failed") == load_example("payment.failed", "valid", "basic.json")


def test_example_body_is_a_fresh_copy_with_overrides() -> None:
    body = example_body("payment.failed", amount=10.5)
    body["error"]["code"] = "CHANGED"
    assert body["amount"] == 10.5
    assert example_body("payment.failed")["error"]["code"] == "INSUFFICIENT_FUNDS"


def test_example_body_refuses_unknown_routing_keys() -> None:
    with pytest.raises(UnknownRoutingKeyError):
        example_body("payment.disputed")
