"""The notifier's consumer lanes: one slow merchant delays each flow once, not all in turn."""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest

from mocks.clients import MerchantClient
from mocks.merchant.server import MockMerchantServer
from sandbox.messaging import Publisher
from sandbox.messaging.consumer import lane_of
from sandbox.services.notifier.settings import NotifierSettings
from sandbox.waiting import wait_for
from tests.appointment.support import payment_event
from tests.notifier.support import NotifierService, unique_email

pytestmark = pytest.mark.integration

LANES = NotifierSettings(database_url="").consumer_concurrency
DELAY_S = 2.0


def _flows_on_distinct_lanes() -> list[str]:
    chosen: dict[int, str] = {}
    for n in itertools.count():
        key = f"slow-merchant-flow-{n}"
        chosen.setdefault(lane_of(key, LANES), key)
        if len(chosen) == LANES:
            return list(chosen.values())
    raise AssertionError("unreachable")


def test_callbacks_to_a_slow_merchant_wait_side_by_side(
    notifier: NotifierService, merchant: MockMerchantServer, publisher: Publisher
) -> None:
    assert notifier.consumer_stats()["concurrency"] == LANES
    client = MerchantClient(merchant.url)
    events = [
        payment_event(
            "payment.completed",
            appointment_id=f"appt_{flow}",
            tenant_id="tenant123",
            correlation_id=flow,
            customerEmail=unique_email(),
        )
        for flow in _flows_on_distinct_lanes()
    ]
    flows = [e.envelope.correlation_id for e in events]
    client.delay(int(DELAY_S * 1000))
    try:
        publisher.publish_many(events)

        def answered() -> list[datetime] | None:
            records = [client.callbacks(correlationId=flow) for flow in flows]
            if not all(records):
                return None
            return [datetime.fromisoformat(r[0]["received_at"]) for r in records]

        answered_at = wait_for(
            answered,
            timeout=30,
            what=f"{LANES} merchant callbacks answered after {DELAY_S:g} s each",
            seen=lambda: [len(client.callbacks(correlationId=f)) for f in flows],
        )
    finally:
        client.delay(0)
    # one lane answers them DELAY_S apart, one after the other; lanes side by side
    spread = (max(answered_at) - min(answered_at)).total_seconds()
    assert spread < DELAY_S, f"callbacks answered over {spread:.1f} s, not side by side"
