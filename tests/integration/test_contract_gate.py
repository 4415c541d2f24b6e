"""The contract gate fails a test run when a producer emits a message off its contract."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

INNER_TEST = """
from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher


def publish(vhost, topology, body):
    with Publisher(vhost.url, topology.exchange.name) as publisher:
        publisher.publish(
            OutgoingMessage.event("payment.completed", body, producer="payment-service")
        )


def test_producer_with_a_valid_event(sandbox_declared_vhost, sandbox_topology):
    publish(sandbox_declared_vhost, sandbox_topology, example_body("payment.completed"))


def test_producer_with_a_wrong_field(sandbox_declared_vhost, sandbox_topology):
    body = example_body("payment.completed")
    body["amount"] = "75.00"          # a string where the contract says number
    publish(sandbox_declared_vhost, sandbox_topology, body)
"""


@pytest.fixture
def inner_env(monkeypatch, sandbox_broker, sandbox_admin):
    # The inner run reuses this session's broker instead of booting its own node.
    monkeypatch.setenv("RABBITMQ_URL", sandbox_broker.url)
    monkeypatch.setenv("RABBITMQ_MANAGEMENT_URL", sandbox_admin.management_url)


def test_gate_fails_the_test_whose_producer_emits_a_wrong_field(pytester, inner_env):
    pytester.makepyfile(test_inner=INNER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")

    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_producer_with_a_wrong_field*",
            "*contract gate: messages on the bus violated their contracts:*",
            "*payment.completed message * from payment-service: *$.amount*",
        ]
    )
    assert "test_producer_with_a_valid_event" not in "\n".join(
        line for line in result.stdout.lines if "ERROR at teardown" in line
    )


def test_gate_can_be_switched_off_for_foreign_contracts(pytester, inner_env):
    pytester.makepyfile(test_inner=INNER_TEST)
    pytester.makeini("[pytest]\nsandbox_contract_gate = false\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
