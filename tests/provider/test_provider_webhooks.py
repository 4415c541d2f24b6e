"""Signed webhooks: verified by the SDK, retried, and bent by the injected faults."""

from __future__ import annotations

import contextlib
import itertools
import time

import pytest
import stripe
from provider_support import WebhookReceiver, fast_settings, running_provider, serve, wait_until

from sandbox import signing


def new_intent(client: stripe.StripeClient, **params: object) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(params={"amount": 1500, "currency": "usd", **params})


def test_every_delivered_event_verifies_with_construct_event(provider, client, receiver):
    paid = new_intent(client, payment_method="pm_card_visa", confirm=True)
    client.v1.refunds.create(params={"payment_intent": paid.id, "amount": 500})
    with contextlib.suppress(stripe.CardError):
        new_intent(client, payment_method="pm_card_chargeDeclined", confirm=True)
    client.v1.payment_intents.cancel(new_intent(client).id)
    expected = [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "refund.created",
        "charge.refunded",
        "charge.failed",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ]
    receiver.wait_for_types(expected)
    events = client.v1.events.list(params={"limit": 100}).data
    wait_until(
        lambda: len(receiver.accepted()) == len(events),
        f"all {len(events)} events to be accepted",
        receiver.summary,
    )
    assert all(r.status == 200 for r in receiver.all()), receiver.summary()
    assert {r.event.id for r in receiver.accepted()} == {e.id for e in events}


def test_events_arrive_in_the_order_they_happened(client, receiver):
    new_intent(client, payment_method="pm_card_visa", confirm=True)
    got = receiver.wait_for_types(["payment_intent.succeeded"])
    assert [r.event_type for r in got] == [
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
    ]


def test_webhook_payload_carries_the_object_snapshot(client, receiver):
    intent = new_intent(client, payment_method="pm_card_visa", confirm=True, metadata={"k": "v"})
    got = receiver.wait_for_types(["payment_intent.succeeded"])
    event = next(r.event for r in got if r.event_type == "payment_intent.succeeded")
    assert event.data.object.id == intent.id
    assert event.data.object.status == "succeeded"
    assert event.data.object.metadata["k"] == "v"


def test_receiver_failing_twice_gets_the_event_on_the_third_delivery(provider, client, receiver):
    receiver.fail_next = 2
    intent = new_intent(client)
    receiver.wait_for_types(["payment_intent.created"])
    statuses = [r.status for r in receiver.all() if r.event_type == "payment_intent.created"]
    assert statuses == [500, 500, 200]
    [delivery] = wait_until(
        lambda: provider.deliveries(status="delivered"),
        "delivery marked delivered",
        provider.deliveries,
    )
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert receiver.accepted()[0].event.data.object.id == intent.id


def test_delivery_gives_up_after_max_attempts(provider, client, receiver):
    receiver.fail_next = 100
    new_intent(client)
    wait_until(
        lambda: provider.deliveries(status="failed"),
        "the delivery to be marked failed",
        provider.deliveries,
    )
    [delivery] = provider.deliveries(status="failed")
    assert len(delivery["attempts"]) == 5  # fast_settings' webhook_max_attempts


def test_retries_back_off_exponentially(provider, client, receiver):
    receiver.fail_next = 3
    new_intent(client)
    [delivery] = wait_until(
        lambda: provider.deliveries(status="delivered"),
        "delivery marked delivered",
        provider.deliveries,
    )
    times = [a["at"] for a in delivery["attempts"]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    # fast_settings: base 0.05 s, doubling, capped at 0.2 s
    assert len(gaps) == 3
    assert gaps[0] >= 0.05 and gaps[1] >= 0.1 and gaps[2] >= 0.2, gaps


def test_duplication_delivers_the_same_event_twice(provider, client, receiver):
    provider.control("PUT", "/webhooks", {"duplicate": {"probability": 1.0, "copies": 1}})
    intent = new_intent(client)
    wait_until(
        lambda: len(receiver.accepted()) >= 2, "two deliveries of one event", receiver.summary
    )
    ids = [r.event_id for r in receiver.accepted()]
    assert ids[0] == ids[1]
    assert receiver.accepted()[0].event.data.object.id == intent.id
    copies = sorted(d["copy"] for d in provider.deliveries())
    assert copies == [0, 1]


def test_reordering_delivers_a_later_event_first(provider, client, receiver):
    provider.control("PUT", "/webhooks", {"reorder": {"probability": 1.0, "hold_ms": 5000}})
    first = new_intent(client)
    second = new_intent(client)
    wait_until(lambda: len(receiver.accepted()) >= 2, "both events", receiver.summary)
    order = [r.event.data.object.id for r in receiver.accepted()]
    assert order == [second.id, first.id]


def test_loss_drops_the_delivery_for_good(provider, client, receiver):
    provider.control("PUT", "/webhooks", {"loss": {"probability": 1.0}})
    lost = new_intent(client)
    provider.control("DELETE", "/webhooks")
    kept = new_intent(client)
    # deliveries go out in order, so once the later event is in, the lost one never will be
    receiver.wait_for_types(["payment_intent.created"])
    wait_until(
        lambda: any(r.event.data.object.id == kept.id for r in receiver.accepted()),
        "the event after the lost one",
        receiver.summary,
    )
    assert all(r.event.data.object.id != lost.id for r in receiver.accepted())
    assert provider.deliveries()[0]["status"] == "lost"


def test_delay_holds_the_delivery_back(provider, client, receiver):
    provider.control("PUT", "/webhooks", {"delay": {"probability": 1.0, "ms": 300}})
    started = time.monotonic()
    new_intent(client)
    receiver.wait_for_types(["payment_intent.created"])
    assert time.monotonic() - started >= 0.3
    assert provider.deliveries()[0]["faults"] == ["delayed 300 ms"]


def test_seeded_loss_repeats_the_same_pattern(receiver):
    def pattern() -> list[str]:
        with running_provider(fast_settings(seed=1234)) as running:
            client = running.stripe_client()
            client.v1.webhook_endpoints.create(
                params={"url": receiver.url, "enabled_events": ["payment_intent.created"]}
            )
            running.control("PUT", "/webhooks", {"loss": {"probability": 0.5}})
            for _ in range(12):
                new_intent(client)
            return ["lost" if d["status"] == "lost" else "sent" for d in running.deliveries()]

    first, second = pattern(), pattern()
    assert first == second
    assert "lost" in first and "sent" in first


def test_clock_moved_back_puts_the_signature_outside_sdk_tolerance(provider, client, receiver):
    # the SDK only refuses timestamps older than its tolerance (300 s), not future ones
    provider.control("POST", "/clock", {"advance_s": -600})
    new_intent(client)
    got = wait_until(lambda: receiver.all(), "a webhook request", receiver.summary)
    assert got[0].status == 400
    assert "tolerance" in (got[0].error or "")
    timestamp = int(got[0].signature.split(",")[0].removeprefix("t="))
    assert timestamp <= time.time() - 590
    event = stripe.Webhook.construct_event(
        got[0].body, got[0].signature, receiver.secret, tolerance=0
    )
    assert event.type == "payment_intent.created"


def test_clock_moved_forward_fails_a_two_sided_tolerance_check(provider, client, receiver):
    provider.control("POST", "/clock", {"advance_s": 600})
    new_intent(client)
    got = wait_until(lambda: receiver.all(), "a webhook request", receiver.summary)
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(receiver.secret, got[0].body, got[0].signature)
    assert caught.value.code == "stale_signature"


def test_enabled_events_filter_what_an_endpoint_gets(provider, client):
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/never", "enabled_events": ["payment_intent.succeeded"]}
    )
    new_intent(client, payment_method="pm_card_visa", confirm=True)
    types = [d["event_type"] for d in provider.deliveries(endpoint_id=endpoint.id)]
    assert types == ["payment_intent.succeeded"]


def test_deleted_endpoint_gets_no_more_deliveries(provider, client, receiver):
    [endpoint] = client.v1.webhook_endpoints.list().data
    deleted = client.v1.webhook_endpoints.delete(endpoint.id)
    assert deleted.deleted is True
    new_intent(client)
    assert provider.deliveries() == []


def test_endpoint_from_settings_receives_signed_events():
    hook = WebhookReceiver(secret="whsec_from_settings")
    with serve(hook) as url:
        settings = fast_settings(webhook_urls=(f"{url}/hook",), webhook_secrets=(hook.secret,))
        with running_provider(settings) as running:
            client = running.stripe_client()
            new_intent(client)
            hook.wait_for_types(["payment_intent.created"])
            running.control("POST", "/reset")
            new_intent(client)
            wait_until(lambda: len(hook.accepted()) == 2, "a delivery after reset", hook.summary)
            state = running.control("GET", "/webhooks")
            assert [e["id"] for e in state["endpoints"]] == ["we_configured_0"]
            assert state["endpoints"][0]["secret"] == "whsec_from_settings"


def test_health_reports_the_webhook_worker(provider):
    health = provider.http.get(f"{provider.base_url}/health", timeout=10).json()
    assert health["status"] == "ok"
    assert health["webhook_worker"]["running"] is True


def test_a_configured_latency_holds_every_delivery_back_after_its_answer():
    hook = WebhookReceiver(secret="whsec_latency")
    with serve(hook) as url:
        settings = fast_settings(
            webhook_urls=(f"{url}/hook",), webhook_secrets=(hook.secret,), webhook_latency_s=0.4
        )
        with running_provider(settings) as running:
            new_intent(running.stripe_client())
            answered = time.monotonic()

            wait_until(lambda: hook.accepted(), "the delivery", hook.summary)

            assert time.monotonic() - answered >= 0.3, "delivered before the latency passed"
            assert running.deliveries()[0]["faults"] == []  # latency is not a fault
