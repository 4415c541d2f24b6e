"""The running appointment API against its OpenAPI document, fuzzed by schemathesis."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from sandbox.services.appointment.api import openapi_path
from tests.appointment.support import AppointmentService

pytestmark = pytest.mark.integration

# Loaded at collection: schemathesis parametrizes from the document.
schema = schemathesis.openapi.from_path(openapi_path())


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_appointment_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, service: AppointmentService
) -> None:
    # "At most two decimals" is not expressible in JSON Schema for binary floats
    # (multipleOf 0.01 rejects 75.1), so schemathesis's positive-data check is replaced by
    # one that allows exactly that refusal and nothing else.
    response = case.call_and_validate(
        base_url=service.url, excluded_checks=[positive_data_acceptance]
    )
    if case.meta is not None and case.meta.generation.mode.is_positive:
        refused = response.status_code >= 400 and response.status_code != 404
        assert not refused or response.json()["error"]["code"] == "INVALID_PRICE", response.text
