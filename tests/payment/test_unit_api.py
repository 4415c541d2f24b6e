"""The API over a fake provider and a SQLite file: rules that need no real processes."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from flask.testing import FlaskClient

from sandbox.contracts import ContractRegistry
from sandbox.services.payment.handlers import Context, PaymentRequest, cards
from sandbox.signing import sign
from tests.payment.support import CARDS, card_body
from tests.payment.unit_support import (
    SECRET,
    deliver,
    event,
    intent_fields,
    keys,
    make_app,
    open_intent,
    outbox,
)
from tests.services.support import driver_statements


def pay(client: FlaskClient, booking: str = "BOOK-1", **kwargs: Any) -> Any:
    headers = kwargs.pop("headers", {})
    return client.post("/payment/process", json=card_body(booking, **kwargs), headers=headers)


def refund(client: FlaskClient, payment: dict, amount: float, **headers: str) -> Any:
    body = {
        "booking_id": payment["booking_id"],
        "original_transaction_id": payment["transaction_id"],
        "refund_amount": amount,
        "reason": "unit",
        "user_id": "user_123",
    }
    return client.post("/payment/refund", json=body, headers=headers)


# -- events ------------------------------------------------------------------------------


def test_every_event_written_to_the_outbox_matches_its_contract(app, client, fake):
    paid = pay(client, "BOOK-A", amount=100.0).json
    pay(client, "BOOK-B", card="declined")
    fake.fail_next(only="confirm_with_card")
    pay(client, "BOOK-C")
    refund(client, paid, 40.0)
    refund(client, paid, 60.0)
    intent = client.post(
        "/payment/intents", json={"user_id": "u", "booking_id": "BOOK-D", "amount": 5}
    ).json
    client.post(f"/payment/{intent['transaction_id']}/cancel")

    written = outbox(app)

    registry = ContractRegistry.load()
    assert {key for key, _, _ in written} == {
        "payment.created",
        "payment.completed",
        "payment.failed",
        "payment.refunded",
        "payment.cancelled",
    }
    for key, body, _ in written:
        assert registry.validate_body(key, body) == [], (key, body)


# -- gateway failures and idempotency ------------------------------------------------------


def test_answer_lost_after_the_provider_charged_is_retried_as_the_same_charge(app, client, fake):
    fake.fail_next(only="confirm_with_card", after_acting=True)
    headers = {"Idempotency-Key": "k-lost"}

    lost = pay(client, headers=headers)
    again = pay(client, headers=headers)

    assert lost.status_code == 502
    assert again.status_code == 200
    assert again.json["transaction_id"] == lost.json["transaction_id"]
    assert [i.status for i in fake.intents.values()] == ["succeeded"]
    assert keys(app, lost.json["transaction_id"]) == [
        "payment.created",
        "payment.failed",
        "payment.completed",
    ]


def test_gateway_failure_at_intent_creation_records_nothing(app, client, fake):
    fake.fail_next(only="create_intent")

    response = pay(client)

    assert response.status_code == 502
    assert response.json["error"]["code"] == "PAYMENT_GATEWAY_ERROR"
    assert outbox(app) == []
    assert pay(client).status_code == 200


def test_a_stored_decline_is_replayed_for_the_same_key(client):
    first = pay(client, card="declined", headers={"Idempotency-Key": "k-decline"})
    again = pay(client, card="declined", headers={"Idempotency-Key": "k-decline"})
    assert first.status_code == again.status_code == 400
    assert again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"


@pytest.mark.parametrize(("card", "status"), [("visa", 200), ("declined", 400)])
def test_a_card_payments_answer_commits_with_its_outcome(client, card, status, monkeypatch):
    transactions = driver_statements(monkeypatch)

    answered = pay(client, f"BOOK-{card}", card=card, headers={"Idempotency-Key": f"k-{card}"})

    assert answered.status_code == status
    outcome = "payment.completed" if card == "visa" else "payment.failed"
    with_outcome = [
        statements
        for statements in transactions
        for ran in statements
        if ran.sql.startswith("INSERT INTO payment_outbox") and outcome in str(ran.values)
    ]
    assert len(with_outcome) == 1, transactions
    stored = [
        ran.values
        for ran in with_outcome[0]
        if ran.sql.startswith("UPDATE payment_idempotency SET state=")
    ]
    assert len(stored) == 1, with_outcome[0]
    response = next(p for p in stored[0] if isinstance(p, str) and p.startswith("{"))
    assert json.loads(response) == answered.json
    again = pay(client, f"BOOK-{card}", card=card, headers={"Idempotency-Key": f"k-{card}"})
    assert again.json == answered.json and again.headers["Idempotent-Replayed"] == "true"


def test_keys_are_scoped_to_their_tenant(client):
    one = pay(client, "BOOK-T", headers={"Idempotency-Key": "same", "X-Tenant-Id": "t1"})
    two = pay(client, "BOOK-T", headers={"Idempotency-Key": "same", "X-Tenant-Id": "t2"})
    assert one.status_code == two.status_code == 200
    assert one.json["transaction_id"] != two.json["transaction_id"]


# -- refunds -------------------------------------------------------------------------------


def test_several_partial_refunds_may_add_up_to_the_amount_and_no_further(client):
    paid = pay(client, amount=100.0).json

    answers = [refund(client, paid, amount) for amount in (30.0, 30.0, 40.0, 0.01)]

    assert [a.status_code for a in answers] == [200, 200, 200, 400]
    assert [a.json.get("refund_type") for a in answers[:3]] == ["partial", "partial", "full"]
    assert answers[3].json["error"]["code"] == "REFUND_NOT_ALLOWED"
    status = client.get(f"/payment/status/{paid['transaction_id']}").json
    assert (status["status"], status["refunded_amount"]) == ("refunded", 100.0)


def test_refunding_more_than_is_left_is_not_allowed(client):
    paid = pay(client, amount=50.0).json
    refund(client, paid, 20.0)

    over = refund(client, paid, 30.01)

    assert over.status_code == 400
    assert over.json["error"]["code"] == "REFUND_NOT_ALLOWED"
    assert over.json["error"]["details"]["remaining_amount"] == 30.0


def test_refunding_a_failed_payment_is_not_allowed(client):
    failed = pay(client, card="declined").json
    answer = refund(client, failed, 1.0)
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "REFUND_NOT_ALLOWED"


def test_refund_for_another_booking_is_not_allowed(client):
    paid = pay(client).json
    answer = refund(client, {**paid, "booking_id": "BOOK-other"}, 1.0)
    assert answer.json["error"]["code"] == "REFUND_NOT_ALLOWED"


def test_refund_gateway_error_changes_nothing_and_the_key_retries_the_same_refund(
    app, client, fake
):
    paid = pay(client, amount=10.0).json
    fake.fail_next(only="refund")

    failed = refund(client, paid, 10.0, **{"Idempotency-Key": "r-1"})
    retried = refund(client, paid, 10.0, **{"Idempotency-Key": "r-1"})

    assert failed.status_code == 502
    assert retried.status_code == 200
    assert keys(app, paid["transaction_id"]).count("payment.refunded") == 1
    assert len(next(iter(fake.refunds.values()))) == 1


# -- cancel --------------------------------------------------------------------------------


def test_a_completed_payment_cannot_be_cancelled(client):
    paid = pay(client).json
    answer = client.post(f"/payment/{paid['transaction_id']}/cancel", json={})
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "CANCEL_NOT_ALLOWED"
    assert "refund" in answer.json["error"]["message"]


def test_a_cancelled_payment_cannot_be_cancelled_again(client):
    intent = client.post(
        "/payment/intents", json={"user_id": "u", "booking_id": "BOOK-X", "amount": 5}
    ).json
    first = client.post(f"/payment/{intent['transaction_id']}/cancel")
    second = client.post(f"/payment/{intent['transaction_id']}/cancel")
    assert (first.status_code, second.status_code) == (200, 400)
    assert first.json["reason"] == "cancelled on request"


# -- request validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount": 10.001}, "INVALID_AMOUNT", "amount"),
        ({"amount": -5}, "INVALID_AMOUNT", "amount"),
        ({"currency": "KWD"}, "UNSUPPORTED_CURRENCY", "currency"),
        ({"payment_method": "stripe"}, "PAYMENT_METHOD_DISABLED", "payment_method"),
        ({"payment_method": "paypal"}, "PAYMENT_METHOD_NOT_SUPPORTED", "payment_method"),
        ({"booking_id": "has space"}, "VALIDATION_ERROR", "booking_id"),
        ({"surprise": 1}, "VALIDATION_ERROR", None),
    ],
)
def test_requests_that_cannot_be_charged_are_refused_with_a_code_and_field(
    client, change, code, field
):
    answer = client.post("/payment/process", json={**card_body("BOOK-V"), **change})
    assert answer.status_code in (400, 422)
    assert answer.json["error"]["code"] == code
    assert answer.json["error"]["details"].get("field") == field


def test_zero_decimal_currencies_charge_whole_units(app, client):
    answer = client.post(
        "/payment/process", json={**card_body("BOOK-Y"), "amount": 500, "currency": "jpy"}
    )
    assert answer.status_code == 200, answer.json
    assert answer.json["amount"] == 500 and answer.json["currency"] == "JPY"


@pytest.mark.parametrize(
    "card_details",
    [
        {
            "card_number": CARDS["visa"] + "x",
            "expiry_month": "12",
            "expiry_year": "2031",
            "cvv": "739",
            "cardholder_name": "A",
        },
        {
            "card_number": CARDS["visa"],
            "expiry_month": "13",
            "expiry_year": "2031",
            "cvv": "739",
            "cardholder_name": "A",
        },
        CARDS["visa"],
        [CARDS["visa"]],
    ],
)
def test_malformed_card_details_are_refused_without_repeating_them(client, card_details):
    body = {**card_body("BOOK-Z"), "card_details": card_details}
    answer = client.post("/payment/process", json=body)
    assert answer.status_code == 400
    assert answer.json["error"]["code"] == "INVALID_CARD"
    text = json.dumps(answer.json)
    assert CARDS["visa"][:12] not in text and "739" not in text


def test_an_unusable_tenant_or_key_is_refused(client):
    assert (
        pay(client, headers={"X-Tenant-Id": "bad tenant"}).json["error"]["code"] == "INVALID_TENANT"
    )
    assert pay(client, headers={"Idempotency-Key": "has space"}).json["error"]["code"] == (
        "IDEMPOTENCY_KEY_INVALID"
    )


def test_unknown_routes_and_methods_answer_in_the_seed_error_format(client):
    missing = client.get("/nowhere")
    wrong = client.delete("/payment/methods")
    assert (missing.status_code, missing.json["error"]["code"]) == (404, "NOT_FOUND")
    assert (wrong.status_code, wrong.json["error"]["code"]) == (405, "METHOD_NOT_ALLOWED")
    assert "timestamp" in missing.json


# -- webhooks ------------------------------------------------------------------------------


def test_a_late_failure_after_success_is_ignored(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    fake.succeed_intent(pi)

    success = deliver(client, event("payment_intent.succeeded", pi, **intent_fields(fake, pi)))
    late = deliver(
        client,
        event(
            "payment_intent.payment_failed",
            pi,
            last_payment_error={"code": "card_declined", "decline_code": "generic_decline"},
            **intent_fields(fake, pi),
        ),
    )

    assert success.json["outcome"] == "completed"
    assert late.json["outcome"].startswith("ignored")
    assert keys(app, intent["transaction_id"]) == ["payment.created", "payment.completed"]


def test_a_redelivered_event_is_applied_once(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    fake.succeed_intent(pi)
    body = event("payment_intent.succeeded", pi, **intent_fields(fake, pi))

    outcomes = [deliver(client, body).json["outcome"] for _ in range(3)]

    assert outcomes == ["completed", "duplicate", "duplicate"]
    assert keys(app, intent["transaction_id"]).count("payment.completed") == 1


def test_events_about_other_systems_intents_are_acknowledged(client):
    answer = deliver(client, event("payment_intent.succeeded", "pi_not_ours"))
    assert (answer.status_code, answer.json["outcome"]) == (200, "unknown_payment")


def test_events_for_our_intent_without_its_payment_yet_are_asked_again(client):
    body = event("payment_intent.succeeded", "pi_soon", metadata={"transaction_id": "TXN-SOON"})
    answer = deliver(client, body)
    assert answer.status_code == 409
    assert answer.json["error"]["code"] == "WEBHOOK_PAYMENT_NOT_FOUND_YET"


def test_unverifiable_deliveries_are_refused(client):
    body = event("payment_intent.succeeded", "pi_x")
    stale = sign(SECRET, body, int(time.time()) - 600)
    future = sign(SECRET, body, int(time.time()) + 600)
    cases = {
        None: "WEBHOOK_SIGNATURE_MISSING",
        "garbage": "WEBHOOK_SIGNATURE_INVALID",
        sign("whsec_other", body): "WEBHOOK_SIGNATURE_INVALID",
        stale: "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
        future: "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE",
    }
    for signature, code in cases.items():
        headers = {"Stripe-Signature": signature} if signature else {}
        answer = client.post("/payment/webhook", data=body, headers=headers)
        assert (answer.status_code, answer.json["error"]["code"]) == (400, code)


def test_a_signed_body_that_is_not_an_event_is_refused(client):
    answer = deliver(client, b'{"hello": "world"}')
    assert answer.json["error"]["code"] == "INVALID_WEBHOOK_PAYLOAD"


def test_webhooks_without_a_configured_secret_answer_503(tmp_path, fake):
    for app in make_app(tmp_path, fake, webhook_secret=None):
        answer = deliver(app.test_client(), event("payment_intent.succeeded", "pi_x"))
        assert answer.status_code == 503
        assert answer.json["error"]["code"] == "WEBHOOK_NOT_CONFIGURED"


# -- abandoned payments ------------------------------------------------------------------


def test_a_card_payment_whose_process_died_is_cancelled_before_the_booking_is_paid_again(
    tmp_path, fake
):
    for app in make_app(tmp_path, fake, idempotency_stale_s=0.0):
        deps = app.extensions["payment"]
        request = PaymentRequest("user_123", "BOOK-DIED", 1000, "USD", "credit_card")
        # the web process died right after opening the payment (steps 1-3 only)
        died, _ = cards._open(deps, Context("default", "flow-1"), request, "card")
        client = app.test_client()

        again = pay(client, "BOOK-DIED")

        assert again.status_code == 200, again.json
        status = client.get(f"/payment/status/{died.id}").json
        assert status["status"] == "cancelled"
        assert keys(app, died.id) == ["payment.created", "payment.cancelled"]
