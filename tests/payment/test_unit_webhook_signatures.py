"""The provider's webhook signatures, verified by the stripe SDK (no I/O).

The deliveries are signed by ``sandbox.signing``, the mock provider's signer, so these
also show that what the mock sends is what the SDK accepts.
"""

from __future__ import annotations

import json

import pytest

from sandbox.services.payment import provider_webhooks as hooks
from sandbox.signing import sign

SECRET = "whsec_unit_0123456789"
NOW = 1_700_000_000
BODY = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.succeeded",
        "data": {"object": {"id": "pi_1", "object": "payment_intent", "amount": 4000}},
    }
).encode()


def verify(body: bytes, header: str | None, tolerance_s: int = 300) -> dict:
    return hooks.construct_event(body, header, SECRET, tolerance_s=tolerance_s, now=NOW)


def refusal(body: bytes, header: str | None, tolerance_s: int = 300) -> hooks.WebhookRefused:
    with pytest.raises(hooks.WebhookRefused) as caught:
        verify(body, header, tolerance_s)
    return caught.value


def test_a_signed_delivery_is_the_event_as_plain_data(monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW)
    event = verify(BODY, sign(SECRET, BODY, NOW - 10))
    assert event == json.loads(BODY)
    assert type(event["data"]["object"]) is dict


def test_a_tampered_body_is_an_invalid_signature():
    tampered = BODY.replace(b"4000", b"1")
    assert refusal(tampered, sign(SECRET, BODY, NOW)).reason == hooks.INVALID


def test_another_secret_is_an_invalid_signature():
    assert refusal(BODY, sign("whsec_someone_else", BODY, NOW)).reason == hooks.INVALID


@pytest.mark.parametrize("header", ["garbage", "t=abc,v1=00", f"t={NOW}", "t=1,v1=\xe9"])
def test_a_malformed_header_is_an_invalid_signature(header):
    assert refusal(BODY, header).reason == hooks.INVALID


def test_a_missing_header_is_a_missing_signature():
    assert refusal(BODY, None).reason == hooks.MISSING
    assert refusal(BODY, "").reason == hooks.MISSING


def test_a_delivery_older_than_the_tolerance_is_stale(monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW)
    refused = refusal(BODY, sign(SECRET, BODY, NOW - 301))
    assert refused.reason == hooks.STALE
    assert "300 s" in refused.message


def test_a_timestamp_beyond_the_clock_skew_is_refused(monkeypatch):
    monkeypatch.setattr("time.time", lambda: NOW)
    ahead = NOW + hooks.FUTURE_SKEW_S + 5
    assert refusal(BODY, sign(SECRET, BODY, ahead)).reason == hooks.FUTURE
    assert verify(BODY, sign(SECRET, BODY, NOW + hooks.FUTURE_SKEW_S))["id"] == "evt_1"


def test_a_tolerance_of_zero_checks_no_timestamp():
    assert verify(BODY, sign(SECRET, BODY, 1000), tolerance_s=0)["id"] == "evt_1"
    assert verify(BODY, sign(SECRET, BODY, NOW + 86_400), tolerance_s=0)["id"] == "evt_1"


@pytest.mark.parametrize("body", [b"[1, 2]", b"not json", b"\xff\xfe", b"[" * 100_000])
def test_a_signed_body_that_is_not_an_event_object_is_refused(body):
    assert refusal(body, sign(SECRET, body, NOW), tolerance_s=0).reason == hooks.NOT_AN_EVENT


def test_no_refusal_repeats_the_secret_or_the_signature():
    header = sign(SECRET, BODY, NOW - 3600)
    signature = header.split("v1=")[1]
    for refused in (refusal(BODY, header), refusal(b"x", header), refusal(BODY, "t=1,v1=ab")):
        assert SECRET not in refused.message and signature not in refused.message
