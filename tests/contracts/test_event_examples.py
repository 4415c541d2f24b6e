"""Every example under contracts/events/examples is judged the way its folder says."""

from __future__ import annotations

import json

import pytest

from sandbox.contracts import ContractRegistry
from sandbox.contracts.files import Example, event_schema_paths, examples_for
from tests.contracts.helpers import REPO_CONTRACTS

ROUTING_KEYS = sorted(event_schema_paths(REPO_CONTRACTS))
EXAMPLES = [(rk, e) for rk in ROUTING_KEYS for e in examples_for(REPO_CONTRACTS, rk)]
SEED_000 = """{
  "type": "PAYMENT_COMPLETED",
  "tenantId": "tenant123",
  "paymentId": "pay_123456",
  "appointmentId": "appt_789",
  "customerId": "cust_456",
  "amount": 75.00,
  "currency": "USD",
  "status": "succeeded",
  "timestamp": "2023-06-01T12:34:56.789Z"
}"""


def _ids(pairs: list[tuple[str, Example]]) -> list[str]:
    return [example.name for _, example in pairs]


VALID = [(rk, e) for rk, e in EXAMPLES if e.valid]
INVALID = [(rk, e) for rk, e in EXAMPLES if not e.valid]


@pytest.mark.parametrize(("routing_key", "example"), VALID, ids=_ids(VALID))
def test_valid_example_is_accepted(
    registry: ContractRegistry, routing_key: str, example: Example
) -> None:
    body = json.loads(example.path.read_text())
    assert registry.validate_body(routing_key, body) == []


@pytest.mark.parametrize(("routing_key", "example"), INVALID, ids=_ids(INVALID))
def test_invalid_example_is_rejected_at_its_expected_path(
    registry: ContractRegistry, routing_key: str, example: Example
) -> None:
    body = json.loads(example.path.read_text())
    found = {(v.code, v.path) for v in registry.validate_body(routing_key, body)}
    assert (example.expected_code, example.expected_path) in found


def test_invalid_examples_break_one_rule_each(registry: ContractRegistry) -> None:
    noisy = {}
    for routing_key, example in INVALID:
        found = registry.validate_body(routing_key, json.loads(example.path.read_text()))
        if len(found) != 1:
            noisy[example.name] = [str(v) for v in found]
    assert noisy == {}


@pytest.mark.parametrize("routing_key", ROUTING_KEYS)
def test_every_event_has_two_valid_and_three_invalid_examples(routing_key: str) -> None:
    examples = examples_for(REPO_CONTRACTS, routing_key)
    assert sum(e.valid for e in examples) >= 2
    assert sum(not e.valid for e in examples) >= 3


def test_seed_000_example_is_stored_verbatim() -> None:
    path = REPO_CONTRACTS / "events/examples/payment.completed/valid/seed-000.json"
    assert path.read_text().strip() == SEED_000


def test_seed_000_message_is_a_valid_payment_completed_body(registry: ContractRegistry) -> None:
    assert registry.validate_body("payment.completed", json.loads(SEED_000)) == []


def test_examples_exist_only_for_known_routing_keys() -> None:
    folders = {p.name for p in (REPO_CONTRACTS / "events/examples").iterdir() if p.is_dir()}
    assert folders - {"envelope"} == set(ROUTING_KEYS)


def test_invalid_example_folders_list_an_expectation_for_every_file() -> None:
    missing = [e.name for _, e in INVALID if not (e.expected_code and e.expected_path)]
    assert missing == []
