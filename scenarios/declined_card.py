"""Declined card: 400 CARD_DECLINED, payment.failed, the booking records it, an email says so."""

from sandbox.scenario import Flow
from sandbox.scenario.steps import declined


def run(flow: Flow) -> None:
    declined(flow, card="4000000000000002", code="CARD_DECLINED")
