"""The mock SMTP inbox API against its OpenAPI document, fuzzed by schemathesis."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import schemathesis

from mocks.smtp.refusal import RefuseMode
from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import SmtpMockSettings
from tests.fuzzing import ALL_CHECKS, fuzz_settings, load

CONTRACT = Path(__file__).resolve().parents[2] / "contracts/http/mock-smtp.openapi.yaml"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def contract_smtp_server() -> Iterator[MockSmtpServer]:
    """Run one server for the whole module, with a mail in it so reads return data."""
    with MockSmtpServer(SmtpMockSettings(smtp_port=0, http_port=0)) as server:
        yield server


# Loaded at collection: schemathesis parametrizes from the document. (Its lazy
# `from_fixture` loader reads `Function._nodeid`, which pytest 9 no longer has.)
schema = load(CONTRACT)


def seed_mail(server: MockSmtpServer) -> None:
    msg = EmailMessage()
    msg["From"] = "notifier@sandbox.local"
    msg["To"] = "erin@example.com"
    msg["Subject"] = "Payment succeeded"
    msg["X-Correlation-Id"] = "corr-contract"
    msg.set_content("Thanks.")
    msg.add_alternative("<p>Thanks.</p>", subtype="html")
    with smtplib.SMTP(server.settings.host, server.smtp_port, timeout=10) as client:
        client.send_message(msg)


@schema.parametrize()
@fuzz_settings(max_examples=50)
def test_smtp_inbox_api_conforms_to_its_openapi_document(
    case: schemathesis.Case, contract_smtp_server: MockSmtpServer
) -> None:
    # Each case starts from the same state: one mail stored, refuse mode off.
    contract_smtp_server.refuse.set(RefuseMode())
    if not contract_smtp_server.store.list():
        seed_mail(contract_smtp_server)
    case.call_and_validate(base_url=contract_smtp_server.http_url, checks=ALL_CHECKS)


def test_a_real_message_and_its_listing_match_their_documented_schemas(
    contract_smtp_server: MockSmtpServer,
) -> None:
    # Fuzzed ids are random, so this case reads a message that exists; the fuzzing
    # before it may have left any refuse mode switched on.
    contract_smtp_server.refuse.set(RefuseMode())
    contract_smtp_server.store.clear()
    seed_mail(contract_smtp_server)
    [stored] = contract_smtp_server.store.list()
    base_url = contract_smtp_server.http_url

    detail = schema["/api/messages/{id}"]["GET"].Case(path_parameters={"id": stored.id})
    assert detail.call_and_validate(base_url=base_url).json()["text"].strip() == "Thanks."
    listing = schema["/api/messages"]["GET"].Case(
        query={"header": ["X-Correlation-Id:corr-contract"]}
    )
    assert listing.call_and_validate(base_url=base_url).json()["count"] == 1
    raw = schema["/api/messages/{id}/raw"]["GET"].Case(path_parameters={"id": stored.id})
    assert raw.call_and_validate(base_url=base_url).status_code == 200
