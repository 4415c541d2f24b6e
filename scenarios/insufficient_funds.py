"""Insufficient funds: 400 INSUFFICIENT_FUNDS, payment.failed, recorded and emailed."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import declined


def run(flow: Flow) -> None:
    declined(flow, card="4000000000009995", code="INSUFFICIENT_FUNDS")
