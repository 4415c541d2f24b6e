"""Timestamped HMAC signatures: what verifies and what is refused."""

from __future__ import annotations

import pytest

from sandbox import signing


def test_signature_round_trip():
    header = signing.sign("secret", b'{"a":1}', timestamp=1000)
    assert signing.verify("secret", b'{"a":1}', header, now=1010) == 1000


@pytest.mark.parametrize(
    ("secret", "payload", "now", "code"),
    [
        ("wrong", b'{"a":1}', 1000, "invalid_signature"),
        ("secret", b'{"a":2}', 1000, "invalid_signature"),
        ("secret", b'{"a":1}', 1000 + 301, "stale_signature"),
    ],
)
def test_wrong_secret_tampered_body_and_stale_timestamp_are_refused(secret, payload, now, code):
    header = signing.sign("secret", b'{"a":1}', timestamp=1000)
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify(secret, payload, header, now=now)
    assert caught.value.code == code


@pytest.mark.parametrize("header", [None, "", "v1=abc", "t=notanumber,v1=abc", "t=1000"])
def test_malformed_headers_are_refused(header):
    with pytest.raises(signing.SignatureError):
        signing.verify("secret", b"x", header, now=1000)
