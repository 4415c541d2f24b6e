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


@pytest.mark.parametrize("signature", ["\xe9" * 64, "ab\u00ffcd", "\ud800"])
def test_a_non_ascii_signature_matches_nothing(signature):
    # hmac.compare_digest raises TypeError on non-ASCII str; a header is attacker input.
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify("secret", b"{}", f"t=1000,v1={signature}", now=1000)
    assert caught.value.code == "invalid_signature"


def test_a_valid_signature_next_to_a_non_ascii_one_still_verifies():
    header = signing.sign("secret", b"{}", timestamp=1000).replace("v1=", "v1=\xe9,v1=")
    assert signing.verify("secret", b"{}", header, now=1000) == 1000


@pytest.mark.parametrize("timestamp", ["+1000", " 1000", "\uff11\uff10\uff10\uff10", "1e3"])
def test_a_timestamp_is_plain_ascii_digits(timestamp):
    header = signing.sign("secret", b"{}", timestamp=1000).replace("t=1000", f"t={timestamp}")
    with pytest.raises(signing.SignatureError) as caught:
        signing.verify("secret", b"{}", header, now=1000)
    assert caught.value.code == "malformed_signature"
