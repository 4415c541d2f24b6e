"""X-Tenant-Id: one tenant never sees, lists, refunds or cancels another's payments."""

from __future__ import annotations

import pytest

from tests.payment.support import PaymentStack, card_body, new_id

pytestmark = pytest.mark.integration


@pytest.fixture
def two_tenants(stack: PaymentStack) -> dict[str, dict]:
    """Per tenant: its headers, a completed card payment and a pending intent."""
    made = {}
    for name in ("alpha", "beta"):
        headers = {"X-Tenant-Id": new_id(name)}
        booking = new_id("BOOK")
        paid = stack.post("/payment/process", card_body(booking), **headers).json()
        intent = stack.post(
            "/payment/intents",
            {"user_id": "user_123", "booking_id": new_id("BOOK"), "amount": 10},
            **headers,
        ).json()
        made[name] = {"headers": headers, "paid": paid, "booking": booking, "intent": intent}
    return made


def test_a_tenant_cannot_read_another_tenants_payment(stack: PaymentStack, two_tenants):
    alpha, beta = two_tenants["alpha"], two_tenants["beta"]
    for path in (
        f"/payment/status/{beta['paid']['transaction_id']}",
        f"/payment/{beta['paid']['transaction_id']}/timeline",
    ):
        response = stack.get(path, **alpha["headers"])
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "TRANSACTION_NOT_FOUND"
    assert stack.get(f"/payment/status/{beta['paid']['transaction_id']}", **beta["headers"]).ok


def test_a_tenants_listing_holds_only_its_own_payments(stack: PaymentStack, two_tenants):
    for name, tenant in two_tenants.items():
        listed = stack.get("/payments", **tenant["headers"]).json()["payments"]
        assert {p["transaction_id"] for p in listed} == {
            tenant["paid"]["transaction_id"],
            tenant["intent"]["transaction_id"],
        }, name


def test_a_tenant_cannot_refund_another_tenants_payment(stack: PaymentStack, two_tenants):
    alpha, beta = two_tenants["alpha"], two_tenants["beta"]
    refund = {
        "booking_id": beta["booking"],
        "original_transaction_id": beta["paid"]["transaction_id"],
        "refund_amount": 5.0,
        "reason": "not yours",
        "user_id": "user_123",
    }

    response = stack.post("/payment/refund", refund, **alpha["headers"])

    assert response.status_code == 404
    assert stack.status(beta["paid"]["transaction_id"], **beta["headers"])["status"] == "completed"


def test_a_tenant_cannot_cancel_another_tenants_payment(stack: PaymentStack, two_tenants):
    alpha, beta = two_tenants["alpha"], two_tenants["beta"]
    transaction_id = beta["intent"]["transaction_id"]

    response = stack.post(f"/payment/{transaction_id}/cancel", {}, **alpha["headers"])

    assert response.status_code == 404
    assert stack.status(transaction_id, **beta["headers"])["status"] == "pending"


def test_requests_without_a_tenant_use_the_documented_default_tenant(stack: PaymentStack):
    paid = stack.post("/payment/process", card_body(new_id("BOOK"))).json()
    assert stack.get(f"/payment/status/{paid['transaction_id']}").ok
    assert stack.get(f"/payment/status/{paid['transaction_id']}", **{"X-Tenant-Id": "default"}).ok


def test_the_same_booking_id_may_be_paid_once_per_tenant(stack: PaymentStack):
    booking = new_id("BOOK")
    for tenant in (new_id("alpha"), new_id("beta")):
        response = stack.post("/payment/process", card_body(booking), **{"X-Tenant-Id": tenant})
        assert response.status_code == 200, response.text
