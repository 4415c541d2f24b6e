"""Hostile requests against every service and mock of a running sandbox: never a 5xx,
always the component's own JSON error shape, never an echo of a huge value.

Every operation with a JSON body in the OpenAPI documents (and the provider's
form-encoded Stripe API) gets deeply nested JSON, a body past the size limit, a large
field under it, invalid UTF-8, a lone surrogate, repeated keys, NaN and Infinity and the
wrong content type; every component gets a request line and headers past the server's
limits, a malformed request, odd paths and non-ASCII header values.  Refusals made by
the HTTP server itself (gunicorn, werkzeug) are checked too, through a raw socket where
a client library would not send the request.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import yaml

from sandbox.contracts.files import default_contracts_dir
from sandbox.control.state import SupervisorClient
from sandbox.pytest_plugin import running_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT = 1024 * 1024  # the services', the provider's and the merchant's body limit
HUGE = LIMIT * 2 + 17
# An error answer is a short message; anything near the size of what was sent is an echo.
MAX_ERROR_BYTES = 4096


def _error(body: Any) -> dict[str, Any]:
    """The answer's ``error`` object; empty when there is none."""
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _texts(found: dict[str, Any], *keys: str) -> bool:
    return all(isinstance(found.get(key), str) for key in keys)


def _service_shape(body: Any) -> bool:
    error = _error(body)
    return (
        _texts(error, "code", "message")
        and isinstance(error.get("details"), dict)
        and _texts(body, "timestamp")
    )


def _mock_shape(body: Any) -> bool:
    error = _error(body)
    return _texts(error, "code", "message") and "field" in error


def _stripe_shape(body: Any) -> bool:
    return _texts(_error(body), "type", "message")


@dataclass(frozen=True)
class Component:
    name: str  # as in the sandbox's state
    contract: str | None  # its OpenAPI document under contracts/http
    shape: Callable[[Any], bool]


COMPONENTS = [
    Component("payment", "payment.openapi.yaml", _service_shape),
    Component("appointment", "appointment.openapi.yaml", _service_shape),
    Component("notifier", "notifier.openapi.yaml", _service_shape),
    Component("provider", "provider-control.openapi.yaml", _stripe_shape),
    Component("merchant", "mock-merchant.openapi.yaml", _mock_shape),
    Component("smtp", "mock-smtp.openapi.yaml", _mock_shape),
]
BY_NAME = {component.name: component for component in COMPONENTS}
# The provider's Stripe API reads form bodies; it gets the same bodies.
STRIPE_FORM_ROUTES = ["/v1/payment_intents", "/v1/payment_methods", "/v1/refunds"]


HTTP_METHODS = ("get", "put", "post", "delete", "patch")


def _json_operations() -> list[tuple[str, str, str]]:
    """(component, method, path) of every operation with a JSON request body."""
    found = []
    for component in COMPONENTS:
        assert component.contract is not None
        document = yaml.safe_load(
            (default_contracts_dir() / "http" / component.contract).read_text()
        )
        for template, item in document["paths"].items():
            for method, operation in item.items():
                if method not in HTTP_METHODS:
                    continue  # path-level "parameters" and the like
                content = (operation.get("requestBody") or {}).get("content", {})
                if "application/json" in content:
                    path = template.replace("{", "").replace("}", "")  # {id} -> id
                    found.append((component.name, method.upper(), path))
    found += [("provider", "POST", route) for route in STRIPE_FORM_ROUTES]
    return found


OPERATIONS = _json_operations()
OPERATION_IDS = [f"{name} {method} {path}" for name, method, path in OPERATIONS]

# Bodies no component may answer with a 5xx: (name, raw body, content type).
BODIES = [
    ("nested", b"[" * 100_000 + b"]" * 100_000, "application/json"),
    ("nested-object", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "application/json"),
    ("large-field", json.dumps({"customerName": "x" * 900_000}).encode(), "application/json"),
    ("invalid-utf8", b'{"customerName": "\xff\xfe\xc3"}', "application/json"),
    ("lone-surrogate", b'{"customerName": "x\\ud800", "reason": "\\udfff"}', "application/json"),
    (
        "duplicate-keys",
        b'{"amount": 1, "amount": 2, "reason": "a", "reason": "b"}',
        "application/json",
    ),
    ("nan", b'{"amount": NaN, "price": NaN, "delay_ms": NaN}', "application/json"),
    ("infinity", b'{"amount": Infinity, "price": -Infinity, "count": 1e999}', "application/json"),
    ("huge-number", b'{"amount": ' + b"9" * 5000 + b"}", "application/json"),
    ("not-an-object", b'[{"amount": 1}]', "application/json"),
    ("wrong-content-type", b'{"hostile": true}', "text/plain; charset=utf-8"),
    ("form-body", b"hostile=1&amount[]=x", "application/x-www-form-urlencoded"),
    ("empty", b"", "application/json"),
]


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SupervisorClient]:
    """A sandbox of this module's own (some of these bodies reach control APIs), without
    the payment service's rate limits (hundreds of requests come from one address)."""
    with running_sandbox(tmp_path_factory.mktemp("hostile"), profile="load") as client:
        yield client


@pytest.fixture(scope="module")
def urls(sandbox: SupervisorClient) -> dict[str, str]:
    return {component.name: sandbox.endpoint(component.name) for component in COMPONENTS}


def _check(component: str, response: requests.Response) -> None:
    """No 5xx; JSON; a refusal in the component's error shape and short."""
    what = f"{component} {response.request.method} {response.request.url[:120]}"
    assert response.status_code < 500, f"{what}: {response.status_code} {response.text[:500]}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        f"{what}: {response.status_code} {response.headers.get('Content-Type')} "
        f"{response.text[:300]}"
    )
    if response.status_code >= 400:
        assert BY_NAME[component].shape(response.json()), f"{what}: {response.text[:500]}"
        assert len(response.content) < MAX_ERROR_BYTES, f"{what}: {len(response.content)} bytes"


@pytest.mark.parametrize(("name", "body", "content_type"), BODIES, ids=[b[0] for b in BODIES])
@pytest.mark.parametrize(("component", "method", "path"), OPERATIONS, ids=OPERATION_IDS)
def test_hostile_bodies_are_refused_in_the_error_shape(
    urls: dict[str, str],
    component: str,
    method: str,
    path: str,
    name: str,
    body: bytes,
    content_type: str,
) -> None:
    response = requests.request(
        method,
        urls[component] + path,
        data=body,
        headers={"Content-Type": content_type},
        timeout=30,
    )
    _check(component, response)


@pytest.mark.parametrize(("component", "method", "path"), OPERATIONS, ids=OPERATION_IDS)
def test_a_body_past_the_limit_is_413_in_the_error_shape(
    urls: dict[str, str], component: str, method: str, path: str
) -> None:
    body = b'{"customerName": "' + b"x" * HUGE + b'"}'
    response = requests.request(
        method,
        urls[component] + path,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    # The provider's Stripe API checks the API key (none here) before it reads a body.
    expected = 401 if path.startswith("/v1/") else 413
    assert response.status_code == expected, response.text[:300]
    _check(component, response)


@pytest.mark.parametrize("component", ["payment", "appointment", "merchant"])
def test_a_streamed_body_past_the_limit_is_413(urls: dict[str, str], component: str) -> None:
    # Chunked: no Content-Length to refuse it by; the limit holds while reading.
    path = {"payment": "/payment/process", "appointment": "/appointments", "merchant": "/callbacks"}
    chunks = (b"x" * 65536 for _ in range(HUGE // 65536 + 1))
    response = requests.post(
        urls[component] + path[component],
        data=chunks,
        headers={"Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code in (400, 401, 413), response.text[:300]
    _check(component, response)


@pytest.mark.parametrize("component", [c.name for c in COMPONENTS])
def test_a_request_line_past_the_server_limit_is_414_in_the_error_shape(
    urls: dict[str, str], component: str
) -> None:
    response = requests.get(urls[component] + "/" + "a" * 70_000, timeout=30)
    assert response.status_code == 414, response.text[:300]
    _check(component, response)


@pytest.mark.parametrize("component", [c.name for c in COMPONENTS])
@pytest.mark.parametrize(
    "headers",
    [{"X-Big": "b" * 70_000}, {f"X-Many-{i}": "x" for i in range(150)}],
    ids=["huge-header", "too-many-headers"],
)
def test_headers_past_the_server_limits_are_431_in_the_error_shape(
    urls: dict[str, str], component: str, headers: dict[str, str]
) -> None:
    response = requests.get(urls[component] + "/health", headers=headers, timeout=30)
    assert response.status_code == 431, response.text[:300]
    _check(component, response)


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is and read the whole answer (the server closes after it)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


@pytest.mark.parametrize("component", [c.name for c in COMPONENTS])
@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad Header Name: 1\r\n",
        b"GET /health HTTP/9.9\r\nHost: x\r\n",
        b"G\x01T /health HTTP/1.1\r\nHost: x\r\n",
        b"POST /health HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n",
    ],
    ids=["bad-header-name", "bad-version", "bad-method", "negative-length"],
)
def test_malformed_requests_are_refused_in_the_error_shape(
    urls: dict[str, str], component: str, request_bytes: bytes
) -> None:
    status, headers, body = _raw(urls[component], request_bytes + b"Connection: close\r\n\r\n")
    assert status < 500, body[:300]
    assert headers.get("content-type", "").startswith("application/json"), body[:300]
    if status >= 400:  # werkzeug reads a header name with spaces as a header; gunicorn refuses
        assert BY_NAME[component].shape(json.loads(body)), body[:300]


ODD_PATHS = ["/%00", "/%ff%fe", "/..%2f..%2fetc%2fpasswd", "//health", "/health%0d%0aX: y", "/é"]


@pytest.mark.parametrize("component", [c.name for c in COMPONENTS])
@pytest.mark.parametrize("path", ODD_PATHS)
def test_odd_paths_get_a_json_answer(urls: dict[str, str], component: str, path: str) -> None:
    _check(component, requests.get(urls[component] + path, timeout=30))


ODD_HEADERS = {
    "Stripe-Signature": "t=1,v1=\xe9\xe9",
    "X-Merchant-Signature": "t=\xe9,v1=\xff",
    "X-Tenant-Id": "t\xe9nant",
    "X-Correlation-Id": "\xe9" * 64,
    "Idempotency-Key": "k\xe9y",
    "Content-Type": "application/json; charset=\xe9",
}


@pytest.mark.parametrize(("component", "method", "path"), OPERATIONS, ids=OPERATION_IDS)
@pytest.mark.parametrize("header", list(ODD_HEADERS))
def test_non_ascii_header_values_are_no_5xx(
    urls: dict[str, str], component: str, method: str, path: str, header: str
) -> None:
    raw_value = ODD_HEADERS[header].encode("latin-1")
    headers = {"Content-Type": "application/json", header: raw_value}
    # A body every operation refuses: {} would be a valid command to some control APIs.
    response = requests.request(
        method, urls[component] + path, data=b'{"hostile": true}', headers=headers, timeout=30
    )
    _check(component, response)


# -- the cases found by hand, kept ---------------------------------------------------------


def test_a_lone_surrogate_in_a_name_creates_no_provider_intent(urls: dict[str, str]) -> None:
    def intents() -> int:
        health = requests.get(urls["provider"] + "/health", timeout=10).json()
        return int(health["objects"].get("payment_intent", 0))

    before = intents()
    body = (
        b'{"user_id": "u1", "booking_id": "BOOK-SURROGATE", "amount": 10,'
        b' "customer_name": "x\\ud800"}'
    )
    response = requests.post(
        urls["payment"] + "/payment/intents",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "INVALID_JSON"
    assert intents() == before


def test_a_large_refused_field_is_not_echoed(urls: dict[str, str]) -> None:
    body = {"customerName": "x" * 900_000, "customerEmail": "not an email"}
    response = requests.post(urls["appointment"] + "/appointments", json=body, timeout=30)
    assert response.status_code == 422, response.text[:300]
    assert len(response.content) < MAX_ERROR_BYTES


@pytest.mark.parametrize("component", ["payment", "merchant"])
def test_a_non_ascii_signature_is_an_invalid_signature(
    urls: dict[str, str], component: str
) -> None:
    path, header = {
        "payment": ("/payment/webhook", "Stripe-Signature"),
        "merchant": ("/callbacks", "X-Merchant-Signature"),
    }[component]
    response = requests.post(
        urls[component] + path,
        data=b"{}",
        headers={"Content-Type": "application/json", header: "t=1,v1=\xe9".encode("latin-1")},
        timeout=30,
    )
    assert response.status_code in (400, 401), response.text
    _check(component, response)
