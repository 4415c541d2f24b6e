"""Seed 003's curl examples, sent byte for byte, get the responses the seed documents.

The seed's card expires in 12/2025 and its examples are dated 2024-12-15; the mock
provider's clock is set to that day so the card is still valid, as it was when the seed
was written (with today's clock the same request is CARD_EXPIRED, tested below).  The
refund and status examples name the seed's own transaction id ``TXN-456789``: sent as
written they get the documented 404, and with the id of the seed's payment substituted
(the only change) the documented success.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.payment.support import PaymentStack, Provider, utc

pytestmark = pytest.mark.integration

JSON = {"Content-Type": "application/json"}

PROCESS = """{
    "user_id": "user_123",
    "booking_id": "BOOK-789012",
    "amount": 25.50,
    "payment_method": "credit_card",
    "card_details": {
      "card_number": "4111111111111111",
      "expiry_month": "12",
      "expiry_year": "2025",
      "cvv": "123",
      "cardholder_name": "John Doe"
    }
  }"""

REFUND = """{
    "booking_id": "BOOK-789012",
    "original_transaction_id": "TXN-456789",
    "refund_amount": 25.50,
    "reason": "Customer cancellation",
    "user_id": "user_123"
  }"""

TEST_PAYMENT = (
    '{"user_id":"test","booking_id":"TEST-123","amount":10.00,"payment_method":"credit_card"}'
)

SEED_METHODS = [
    {
        "id": "credit_card",
        "name": "Credit Card",
        "description": "Visa, MasterCard, American Express",
        "enabled": True,
    },
    {"id": "debit_card", "name": "Debit Card", "description": "Bank debit cards", "enabled": True},
    {
        "id": "paypal",
        "name": "PayPal",
        "description": "Pay with your PayPal account",
        "enabled": True,
    },
    {"id": "stripe", "name": "Stripe", "description": "Secure online payments", "enabled": False},
]


def post(stack: PaymentStack, path: str, data: str) -> requests.Response:
    return requests.post(f"{stack.url}{path}", data=data, headers=JSON, timeout=30)


@pytest.fixture(scope="module")
def walkthrough(stack: PaymentStack, provider: Provider) -> dict[str, Any]:
    """The seed's examples in the order a reader follows them, on the seed's date."""
    provider.set_clock(utc(2024, 12, 15))
    try:
        paid = post(stack, "/payment/process", PROCESS)
        transaction_id = paid.json().get("transaction_id", "missing")
        status = requests.get(f"{stack.url}/payment/status/{transaction_id}", timeout=10)
        literal_refund = post(stack, "/payment/refund", REFUND)
        refund = post(stack, "/payment/refund", REFUND.replace("TXN-456789", transaction_id))
        literal_status = requests.get(f"{stack.url}/payment/status/TXN-456789", timeout=10)
    finally:
        provider.clean()
    return {
        "paid": paid,
        "status": status,
        "literal_refund": literal_refund,
        "refund": refund,
        "literal_status": literal_status,
        "transaction_id": transaction_id,
    }


def answered_200(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a seed example's response, which must be a 200."""
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_seed_card_payment_succeeds_with_the_documented_fields(walkthrough):
    body = answered_200(walkthrough["paid"])
    assert body["status"] == "success"
    assert body["transaction_id"].startswith("TXN-")
    assert body["booking_id"] == "BOOK-789012"
    assert body["amount"] == 25.5
    assert body["payment_method"] == "credit_card"
    assert body["message"] == "Payment processed successfully"
    assert body["processed_at"].endswith("Z")
    assert body["card"] == {"brand": "visa", "last4": "1111"}


def test_seed_status_example_reports_the_completed_payment(walkthrough):
    body = answered_200(walkthrough["status"])
    assert body["transaction_id"] == walkthrough["transaction_id"]
    assert body["status"] == "completed"
    assert (body["booking_id"], body["amount"], body["payment_method"]) == (
        "BOOK-789012",
        25.5,
        "credit_card",
    )
    assert body["created_at"] and body["processed_at"]


def test_seed_refund_example_refunds_the_seed_payment_in_full(walkthrough):
    body = answered_200(walkthrough["refund"])
    assert body["status"] == "success"
    assert body["refund_transaction_id"].startswith("REF-")
    assert body["original_transaction_id"] == walkthrough["transaction_id"]
    assert (body["booking_id"], body["refund_amount"]) == ("BOOK-789012", 25.5)
    assert body["message"] == "Refund processed successfully"
    assert body["refund_type"] == "full"


def test_seed_literal_transaction_id_is_the_documented_not_found(walkthrough):
    for response in (walkthrough["literal_refund"], walkthrough["literal_status"]):
        assert response.status_code == 404, response.text
        error = response.json()["error"]
        assert error["code"] == "TRANSACTION_NOT_FOUND"
        assert "TXN-456789" in error["message"]


def test_seed_declined_test_card_fails_with_card_declined(stack: PaymentStack):
    data = (
        PROCESS.replace("4111111111111111", "4000000000000002")
        .replace('"2025"', '"2031"')
        .replace("BOOK-789012", "BOOK-789013")
    )
    response = post(stack, "/payment/process", data)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status"] == "failed"
    assert body["error_code"] == "CARD_DECLINED"
    assert body["error"]["code"] == "CARD_DECLINED"
    assert body["booking_id"] == "BOOK-789013"
    # the card the provider made from the confirm's card data, named in its decline
    assert body["card"] == {"brand": "visa", "last4": "0002"}
    assert stack.status(body["transaction_id"])["status"] == "failed"


def test_seed_card_is_expired_on_todays_clock(stack: PaymentStack):
    response = post(stack, "/payment/process", PROCESS.replace("BOOK-789012", "BOOK-789014"))
    assert response.status_code == 400, response.text
    assert response.json()["error_code"] == "CARD_EXPIRED"


def test_seed_test_payment_without_card_details_fails_with_a_clear_error(stack: PaymentStack):
    response = post(stack, "/payment/process", TEST_PAYMENT)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "INVALID_CARD"
    assert error["message"] == "card_details is required when payment_method is credit_card"
    assert error["details"]["field"] == "card_details"


def test_seed_methods_example_lists_the_seed_methods_with_stripe_disabled(stack: PaymentStack):
    response = requests.get(f"{stack.url}/payment/methods", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"payment_methods": SEED_METHODS}


def test_seed_health_example_reports_its_dependencies(stack: PaymentStack):
    response = requests.get(f"{stack.url}/health", timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["service"] == "payment-service"
    assert body["timestamp"].endswith("Z")
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["provider"]["ok"] is True
