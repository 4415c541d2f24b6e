"""The running appointment API against its OpenAPI document, fuzzed by schemathesis with
every check, one test per operation, and the requests it once refused although the
document allowed them (or accepted although it did not) kept as regressions."""

from __future__ import annotations

import pytest
import requests
import schemathesis

from sandbox.services.common.app import openapi_path
from tests.appointment.support import BOOKING, AppointmentService
from tests.fuzzing import ALL_CHECKS, CaseCount, fuzz_settings, load
from tests.service_support import NOT_PLAIN_PAGES, assert_invalid_pagination

pytestmark = pytest.mark.integration

# Loaded at collection: schemathesis parametrizes from the document.
schema = load(openapi_path("appointment"))
sent = CaseCount(schema)
MIN_CASES = 1000


@schema.parametrize()
@fuzz_settings(max_examples=250)
def test_appointment_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, service: AppointmentService
) -> None:
    sent.add(case)
    case.call_and_validate(base_url=service.url, checks=ALL_CHECKS)


def test_the_fuzzing_sent_at_least_1000_requests() -> None:
    sent.require(MIN_CASES)
    print("SENT", dict(sent.sent), sent.total)


@pytest.mark.parametrize("price", [0.07, 19.99, 75.1, 999999.99])
def test_a_price_with_two_decimals_is_accepted_whatever_its_binary_float(
    service: AppointmentService, http: requests.Session, price: float
) -> None:
    # 0.07 / 0.01 is 7.000000000000001 in binary floats; the price is read as written.
    response = http.post(f"{service.url}/appointments", json={**BOOKING, "price": price})
    assert response.status_code == 201, response.text
    assert response.json()["price"] == price


@pytest.mark.parametrize("price", [0, -0.0, 5e-324, 10.005, 1_000_000])
def test_a_price_that_cannot_be_paid_is_invalid_price(
    service: AppointmentService, http: requests.Session, price: float
) -> None:
    response = http.post(f"{service.url}/appointments", json={**BOOKING, "price": price})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "INVALID_PRICE"


@pytest.mark.parametrize("field", ["customerName", "service"])
@pytest.mark.parametrize("text", ["Jane\x00Doe", "Jane\nDoe", "Jane\x7f"])
def test_control_characters_in_names_are_refused(
    service: AppointmentService, http: requests.Session, field: str, text: str
) -> None:
    response = http.post(f"{service.url}/appointments", json={**BOOKING, field: text})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["field"] == field


@pytest.mark.parametrize("page", NOT_PLAIN_PAGES)
def test_pages_are_plain_ascii_digits(
    service: AppointmentService, http: requests.Session, page: str
) -> None:
    assert_invalid_pagination(http, f"{service.url}/appointments", page)
