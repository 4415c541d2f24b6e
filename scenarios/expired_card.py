"""Expired card: 400 CARD_EXPIRED, payment.failed, recorded and emailed."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import declined


def run(flow: Flow) -> None:
    declined(flow, card="4000000000000069", code="CARD_EXPIRED")
