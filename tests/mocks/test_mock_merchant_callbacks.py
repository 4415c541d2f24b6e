"""Mock merchant over real HTTP: signed callbacks are verified, recorded and de-duplicated."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests

from mocks.merchant.server import MockMerchantServer
from mocks.merchant.settings import MerchantMockSettings
from sandbox.signing import sign

pytestmark = pytest.mark.integration


def payment(payment_id: str = "pay_1", event_id: str = "evt_1", **extra: Any) -> bytes:
    body = {"eventId": event_id, "paymentId": payment_id, "status": "completed", **extra}
    return json.dumps(body).encode()


def post(
    http: requests.Session,
    merchant: MockMerchantServer,
    body: bytes,
    signature: str | None = "valid",
    **headers: str,
) -> requests.Response:
    sent = {"Content-Type": "application/json", **headers}
    if signature == "valid":
        sent["X-Merchant-Signature"] = sign(merchant.settings.secret, body)
    elif signature is not None:
        sent["X-Merchant-Signature"] = signature
    return http.post(merchant.callback_url, data=body, headers=sent, timeout=10)


def records(http: requests.Session, merchant: MockMerchantServer, **params: str) -> list[dict]:
    response = http.get(merchant.url + "/callbacks", params=params, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["callbacks"]


def test_validly_signed_callback_is_accepted_and_recorded(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    body = payment()
    response = post(http, merchant, body, **{"X-Correlation-Id": "corr-9"})

    assert response.status_code == 200
    assert response.json()["status"] == "accepted"
    [record] = records(http, merchant)
    assert record["outcome"] == "accepted"
    assert record["payment_id"] == "pay_1"
    assert record["correlation_id"] == "corr-9"
    assert record["signature_valid"] is True
    assert record["body"] == json.loads(body)
    assert record["headers"]["X-Correlation-Id"] == "corr-9"


def bad_signature(kind: str, secret: str, body: bytes) -> str | None:
    """Return a signature header that fails verification in the way ``kind`` names."""
    return {
        "missing": None,
        "malformed": "garbage",
        "wrong-secret": sign("some-other-secret", body),
        "stale": sign(secret, body, timestamp=int(time.time()) - 3600),
    }[kind]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "missing_signature"),
        ("malformed", "malformed_signature"),
        ("wrong-secret", "invalid_signature"),
        ("stale", "stale_signature"),
    ],
)
def test_bad_signature_is_a_401_and_recorded_as_rejected(
    merchant: MockMerchantServer, http: requests.Session, kind: str, reason: str
) -> None:
    body = payment()
    signature = bad_signature(kind, merchant.settings.secret, body)

    response = post(http, merchant, body, signature=signature)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == reason
    assert response.json()["error"]["field"] == "X-Merchant-Signature"
    [record] = records(http, merchant)
    assert (record["outcome"], record["reason"], record["status"]) == ("rejected", reason, 401)
    assert record["payment_id"] == "pay_1"


def test_signature_over_a_different_body_is_rejected(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    tampered = payment(amount=1)
    signed_elsewhere = sign(merchant.settings.secret, payment(amount=1000))
    response = post(http, merchant, tampered, signature=signed_elsewhere)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3]", b"{not json", b"[" * 100_000 + b"]" * 100_000],
    ids=["array", "broken", "absurdly-nested"],
)
def test_signed_body_that_is_not_a_json_object_is_a_400_recorded_as_rejected(
    merchant: MockMerchantServer, http: requests.Session, body: bytes
) -> None:
    response = post(http, merchant, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert records(http, merchant, outcome="rejected")[0]["reason"] == "invalid_json"


def test_redelivered_event_is_counted_once_as_accepted(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    first = post(http, merchant, payment(event_id="evt_7"))
    again = post(http, merchant, payment(event_id="evt_7"))

    assert first.json()["status"] == "accepted"
    assert again.status_code == 200
    assert again.json() == {
        "status": "duplicate",
        "id": again.json()["id"],
        "duplicate_of": first.json()["id"],
    }
    summary = http.get(merchant.url + "/callbacks/summary").json()
    assert summary["payments"]["pay_1"]["accepted"] == 1
    assert summary["payments"]["pay_1"]["duplicate"] == 1


def test_idempotency_key_header_takes_precedence_over_the_event_id(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    post(http, merchant, payment(event_id="evt_a"), **{"Idempotency-Key": "same"})
    second = post(http, merchant, payment(event_id="evt_b"), **{"Idempotency-Key": "same"})

    assert second.json()["status"] == "duplicate"
    assert len(records(http, merchant, idempotency_key="same", outcome="accepted")) == 1


def test_fail_twice_then_succeed_is_seen_by_a_retrying_client(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    control = http.post(merchant.url + "/_control/fail", json={"status": 500, "count": 2})
    assert control.status_code == 200, control.text

    statuses = []
    for _attempt in range(5):
        response = post(http, merchant, payment(event_id="evt_retry"))
        statuses.append(response.status_code)
        if response.ok:
            break

    assert statuses == [500, 500, 200]
    outcomes = [r["outcome"] for r in records(http, merchant, paymentId="pay_1")]
    assert outcomes == ["failed", "failed", "accepted"]
    assert http.get(merchant.url + "/_control").json()["fail"]["mode"] == "off"


def test_always_fail_mode_fails_until_turned_off(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    http.post(merchant.url + "/_control/fail", json={"status": 503, "mode": "always"})

    assert [post(http, merchant, payment()).status_code for _ in range(3)] == [503, 503, 503]
    http.post(merchant.url + "/_control/fail", json={"mode": "off"})
    assert post(http, merchant, payment()).status_code == 200


def test_injected_latency_delays_the_answer(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    http.post(merchant.url + "/_control/latency", json={"delay_ms": 300})

    started = time.monotonic()
    response = post(http, merchant, payment())
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.3, f"expected at least 0.3 s of injected latency, saw {elapsed:.3f} s"
    assert records(http, merchant)[0]["delay_ms"] == 300


def test_reset_turns_faults_off(merchant: MockMerchantServer, http: requests.Session) -> None:
    http.post(merchant.url + "/_control/fail", json={"status": 500, "mode": "always"})
    http.post(merchant.url + "/_control/latency", json={"delay_ms": 100})

    faults = http.post(merchant.url + "/_control/reset").json()

    assert faults["fail"]["mode"] == "off"
    assert faults["latency"]["delay_ms"] == 0


def test_filters_select_by_payment_and_correlation_id(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    post(http, merchant, payment("pay_a", "e1"), **{"X-Correlation-Id": "c1"})
    post(http, merchant, payment("pay_b", "e2", correlationId="c2"))

    assert [r["payment_id"] for r in records(http, merchant, paymentId="pay_b")] == ["pay_b"]
    assert [r["payment_id"] for r in records(http, merchant, payment_id="pay_a")] == ["pay_a"]
    assert [r["payment_id"] for r in records(http, merchant, correlation_id="c2")] == ["pay_b"]


def test_ids_are_found_inside_a_payment_wrapper(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    body = json.dumps({"event": "payment.completed", "payment": {"paymentId": "pay_w"}}).encode()
    post(http, merchant, body)

    assert records(http, merchant)[0]["payment_id"] == "pay_w"


def test_delete_forgets_records_and_accepted_keys(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    post(http, merchant, payment())

    assert http.delete(merchant.url + "/callbacks").json() == {"deleted": 1}
    assert records(http, merchant) == []
    assert post(http, merchant, payment()).json()["status"] == "accepted"


def test_one_record_is_readable_by_id_and_unknown_ids_are_404(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    record_id = post(http, merchant, payment()).json()["id"]

    assert http.get(f"{merchant.url}/callbacks/{record_id}").json()["id"] == record_id
    missing = http.get(f"{merchant.url}/callbacks/999999")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "callback_not_found"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/_control/fail", {"status": 200}, "status"),
        ("/_control/fail", {"status": 500, "count": 0}, "count"),
        ("/_control/fail", {"mode": "sometimes"}, "mode"),
        ("/_control/fail", {"status": 500, "times": 2}, "times"),
        ("/_control/latency", {"delay_ms": -1}, "delay_ms"),
        ("/_control/latency", {"delay_ms": 10**6}, "delay_ms"),
        ("/_control/latency", {}, "delay_ms"),
    ],
)
def test_bad_control_fields_are_a_400_naming_the_field(
    merchant: MockMerchantServer, http: requests.Session, path: str, body: dict, field: str
) -> None:
    response = http.post(merchant.url + path, json=body)

    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


def test_bad_outcome_filter_is_a_400(merchant: MockMerchantServer, http: requests.Session) -> None:
    response = http.get(merchant.url + "/callbacks", params={"outcome": "maybe"})

    assert response.status_code == 400
    assert response.json()["error"]["field"] == "outcome"


def test_health_reports_counts_faults_and_a_secret_fingerprint(
    merchant: MockMerchantServer, http: requests.Session
) -> None:
    post(http, merchant, payment())
    post(http, merchant, payment(), signature=None)

    health = http.get(merchant.url + "/health").json()

    assert health["status"] == "ok"
    assert health["callbacks"]["accepted"] == 1
    assert health["callbacks"]["rejected"] == 1
    assert health["fail"]["mode"] == "off"
    assert merchant.settings.secret not in json.dumps(health)


def test_callback_path_is_configurable(http: requests.Session) -> None:
    settings = MerchantMockSettings(port=0, secret="s", callback_path="/api/v1/payments/update")
    with MockMerchantServer(settings) as merchant:
        body = payment()
        response = http.post(
            merchant.url + "/api/v1/payments/update",
            data=body,
            headers={"X-Merchant-Signature": sign("s", body)},
        )

        assert response.status_code == 200, response.text
        assert records(http, merchant)[0]["path"] == "/api/v1/payments/update"
