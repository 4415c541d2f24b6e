"""What the provider records for reports: its API calls and whose object each delivery is."""

from __future__ import annotations

from provider_support import wait_until


def test_each_api_call_is_recorded_with_the_object_it_answered(provider, client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "metadata": {"transaction_id": "txn_1"}}
    )
    client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_visa"})

    calls = provider.client.requests()

    assert [(c["method"], c["path"], c["status"]) for c in calls] == [
        ("POST", "/v1/payment_intents", 200),
        ("POST", f"/v1/payment_intents/{intent.id}/confirm", 200),
    ]
    assert {c["object_id"] for c in calls} == {intent.id}
    assert calls[0]["metadata"] == {"transaction_id": "txn_1"}
    assert calls[0]["at"] <= calls[1]["at"]


def test_reset_forgets_the_recorded_calls(provider, client):
    client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd"})

    provider.client.reset()

    assert provider.client.requests() == []


def test_a_delivery_names_its_object_and_metadata(provider, client, receiver):
    intent = client.v1.payment_intents.create(
        params={"amount": 1500, "currency": "usd", "metadata": {"transaction_id": "txn_2"}}
    )
    receiver.wait_for_types(["payment_intent.created"])

    [delivery] = wait_until(
        lambda: provider.deliveries(status="delivered"), "a delivered webhook", provider.deliveries
    )

    assert delivery["object_id"] == intent.id
    assert delivery["metadata"] == {"transaction_id": "txn_2"}
