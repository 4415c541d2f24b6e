"""A scenario's timeline in causal order, what the mocks saw drawn on it, and the report
built from it: no sandbox needed."""

from __future__ import annotations

from sandbox.scenario import observed
from sandbox.scenario.report import ScenarioResult, render_html
from sandbox.scenario.runner import description
from sandbox.scenario.timeline import Entry, causal_order
from sandbox.settings import BrokerSettings
from sandbox.topology import build


def event(at: float, routing_key: str, message_id: str, producer: str = "payment") -> Entry:
    return Entry(
        at, "event", producer, "broker", f"{routing_key} [x]", "c1", {"message_id": message_id}
    )


def test_an_email_stamped_before_its_event_is_drawn_after_the_delivery_that_caused_it():
    published = event(10.0, "appointment.confirmed", "m1", "appointment")
    [delivery] = observed.consumer_deliveries([published], build(BrokerSettings()))
    mail = observed.email_entry(
        {
            "to": ["ada@example.com"],
            "subject": "confirmed",
            "received_at": "1970-01-01T00:00:09Z",
            "headers": {"X-Event-Id": ["m1"]},
        },
        "c1",
        0.0,
    )

    ordered = causal_order([mail, delivery, published])

    assert [e.kind for e in ordered] == ["event", "delivery", "email"]
    assert (delivery.source, delivery.target) == ("broker", "notifier")


def test_entries_without_causes_keep_their_time_order():
    first, second = event(1.0, "payment.completed", "a"), event(2.0, "payment.completed", "b")

    assert causal_order([second, first]) == [first, second]


def test_a_payment_event_is_delivered_to_each_queue_bound_to_it():
    deliveries = observed.consumer_deliveries(
        [event(1.0, "payment.completed", "m1")], build(BrokerSettings())
    )

    assert {d.target for d in deliveries} == {"appointment", "notifier"}
    assert all(d.detail["cause"] == "m1" for d in deliveries)


CALLS = [
    {
        "at": 5.0,
        "duration_ms": 3,
        "method": "POST",
        "path": "/v1/payment_intents",
        "status": 200,
        "object_id": "pi_1",
        "metadata": {"transaction_id": "txn_mine"},
    },
    {
        "at": 5.1,
        "duration_ms": 3,
        "method": "POST",
        "path": "/v1/payment_intents/pi_1/confirm",
        "status": 402,
        "object_id": None,
        "metadata": {},
    },
    {
        "at": 5.2,
        "duration_ms": 3,
        "method": "POST",
        "path": "/v1/payment_intents",
        "status": 200,
        "object_id": "pi_2",
        "metadata": {"transaction_id": "txn_other"},
    },
]


def test_only_the_provider_calls_about_the_flows_payments_are_drawn():
    objects = observed.flow_objects(CALLS, {"txn_mine"})

    calls = observed.provider_call_entries(CALLS, objects, "c1")

    assert objects == {"pi_1"}
    assert [(c.source, c.target) for c in calls] == [("payment", "provider")] * 2
    assert [c.label.split(" (")[0] for c in calls] == [
        "POST /v1/payment_intents -> 200",
        "POST /v1/payment_intents/pi_1/confirm -> 402",
    ]


def test_a_webhook_shows_its_signature_verdict_and_follows_the_call_that_made_its_object():
    delivery = {
        "id": "d1",
        "event_id": "evt_1",
        "event_type": "payment_intent.succeeded",
        "copy": 0,
        "object_id": "pi_1",
        "metadata": {"transaction_id": "txn_mine"},
        "attempts": [
            {"at": 104.0, "status": 400, "error": None},
            {"at": 104.5, "status": 200, "error": None},
        ],
    }
    # the scenario moved the provider's clock 100 s ahead
    hooks = observed.webhook_entries([delivery], {"pi_1"}, {"txn_mine"}, "c1", clock_offset_s=100)
    calls = observed.provider_call_entries(CALLS[:1], {"pi_1"}, "c1")

    ordered = causal_order([*hooks, *calls])

    assert [e.kind for e in ordered] == ["provider", "webhook", "webhook"]
    assert "signature refused (400)" in ordered[1].label and not ordered[1].ok
    assert "signature verified (200)" in ordered[2].label and ordered[2].ok


def test_a_merchant_callback_shows_the_merchants_signature_check():
    [callback] = observed.callback_entries(
        [
            {
                "method": "POST",
                "path": "/callbacks/payment",
                "status": 200,
                "outcome": "accepted",
                "signature_valid": True,
                "event_id": "m1",
                "received_at": "2030-01-01T00:00:00Z",
            }
        ],
        0.0,
    )

    assert (callback.source, callback.target, callback.kind) == ("notifier", "merchant", "callback")
    assert "signature valid" in callback.label


def test_a_scenario_description_is_its_whole_first_paragraph():
    doc = """Broker restarted mid-flow: the payment taken while it was down is
    published afterwards.

    More detail."""

    assert description(doc) == (
        "Broker restarted mid-flow: the payment taken while it was down is published afterwards."
    )


def result(name: str, passed: bool) -> ScenarioResult:
    return ScenarioResult(
        name,
        f"{name} described",
        passed,
        1.0,
        "c1",
        0.0,
        [],
        None if passed else f"WaitTimeout: {name} never came\ntrace",
    )


def test_the_report_opens_with_an_index_of_the_failed_scenarios_linked_to_them():
    page = render_html([result("happy", True), result("lost-email", False)])

    index = page.split('<nav class="index">', 1)[1].split("</nav>", 1)[0]
    assert 'href="#scenario-1-lost-email"' in index
    assert "WaitTimeout: lost-email never came" in index and "happy" not in index
    assert 'id="scenario-1-lost-email"' in page


def test_the_diagram_is_wide_enough_for_its_longest_label():
    subject = "email to ada@example.com: " + "Appointment confirmed: Consultation " * 8
    entry = Entry(1.0, "email", "notifier", "smtp", subject, "c1")
    page = render_html([ScenarioResult("long", "d", True, 1.0, "c1", 0.0, [entry])])

    width = int(page.split('<svg xmlns="http://www.w3.org/2000/svg" width="', 1)[1].split('"')[0])
    assert width > 7 * 118 + 6 * len(subject), width
