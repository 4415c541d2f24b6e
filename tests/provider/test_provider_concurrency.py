"""Many clients at once: the in-memory state stays consistent and nobody sees a 500."""

from __future__ import annotations

import threading

import stripe


def test_concurrent_clients_never_see_a_server_error(provider):
    failures: list[str] = []
    created: list[str] = []

    def work() -> None:
        client = provider.stripe_client()
        for _ in range(15):
            try:
                intent = client.v1.payment_intents.create(
                    params={"amount": 500, "currency": "usd", "payment_method": "pm_card_visa"}
                )
                client.v1.payment_intents.confirm(intent.id)
                client.v1.events.list(params={"limit": 5})
                client.v1.payment_intents.list(params={"limit": 5})
                created.append(intent.id)
            except stripe.StripeError as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert len(created) == 90
    client = provider.stripe_client()
    listed = list(client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter())
    assert {pi.id for pi in listed} == set(created)
    assert all(pi.status == "succeeded" for pi in listed)


def test_update_merges_metadata_and_empty_value_removes_a_key(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 500, "currency": "usd", "metadata": {"a": "1", "b": "2"}}
    )
    updated = client.v1.payment_intents.update(
        intent.id, params={"metadata": {"b": "", "c": "3"}, "amount": 700}
    )
    assert updated.metadata.to_dict() == {"a": "1", "c": "3"}
    assert updated.amount == 700


def test_disabled_webhook_endpoint_gets_no_deliveries(provider, client):
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/never", "enabled_events": ["*"]}
    )
    client.v1.webhook_endpoints.update(endpoint.id, params={"disabled": True})
    client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    assert provider.deliveries(endpoint_id=endpoint.id) == []


def test_event_can_be_retrieved_by_id(client):
    intent = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    [listed] = client.v1.events.list().data
    event = client.v1.events.retrieve(listed.id)
    assert event.type == "payment_intent.created"
    assert event.data.object.id == intent.id
    # the SDK sends one on every POST (subscripted: before stripe 16, `request` is a method)
    assert event["request"]["idempotency_key"]
