"""The plugin's fixtures as a user's session sees them: one broker, a gate on every test
that touches the bus, names of their own, and a running sandbox reused.

The inner sessions (pytester, in a subprocess) reuse this session's sandbox through
``SANDBOX_REUSE``, which is itself under test: they start in seconds and leave it up.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from sandbox.control.ownership import supervisor_running
from sandbox.control.state import SupervisorClient
from sandbox.pytest_plugin import Vhost
from sandbox.scenario import Flow

pytestmark = pytest.mark.integration


def test_a_vhost_and_a_flow_of_one_session_are_on_the_same_broker(
    sandbox_flow: Flow, sandbox_vhost: Vhost
) -> None:
    flow_node = urlsplit(sandbox_flow.broker_url)
    vhost_node = urlsplit(sandbox_vhost.url)
    assert (flow_node.hostname, flow_node.port) == (vhost_node.hostname, vhost_node.port)


@pytest.fixture
def reuse(monkeypatch: pytest.MonkeyPatch, sandbox_stack: SupervisorClient) -> SupervisorClient:
    """Inner sessions attach to this session's sandbox."""
    monkeypatch.setenv("SANDBOX_REUSE", str(sandbox_stack.state_file.state_dir))
    return sandbox_stack


OFF_CONTRACT = """
from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.topology import build
from sandbox.settings import BrokerSettings


def off_contract():
    body = example_body("payment.completed", appointmentId="appt_gate_probe")
    body["amount"] = "75.00"          # a string where the contract says number
    return body


def test_a_flow_that_publishes_off_contract(sandbox_flow):
    sandbox_flow.publish("payment.completed", off_contract(), producer="payment-service")
    sandbox_flow.expect("payment.completed")


def test_a_sandbox_test_that_publishes_off_contract(sandbox_stack):
    url = sandbox_stack.state()["broker"]["url"]
    event = OutgoingMessage.event("payment.completed", off_contract(), producer="payment-service")
    with Publisher(url, build(BrokerSettings()).exchange.name) as publisher:
        publisher.publish(event)


def test_a_flow_on_contract(sandbox_flow):
    sandbox_flow.appointments.create()
    sandbox_flow.expect("appointment.created")
"""


# this test's own gate sees the inner session's bad events on the shared sandbox
@pytest.mark.contract_violations_expected
def test_the_gate_fails_flows_and_sandbox_tests_that_put_an_event_off_contract(
    pytester: pytest.Pytester, reuse: SupervisorClient
) -> None:
    pytester.makepyfile(test_inner=OFF_CONTRACT)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    errors = [line for line in result.stdout.lines if "ERROR at teardown" in line]
    assert any("test_a_flow_that_publishes_off_contract" in line for line in errors), errors
    sandbox_test = "test_a_sandbox_test_that_publishes_off_contract"
    assert any(sandbox_test in line for line in errors), result.stdout.str()
    result.stdout.fnmatch_lines(["*payment.completed message * from payment-service: *$.amount*"])
    assert not any("test_a_flow_on_contract" in line for line in errors), errors


OWN_NAMES = """
import pytest


@pytest.fixture
def flow():
    return "mine"


@pytest.fixture
def topology():
    return "mine too"


def test_own_names_and_the_plugins_side_by_side(flow, topology, sandbox_flow, sandbox_topology):
    assert (flow, topology) == ("mine", "mine too")
    assert sandbox_topology.exchange.name == "appointment_events"
    sandbox_flow.appointments.create()
    sandbox_flow.expect("appointment.created")
"""


def test_a_session_reusing_a_running_sandbox_starts_in_seconds_and_leaves_it_up(
    pytester: pytest.Pytester, reuse: SupervisorClient
) -> None:
    pytester.makepyfile(test_inner=OWN_NAMES)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    # the session as pytest times it (the interpreter and imports come before it)
    [took] = [float(m) for m in re.findall(r" in ([0-9.]+)s", result.stdout.lines[-1])]
    assert took < 5, f"a session on a reused sandbox took {took:.1f} s"
    assert supervisor_running(reuse.state()), "the inner session stopped the sandbox"
