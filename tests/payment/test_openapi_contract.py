"""The running service against its own OpenAPI document: valid document, served as is,
and schemathesis with every check, one test per operation, finds no server error, no
schema violation and no schema-valid request refused; the requests it once found are
kept as regressions at the end.

A schema-valid request may still be refused for a reason no document can state: a card
the bank declines, a disabled payment method, a refund of a payment that is not
completed.  Seed 003 answers those with 400, so "schema-valid request accepted" is told
400 is expected on the three operations that make them, and the test then checks that
each such 400 names one of those business refusals and never a validation code.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from schemathesis.config import SchemathesisConfig

from sandbox.contracts.openapi_check import openapi_problems
from sandbox.services.common.app import openapi_path
from sandbox.signing import sign
from tests.fuzzing import ALL_CHECKS, CaseCount, fuzz_settings, load
from tests.payment.support import CARD_FIELDS, WEBHOOK_SECRET, PaymentStack, card_body
from tests.service_support import NOT_PLAIN_PAGES

pytestmark = pytest.mark.integration

# The business refusals a schema-valid request may get, per operation (seed 003's codes).
BUSINESS_REFUSALS = {
    "POST /payment/process": {
        "CARD_DECLINED",
        "INSUFFICIENT_FUNDS",
        "CARD_EXPIRED",
        "INVALID_CARD",
        "PAYMENT_METHOD_DISABLED",
        "PAYMENT_METHOD_NOT_SUPPORTED",
        "PAYMENT_REJECTED",
    },
    "POST /payment/refund": {"REFUND_NOT_ALLOWED"},
    "POST /payment/{transaction_id}/cancel": {"CANCEL_NOT_ALLOWED"},
}
POSITIVE_STATUSES = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            {
                "include-name": label,
                "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES}},
            }
            for label in BUSINESS_REFUSALS
        ]
    }
)
# Loaded at collection: schemathesis parametrizes from the document.
schema = load(openapi_path("payment"), CONFIG)
sent = CaseCount(schema)
MIN_CASES = 1000
IDEMPOTENCY_KEY = "Idempotency-Key"
VALID_KEY = re.compile(r"[!-~]{1,255}")


def test_the_document_is_a_valid_openapi_document():
    assert openapi_problems(openapi_path("payment")) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_service_serves_its_document_at_openapi_json(stack: PaymentStack):
    served = requests.get(f"{stack.url}/openapi.json", timeout=10).json()
    assert served == yaml.safe_load(openapi_path("payment").read_text())


def _is_positive(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.generation.mode.is_positive


def _provider_event(body: dict[str, Any]) -> dict[str, Any]:
    """A generated event with an id as the provider writes them (``evt_...``).

    The service stores and logs an event's id and type.  Generators draw strings from
    the document's property names, and an event named ``expiry_month`` would read as a
    card field to the leak scan that runs after these tests.
    """
    event = {**body, "id": f"evt_{uuid.uuid4().hex}"}
    if event["type"] in CARD_FIELDS:
        event["type"] = f"unknown.{event['type']}"
    return event


def _send(case: schemathesis.Case, base_url: str) -> requests.Response:
    key = (case.headers or {}).get(IDEMPOTENCY_KEY)
    if key is not None and VALID_KEY.fullmatch(str(key)):
        # Generated keys ("0") recur across different bodies, which is the documented 422
        # IDEMPOTENCY_KEY_REUSED (tested on its own); a valid key is made unique.
        case.headers[IDEMPOTENCY_KEY] = uuid.uuid4().hex
    if case.operation.label == "POST /payment/webhook" and _is_positive(case):
        # A valid delivery is signed with the endpoint secret, which no generator knows.
        case.body = _provider_event(case.body)
        payload = json.dumps(case.body).encode()
        case.headers = {**(case.headers or {}), "Stripe-Signature": sign(WEBHOOK_SECRET, payload)}
        headers = {"Content-Type": "application/json"}
        response: requests.Response = case.call_and_validate(
            base_url=base_url,
            timeout=30,
            checks=ALL_CHECKS,
            data=payload,
            json=None,
            headers=headers,
        )
        return response
    return case.call_and_validate(base_url=base_url, timeout=30, checks=ALL_CHECKS)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@schema.parametrize()
@fuzz_settings(max_examples=100)
def test_the_api_conforms_to_its_openapi_document(case: schemathesis.Case, stack: PaymentStack):
    sent.add(case)
    response = _send(case, stack.url)
    if _is_positive(case) and response.status_code == 400:
        code = response.json()["error"]["code"]
        allowed = BUSINESS_REFUSALS.get(case.operation.label, set())
        assert code in allowed, f"schema-valid request refused with {code}: {response.text}"


def test_the_fuzzing_sent_at_least_1000_requests() -> None:
    sent.require(MIN_CASES)


# -- what the fuzzing once found ----------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("amount", [0.07, 19.99, 999999.99])
def test_an_amount_with_two_decimals_is_charged_whatever_its_binary_float(
    stack: PaymentStack, amount: float
):
    response = stack.post("/payment/process", card_body(f"BOOK-{uuid.uuid4().hex}", amount=amount))
    assert response.status_code == 200, response.text
    assert response.json()["amount"] == amount


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": 5e-324}, "amount"),
        ({"amount": 1_000_000}, "amount"),
        ({"amount": 25.5, "currency": "Jpy"}, "amount"),
        ({"currency": "kWd"}, "currency"),
    ],
)
def test_amounts_and_currencies_the_document_forbids_are_refused(
    stack: PaymentStack, change: dict, field: str
):
    booking = f"BOOK-{uuid.uuid4().hex}"
    response = stack.post("/payment/process", {**card_body(booking), **change})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field
    assert error["code"] in ("INVALID_AMOUNT", "UNSUPPORTED_CURRENCY")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@pytest.mark.parametrize("page", NOT_PLAIN_PAGES)
def test_pages_are_plain_ascii_digits(stack: PaymentStack, page: str):
    response = stack.http.get(f"{stack.url}/payments", params={"page": page}, timeout=10)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == "page"
