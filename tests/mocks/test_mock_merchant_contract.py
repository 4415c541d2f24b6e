"""The mock merchant API against its OpenAPI document, fuzzed by schemathesis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from mocks.merchant.server import MockMerchantServer
from mocks.merchant.settings import MerchantMockSettings
from sandbox.signing import sign
from tests.fuzzing import ALL_CHECKS, fuzz_settings, load

CONTRACT = Path(__file__).resolve().parents[2] / "contracts/http/mock-merchant.openapi.yaml"
SECRET = "contract-secret"

pytestmark = pytest.mark.integration

# Loaded at collection: schemathesis parametrizes from the document. (Its lazy
# `from_fixture` loader reads `Function._nodeid`, which pytest 9 no longer has.)
schema = load(CONTRACT)


@pytest.fixture(scope="module")
def contract_merchant() -> Iterator[MockMerchantServer]:
    """Run one merchant for the whole module."""
    with MockMerchantServer(MerchantMockSettings(port=0, secret=SECRET)) as server:
        yield server


@schema.parametrize()
@fuzz_settings(max_examples=50)
def test_merchant_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, contract_merchant: MockMerchantServer
) -> None:
    # A fuzzed /_control call may switch on failures or latency; each case starts clean,
    # so an injected 5xx is never mistaken for a crash.
    contract_merchant.faults.reset()
    case.call_and_validate(base_url=contract_merchant.url, checks=ALL_CHECKS)


def test_real_callbacks_and_their_records_match_their_documented_schemas(
    contract_merchant: MockMerchantServer,
) -> None:
    # Fuzzed callbacks are never validly signed, so this one is.
    contract_merchant.faults.reset()
    base_url = contract_merchant.url
    body: Any = {"paymentId": "pay_c", "eventId": "evt_c"}
    signature = sign(SECRET, json.dumps(body).encode())

    for expected in ("accepted", "duplicate"):
        callback = schema["/callbacks"]["POST"].Case(
            body=body, headers={"X-Merchant-Signature": signature}
        )
        # The body must be serialised exactly as signed.
        response = callback.call_and_validate(base_url=base_url, data=json.dumps(body), json=None)
        assert response.json()["status"] == expected

    listing = schema["/callbacks"]["GET"].Case(query={"paymentId": "pay_c"})
    records = listing.call_and_validate(base_url=base_url).json()["callbacks"]
    assert [r["outcome"] for r in records] == ["accepted", "duplicate"]
    one = schema["/callbacks/{id}"]["GET"].Case(path_parameters={"id": records[0]["id"]})
    assert one.call_and_validate(base_url=base_url).json()["payment_id"] == "pay_c"
    summary = schema["/callbacks/summary"]["GET"].Case(query={})
    assert summary.call_and_validate(base_url=base_url).json()["totals"]["accepted"] >= 1


def test_injected_failure_answer_matches_its_documented_schema(
    contract_merchant: MockMerchantServer,
) -> None:
    fail = schema["/_control/fail"]["POST"].Case(body={"status": 503, "count": 1})
    fail.call_and_validate(base_url=contract_merchant.url)

    callback = schema["/callbacks"]["POST"].Case(body={"paymentId": "pay_f"})
    response = callback.call_and_validate(
        base_url=contract_merchant.url, excluded_checks=[schemathesis.checks.not_a_server_error]
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "injected_failure"
