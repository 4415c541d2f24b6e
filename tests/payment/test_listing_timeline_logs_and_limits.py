"""Pagination, the per-payment timeline, structured logs and rate limiting."""

from __future__ import annotations

import pytest
import requests

from tests.payment.support import PaymentStack, card_body, json_lines, new_id

pytestmark = pytest.mark.integration


def test_listing_pages_through_a_tenants_payments_newest_first(stack: PaymentStack):
    headers = {"X-Tenant-Id": new_id("tenant")}
    made = [
        stack.post("/payment/process", card_body(new_id("BOOK")), **headers).json()[
            "transaction_id"
        ]
        for _ in range(5)
    ]

    pages = [stack.get(f"/payments?page={n}&limit=2", **headers).json() for n in (1, 2, 3)]

    assert [p["pagination"] for p in pages] == [
        {"page": n, "limit": 2, "total": 5, "pages": 3} for n in (1, 2, 3)
    ]
    listed = [item["transaction_id"] for page in pages for item in page["payments"]]
    assert listed == list(reversed(made))


def test_listing_refuses_a_limit_out_of_range(stack: PaymentStack):
    response = stack.get("/payments?limit=1000")
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "limit"


def test_timeline_shows_every_state_change_and_event_in_order(stack: PaymentStack):
    booking = new_id("BOOK")
    paid = stack.post("/payment/process", card_body(booking, amount=50.0)).json()
    transaction_id = paid["transaction_id"]
    stack.post(
        "/payment/refund",
        {
            "booking_id": booking,
            "original_transaction_id": transaction_id,
            "refund_amount": 20.0,
            "reason": "partial",
            "user_id": "user_123",
        },
    )

    timeline = stack.get(f"/payment/{transaction_id}/timeline").json()

    states = [
        (e["from_status"], e["to_status"]) for e in timeline["entries"] if e["kind"] == "state"
    ]
    assert states == [
        (None, "pending"),
        ("pending", "completed"),
        ("completed", "partially_refunded"),
    ]
    emitted = [e["event_type"] for e in timeline["entries"] if e["kind"] == "event"]
    assert emitted == ["payment.created", "payment.completed", "payment.refunded"]
    assert all(e["message_id"] for e in timeline["entries"] if e["kind"] == "event")
    assert timeline["status"] == "partially_refunded"


def test_logs_are_json_lines_carrying_the_requests_correlation_id(stack: PaymentStack):
    correlation = new_id("flow")
    stack.post("/payment/process", card_body(new_id("BOOK")), **{"X-Correlation-Id": correlation})

    assert stack.web is not None
    lines = [
        line for line in json_lines(stack.web.log_file) if line.get("correlation_id") == correlation
    ]

    messages = [line["message"] for line in lines]
    # the charge's answer or the provider's webhook, whichever came first, completes it
    finished = {"payment completed", "payment already moved by a webhook"}
    assert "payment opened" in messages and finished & set(messages), messages
    assert any(line.get("path") == "/payment/process" for line in lines)
    assert all(line["service"] == "payment-service" for line in lines)


def test_rate_limit_answers_429_in_the_seed_format_with_its_headers(stack_factory):
    limited = stack_factory(
        "amqp://guest:guest@127.0.0.1:1/",
        relay=False,
        env={"PAYMENT_RATE_LIMIT_ENABLED": "true"},
    )
    url = f"{limited.url}/payment/methods"

    answers = [requests.get(url, timeout=10) for _ in range(21)]

    assert [a.status_code for a in answers] == [200] * 20 + [429]
    first, refused = answers[0], answers[-1]
    assert first.headers["X-RateLimit-Limit"] == "20"
    assert first.headers["X-RateLimit-Remaining"] == "19"
    assert int(first.headers["X-RateLimit-Reset"]) > 0
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert refused.json()["timestamp"]
    # health and the provider's webhooks are not the client's budget
    assert requests.get(f"{limited.url}/health", timeout=10).status_code == 200
