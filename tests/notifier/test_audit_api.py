"""The notifier's HTTP API: the audit log by correlation id, health, and its contract."""

from __future__ import annotations

import uuid
from functools import partial

import pytest
import requests
import schemathesis

from sandbox.messaging import Publisher
from sandbox.services.common.app import openapi_path
from sandbox.waiting import wait_for
from tests.fuzzing import ALL_CHECKS, fuzz_settings, load
from tests.notifier.support import EXAMPLE_TENANT, NotifierService, appointment_event, unique_email
from tests.service_support import NOT_PLAIN_PAGES, assert_invalid_pagination

pytestmark = pytest.mark.integration

schema = load(openapi_path("notifier"))


def test_audit_log_lists_only_the_attempts_of_the_asked_correlation_id(
    notifier: NotifierService, publisher: Publisher, http: requests.Session
) -> None:
    flows = [f"flow-{uuid.uuid4().hex}" for _ in range(2)]
    for flow in flows:
        publisher.publish(
            appointment_event(
                "appointment.cancelled", correlation_id=flow, customerEmail=unique_email()
            )
        )

    for flow in flows:
        wait_for(
            partial(notifier.audit, correlation_id=flow),
            timeout=20,
            what=f"the audit row of {flow}",
        )
    page = http.get(
        f"{notifier.url}/notifications",
        params={"correlation_id": flows[0]},
        headers={"X-Tenant-Id": EXAMPLE_TENANT},
    ).json()

    assert page["total"] == 1
    [row] = page["items"]
    assert (row["correlationId"], row["template"], row["status"]) == (
        flows[0],
        "appointment_cancelled",
        "sent",
    )
    assert row["emailMessageId"].startswith("<appointment_cancelled.")
    bad = http.get(f"{notifier.url}/notifications", params={"status": "maybe"})
    assert (bad.status_code, bad.json()["error"]["code"]) == (400, "INVALID_FILTER")


def test_every_notifier_process_reports_its_dependencies(
    notifier: NotifierService, http: requests.Session
) -> None:
    web = http.get(f"{notifier.url}/health").json()
    consumer = http.get(notifier.consumer_health).json()
    relay = http.get(notifier.relay_health).json()
    assert web["checks"]["database"] == {"ok": True}
    assert consumer["checks"] == {"broker": {"ok": True}, "database": {"ok": True}}
    assert consumer["consumer"]["queues"] == [
        "appointment_notifications",
        "notifier_payment_events",
    ]
    assert relay["checks"]["broker"] == {"ok": True}


@schema.parametrize()
@fuzz_settings(max_examples=50)
def test_notifier_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, notifier: NotifierService
) -> None:
    case.call_and_validate(base_url=notifier.url, checks=ALL_CHECKS)


@pytest.mark.parametrize("page", NOT_PLAIN_PAGES)
def test_pages_are_plain_ascii_digits(
    notifier: NotifierService, http: requests.Session, page: str
) -> None:
    assert_invalid_pagination(http, f"{notifier.url}/notifications", page)
