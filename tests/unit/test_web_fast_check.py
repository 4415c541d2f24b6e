"""A request body the services' fast check (jsonschema-rs) accepts, jsonschema accepts too.

``OpenApiDocument.validate_body`` lets jsonschema-rs recognise a valid body first and
asks jsonschema only about the rest, which decides and names the field.  That is only
sound while the fast check never accepts what jsonschema refuses: these tests throw
bodies at both, built from each operation's own field names with awkward values
(trailing newlines, non-ASCII digits, binary floats, wrong types).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.services.common.app import openapi_path
from sandbox.services.common.openapi import OpenApiDocument
from sandbox.services.common.web import ApiError

SERVICES = ("payment", "appointment", "notifier")
DOCUMENTS = {service: OpenApiDocument(openapi_path(service)) for service in SERVICES}


def _operations() -> list[tuple[str, str, str]]:
    found = []
    for service, document in DOCUMENTS.items():
        for path, item in document.document["paths"].items():
            for method, operation in item.items():
                content = operation.get("requestBody", {}).get("content", {})
                if isinstance(operation, dict) and "application/json" in content:
                    found.append((service, method, path))
    return found


OPERATIONS = _operations()

AWKWARD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "abc",
        "abc\n",
        "USD",
        "usd",
        "JPY",
        "US",
        "٣٣٣",
        "12",
        "2034",
        "123",
        "4111111111111111",
        "4111111111111111\n",
        "credit_card",
        "stripe",
        "a@b.co",
        "load@example.com\n",
        "2026-12-07T10:00:00Z",
        "2026-12-07T10:00:00z",
        "2026-12-07T10:00:00",
        "2026-02-30T10:00:00Z",
        "tenant\x00",
        "x" * 300,
    ]
)
NUMBERS = st.one_of(
    st.sampled_from([0, 1, -1, 0.07, 0.1 + 0.2, 75.0, 75.1, 10.005, 1e-9, 5e-324, 1e20, 2**70]),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(AWKWARD_TEXT, st.text(max_size=20), NUMBERS, st.booleans(), st.none())
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(AWKWARD_TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)


def _schema(document: OpenApiDocument, method: str, path: str) -> dict[str, Any]:
    schema = document.document["paths"][path][method]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    while "$ref" in schema:
        node: Any = document.document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        schema = node
    return schema


def _field_values(document: OpenApiDocument, schema: dict[str, Any]) -> dict[str, Any]:
    """Each property: awkward values, or, for an object property, objects of its own fields."""
    fields: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        while isinstance(sub, dict) and "$ref" in sub:
            node: Any = document.document
            for part in sub["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            sub = node
        if isinstance(sub, dict) and sub.get("properties"):
            fields[name] = st.one_of(
                VALUES, st.fixed_dictionaries({}, optional=_field_values(document, sub))
            )
        else:
            fields[name] = VALUES
    return fields


def _bodies(service: str, method: str, path: str) -> st.SearchStrategy[dict[str, Any]]:
    document = DOCUMENTS[service]
    fields = _field_values(document, _schema(document, method, path))
    return st.fixed_dictionaries({}, optional=fields)


def _refused(document: OpenApiDocument, method: str, path: str, body: dict[str, Any]) -> bool:
    validator, _fast = document._validator(method, path)  # type: ignore[misc]
    return any(True for _ in validator.iter_errors(body))


@pytest.mark.parametrize(("service", "method", "path"), OPERATIONS)
def test_every_request_body_schema_compiles_for_the_fast_check(service, method, path):
    found = DOCUMENTS[service]._validator(method, path)
    assert found is not None
    assert found[1] is not None, f"{service} {method} {path}: jsonschema-rs cannot compile it"


@pytest.mark.parametrize(("service", "method", "path"), OPERATIONS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_fast_check_accepts_no_body_jsonschema_refuses(service, method, path, data):
    document = DOCUMENTS[service]
    body = data.draw(_bodies(service, method, path))
    _validator, fast = document._validator(method, path)  # type: ignore[misc]
    if fast(body):
        assert not _refused(document, method, path, body), body


# the bodies of loadtests/users.py
CARD_PAYMENT = {
    "user_id": "user_load",
    "booking_id": "appt_5a5b8565932d4aaf9188",
    "amount": 75.0,
    "payment_method": "credit_card",
    "card_details": {
        "card_number": "4111111111111111",
        "expiry_month": "12",
        "expiry_year": "2034",
        "cvv": "123",
        "cardholder_name": "Load Tester",
    },
}
BOOKING = {
    "customerName": "Load Tester",
    "customerEmail": "load@example.com",
    "service": "Consultation",
    "startTime": "2030-01-15T10:00:00Z",
    "price": 75.0,
    "currency": "USD",
}


def test_the_load_tests_bodies_take_the_fast_path():
    for service, path, body in (
        ("payment", "/payment/process", CARD_PAYMENT),
        ("appointment", "/appointments", BOOKING),
    ):
        _validator, fast = DOCUMENTS[service]._validator("post", path)  # type: ignore[misc]
        assert fast(body), (path, body)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": 10.005}, "amount"),
        ({"amount": 1000, "currency": "JPY"}, None),
        ({"amount": 1000.5, "currency": "JPY"}, "amount"),
        ({"booking_id": "appt 1"}, "booking_id"),
        ({"payment_method": "cash"}, "payment_method"),
    ],
)
def test_a_body_the_fast_check_refuses_is_judged_and_named_by_jsonschema(changes, field):
    body = {**CARD_PAYMENT, **changes}
    document = DOCUMENTS["payment"]
    if field is None:
        document.validate_body("post", "/payment/process", body, "INVALID_PAYMENT")
        return
    with pytest.raises(ApiError) as refused:
        document.validate_body("post", "/payment/process", body, "INVALID_PAYMENT")
    assert refused.value.status == 422
    assert refused.value.details["field"] == field
