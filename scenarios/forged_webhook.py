"""A forged provider webhook is refused and changes nothing."""

import json
import time

from sandbox.scenario import Flow
from sandbox.scenario.steps import book, open_intent
from sandbox.signing import sign


def run(flow: Flow) -> None:
    booking = book(flow)
    intent = open_intent(flow, booking)
    forged = json.dumps(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "payment_intent.succeeded",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": intent["payment_intent_id"],
                    "object": "payment_intent",
                    "status": "succeeded",
                    "amount": 7500,
                    "currency": "usd",
                }
            },
        }
    ).encode()
    answer = flow.payments.call(
        "POST",
        "/payment/webhook",
        data=forged,
        expect=(400, 401),
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": sign("whsec_not_the_real_secret", forged),
        },
    )
    assert answer.json()["error"]["code"], answer.json()
    status = flow.payments.status(intent["transaction_id"])
    assert status["status"] == "pending", status
    assert flow.tap.events(event_key="payment.completed", correlation_id=flow.correlation_id) == []
