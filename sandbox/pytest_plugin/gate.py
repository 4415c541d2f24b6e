"""The contract gate: a test that touches the bus fails when a message on it broke its
contract.

Every message a test's tap saw is validated as it arrives (``ContractRegistry``); at
teardown the gate fails the test naming each offending message, its producer and the
failing path.  A test marked ``contract_violations_expected`` publishes bad messages on
purpose and is not failed; ``sandbox_contract_gate = false`` in the ini file turns the
gate off for a project whose events are not in these contracts.
"""

from __future__ import annotations

import pytest

from sandbox.messaging.tap import EventTap, TapValidator

MARKER = "contract_violations_expected"
INI = "sandbox_contract_gate"


def gate_enabled(config: pytest.Config) -> bool:
    value = str(config.getini(INI)).strip().lower()
    return value not in ("false", "0", "no", "off")


def validator() -> TapValidator:
    from sandbox.contracts import ContractRegistry

    return ContractRegistry.load().validate_delivered


def check(tap: EventTap, request: pytest.FixtureRequest, *, since: int = 0) -> None:
    """Fail the test when ``tap`` saw a message off its contract (after record ``since``)."""
    if not gate_enabled(request.config) or request.node.get_closest_marker(MARKER):
        return
    violations = [r for r in tap.violations() if r.seq > since]
    if not violations:
        return
    lines = [
        f"  {r.event_key} message {r.message_id} from {r.producer or '?'}: "
        + "; ".join(r.violations)
        for r in violations
    ]
    pytest.fail(
        "contract gate: messages on the bus violated their contracts:\n" + "\n".join(lines),
        pytrace=False,
    )
