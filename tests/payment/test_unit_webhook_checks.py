"""Signed webhooks are checked against our record and the provider before they change
anything (fake provider, API in-process)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from sandbox.services.payment.provider import Decline
from tests.payment.unit_support import deliver, event, intent_fields, keys, open_intent

SUCCEEDED = "payment_intent.succeeded"
FAILED = "payment_intent.payment_failed"


def timeline_webhooks(client: FlaskClient, transaction_id: str, **headers: str) -> list[dict]:
    entries = client.get(f"/payment/{transaction_id}/timeline", headers=headers).json["entries"]
    return [e for e in entries if e["kind"] == "webhook"]


def _metadata(**changes: str | None) -> Callable[[dict], dict]:
    def change(fields: dict) -> dict:
        merged = {**fields["metadata"], **changes}
        return {"metadata": {k: v for k, v in merged.items() if v is not None}}

    return change


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda _: {"amount": 1}, "amount_mismatch"),
        (lambda _: {"amount": "900"}, "amount_mismatch"),
        (lambda _: {"currency": "eur"}, "currency_mismatch"),
        (_metadata(tenant_id="someone-else"), "tenant_mismatch"),
        (_metadata(tenant_id=None), "tenant_mismatch"),
        (_metadata(transaction_id="TXN-OTHER"), "transaction_mismatch"),
    ],
    ids=["amount-1", "amount-string", "currency", "other-tenant", "no-tenant", "other-txn"],
)
def test_a_signed_event_that_disagrees_with_our_record_changes_nothing(
    app, client, fake, caplog, change, code
):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    fake.succeed_intent(pi)
    fields = intent_fields(fake, pi)
    body = event(SUCCEEDED, pi, **{**fields, **change(fields)})

    with caplog.at_level(logging.WARNING, logger="sandbox.services.payment.handlers.webhooks"):
        answer = deliver(client, body)

    assert answer.status_code == 200
    assert answer.json["outcome"] == f"rejected: {code}"
    assert client.get(f"/payment/status/{intent['transaction_id']}").json["status"] == "pending"
    assert keys(app, intent["transaction_id"]) == ["payment.created"]
    assert timeline_webhooks(client, intent["transaction_id"]) == []
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "retrieve_intent" not in fake.calls  # refused on our own record first


def _success_the_provider_does_not_have(fake, pi: str) -> dict:
    """Our record, reported as succeeded; the provider still awaits a payment method."""
    return {**intent_fields(fake, pi), "status": "succeeded"}


def _success_the_provider_holds_for_another_amount(fake, pi: str) -> dict:
    """Our record as it was; the provider has the intent succeeded, for 1 minor unit."""
    fields = intent_fields(fake, pi)
    fake.intents[pi] = replace(fake.intents[pi], status="succeeded", amount_minor=1)
    return fields


@pytest.mark.parametrize(
    ("reported", "code", "reason"),
    [
        (_success_the_provider_does_not_have, "status_mismatch", "requires_payment_method"),
        (_success_the_provider_holds_for_another_amount, "amount_mismatch", "provider"),
    ],
    ids=["provider-not-succeeded", "provider-amount-differs"],
)
def test_a_reported_success_the_provider_does_not_back_changes_nothing(
    app, client, fake, reported, code, reason
):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]

    answer = deliver(client, event(SUCCEEDED, pi, **reported(fake, pi)))

    assert answer.json["outcome"] == f"rejected: {code}"
    assert reason in answer.json["reason"]
    assert keys(app, intent["transaction_id"]) == ["payment.created"]


def test_a_genuine_success_completes_the_payment_after_a_forged_one(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    forged = deliver(client, event(SUCCEEDED, pi, **{**intent_fields(fake, pi), "amount": 1}))
    fake.succeed_intent(pi)

    genuine = deliver(client, event(SUCCEEDED, pi, **intent_fields(fake, pi)))

    assert forged.json["outcome"] == "rejected: amount_mismatch"
    assert genuine.json["outcome"] == "completed"
    assert keys(app, intent["transaction_id"]) == ["payment.created", "payment.completed"]
    assert len(timeline_webhooks(client, intent["transaction_id"])) == 1


def test_a_failure_is_recorded_with_the_providers_decline(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    decline = Decline("INSUFFICIENT_FUNDS", "Your card has insufficient funds.", "card_declined")
    fake.intents[pi] = replace(fake.intents[pi], decline=decline)

    answer = deliver(client, event(FAILED, pi, **intent_fields(fake, pi)))

    assert answer.json["outcome"] == "failed"
    status = client.get(f"/payment/status/{intent['transaction_id']}").json
    assert status["error"]["code"] == "INSUFFICIENT_FUNDS"


def test_a_failure_the_provider_never_saw_changes_nothing(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]

    answer = deliver(client, event(FAILED, pi, **intent_fields(fake, pi)))

    assert answer.json["outcome"] == "rejected: status_mismatch"
    assert keys(app, intent["transaction_id"]) == ["payment.created"]


def test_a_failure_reported_after_the_intent_succeeded_is_stale(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    late_failure = event(FAILED, pi, **intent_fields(fake, pi))
    fake.succeed_intent(pi)

    stale = deliver(client, late_failure)
    success = deliver(client, event(SUCCEEDED, pi, **intent_fields(fake, pi)))

    assert stale.json["outcome"] == "ignored: the provider's intent is succeeded"
    assert success.json["outcome"] == "completed"
    assert keys(app, intent["transaction_id"]) == ["payment.created", "payment.completed"]


def test_an_unreachable_provider_makes_the_provider_deliver_again(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    fake.succeed_intent(pi)
    body = event(SUCCEEDED, pi, **intent_fields(fake, pi))
    fake.reachable = False

    refused = deliver(client, body)
    fake.reachable = True
    again = deliver(client, body)

    assert (refused.status_code, refused.json["error"]["code"]) == (502, "PAYMENT_GATEWAY_ERROR")
    assert again.json["outcome"] == "completed"


def test_events_already_applied_need_no_provider_call(app, client, fake):
    intent = open_intent(client)
    pi = intent["payment_intent_id"]
    fake.succeed_intent(pi)
    body = event(SUCCEEDED, pi, **intent_fields(fake, pi))
    deliver(client, body)
    asked = fake.calls.count("retrieve_intent")

    redelivered = deliver(client, body)
    another = deliver(client, event(SUCCEEDED, pi, **intent_fields(fake, pi)))

    assert redelivered.json["outcome"] == "duplicate"
    assert another.json["outcome"] == "ignored: payment is completed"
    assert fake.calls.count("retrieve_intent") == asked == 1


def test_a_charge_naming_another_tenant_leaves_the_payment_alone(app, client, fake):
    intent = open_intent(client, **{"X-Tenant-Id": "tenant-a"})
    pi = intent["payment_intent_id"]
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": pi,
        "metadata": {"tenant_id": "tenant-b", "transaction_id": intent["transaction_id"]},
    }
    body = event("charge.succeeded", "ch_1", **charge)

    answer = deliver(client, body)

    assert answer.json["outcome"] == "rejected: tenant_mismatch"
    assert timeline_webhooks(client, intent["transaction_id"], **{"X-Tenant-Id": "tenant-a"}) == []
