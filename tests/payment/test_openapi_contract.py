"""The running service against its own OpenAPI document: valid document, served as is,
and schemathesis with all its checks finds no server error and no schema violation.

Business refusals of schema-valid requests (a generated card number the provider
declines, a disabled payment method, an unsigned webhook) are documented 400s, so
``positive_data_acceptance`` is told that 400 is an expected answer too.
"""

from __future__ import annotations

import uuid

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from sandbox.contracts.openapi_check import openapi_problems
from sandbox.services.payment.api import openapi_path
from tests.payment.support import PaymentStack

pytestmark = pytest.mark.integration

CONFIG = SchemathesisConfig.from_dict(
    {
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "429", "5xx"]
            }
        }
    }
)
# Loaded at collection: schemathesis parametrizes from the document (its lazy
# from_fixture loader crashes under pytest 9).
schema = schemathesis.openapi.from_path(openapi_path(), config=CONFIG)


def test_the_document_is_a_valid_openapi_document():
    assert openapi_problems(openapi_path()) == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_service_serves_its_document_at_openapi_json(stack: PaymentStack):
    served = requests.get(f"{stack.url}/openapi.json", timeout=10).json()
    assert served == yaml.safe_load(openapi_path().read_text())


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_conforms_to_its_openapi_document(case: schemathesis.Case, stack: PaymentStack):
    # A generated key ("0") recurs across different generated bodies, which is the
    # documented 422 IDEMPOTENCY_KEY_REUSED (tested on its own); keep keys apart here.
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"{case.headers['Idempotency-Key']}-{uuid.uuid4().hex}"
    case.call_and_validate(base_url=stack.url, timeout=30)
