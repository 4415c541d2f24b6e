"""Timestamped HMAC-SHA256 signatures, the scheme Stripe uses for webhooks.

Header value: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<payload>")>``.  The same
scheme signs the mock provider's webhooks and the notifier's merchant callbacks.  The
merchant's callbacks are verified here; the provider's webhooks are verified by the
payment service with the stripe SDK (``payment.provider_webhooks``), as a Stripe
integration would.  Verification compares in constant time and rejects timestamps
outside the tolerance, either way, which is what stops a replayed old delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time

DEFAULT_TOLERANCE_S = 300
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureError(ValueError):
    """The signature header is missing, malformed, stale or does not match."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def compute(secret: str, payload: bytes, timestamp: int) -> str:
    """Return the hex v1 signature of ``payload`` signed at ``timestamp``."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(secret: str, payload: bytes, timestamp: int | None = None) -> str:
    """Return a complete signature header value for ``payload``."""
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={ts},v1={compute(secret, payload, ts)}"


def parse(header: str) -> tuple[int, list[str]]:
    """Split a header into its timestamp and its v1 signatures."""
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            # ASCII digits only: int() would also read "+1", " 1" and full-width digits.
            if not _TIMESTAMP.fullmatch(value):
                raise SignatureError("malformed_signature", "timestamp is not an integer")
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("malformed_signature", "signature header has no t= timestamp")
    if not signatures:
        raise SignatureError("malformed_signature", "signature header has no v1= signature")
    return timestamp, signatures


def verify(
    secret: str,
    payload: bytes,
    header: str | None,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``payload``; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError("missing_signature", "signature header is missing")
    timestamp, signatures = parse(header)
    expected = compute(secret, payload, timestamp)
    # compare_digest refuses non-ASCII str (TypeError); such a signature matches nothing.
    if not any(
        candidate.isascii() and hmac.compare_digest(expected, candidate) for candidate in signatures
    ):
        raise SignatureError("invalid_signature", "signature does not match the payload")
    current = time.time() if now is None else now
    if tolerance_s > 0 and abs(current - timestamp) > tolerance_s:
        raise SignatureError(
            "stale_signature",
            f"signature timestamp is {int(current - timestamp)} s away from now "
            f"(tolerance {tolerance_s} s)",
        )
    return timestamp
