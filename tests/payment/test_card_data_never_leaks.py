"""No card number, CVV or expiry in any database, log file or published message.

Runs after every other payment test (see conftest) and scans everything they left:
the databases of every stack (live or dumped at teardown, and the raw SQLite files),
the payment service's log files, and every message drained from the broker.  It first
sends its own payments with every test card, declines and malformed card details
included, so it means something when run alone too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.payment.conftest import Artifacts
from tests.payment.support import (
    CARD_FIELDS,
    CARDS,
    CVV,
    PaymentStack,
    Provider,
    card_body,
    contract_violations,
    free_port,
    make_database,
    new_id,
    unique,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workload(
    provider: Provider, session_vhost: str, artifacts: Artifacts
) -> Iterator[PaymentStack]:
    """A stack of its own that sees every card once, in success, decline and error."""
    directory = artifacts.directory / "leak-workload"
    directory.mkdir(exist_ok=True)
    database = make_database("sqlite", directory)
    artifacts.databases.append(database)
    stack = PaymentStack(
        "leak-workload",
        database,
        session_vhost,
        provider.url,
        artifacts.directory,
        free_port(),
        free_port(),
        {"PAYMENT_LOG_LEVEL": "DEBUG"},
    ).start()
    try:
        for card in CARDS:
            booking = new_id("BOOK")
            paid = stack.post(
                "/payment/process",
                card_body(booking, card=card),
                **{"Idempotency-Key": new_id("k")},
            )
            if paid.status_code == 200:
                stack.post(
                    "/payment/refund",
                    {
                        "booking_id": booking,
                        "original_transaction_id": paid.json()["transaction_id"],
                        "refund_amount": 5.0,
                        "reason": "scan",
                        "user_id": "user_123",
                    },
                )
        malformed = card_body(new_id("BOOK"))
        malformed["card_details"]["card_number"] = CARDS["visa"] + "99999"
        stack.post("/payment/process", malformed)
        as_string = card_body(new_id("BOOK"))
        as_string["card_details"] = CARDS["mastercard"]
        stack.post("/payment/process", as_string)
        yield stack
    finally:
        stack.stop()
        artifacts.events.collect(session_vhost)


def _sources(artifacts: Artifacts) -> Iterator[tuple[str, bytes]]:
    for log in sorted(artifacts.directory.glob("*.log")):
        if log.name != "mock-provider.log":  # the provider is where card data belongs
            yield str(log), log.read_bytes()
    for dump in artifacts.dumps:
        yield str(dump), dump.read_bytes()
    for database in artifacts.databases:
        if database.sqlite_path is not None:
            for path in database.sqlite_path.parent.glob(database.sqlite_path.name + "*"):
                yield str(path), path.read_bytes()
        try:
            yield f"live {database.url}", database.dump().encode()
        except Exception:  # already dropped: its dump was taken at teardown
            continue
    for message in artifacts.events.messages:
        where = f"message {message.routing_key} {message.properties.get('message_id')}"
        yield where, message.raw_body + json.dumps(message.to_dict()["properties"]).encode()


def _needles() -> dict[str, bytes]:
    needles = {f"card {name}": number.encode() for name, number in CARDS.items()}
    for name, number in CARDS.items():
        grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        needles[f"grouped card {name}"] = grouped.encode()
    needles["cvv value"] = f'"{CVV}"'.encode()
    for field in CARD_FIELDS:  # as a JSON key or string ("incorrect_cvc" is a decline code)
        needles[f"field {field}"] = f'"{field}"'.encode()
    return needles


def test_no_card_number_cvv_or_expiry_is_stored_logged_or_published(
    workload: PaymentStack, session_vhost: str, artifacts: Artifacts
):
    artifacts.events.collect(session_vhost)
    sources = list(_sources(artifacts))
    kinds = {where.split()[0] for where, _ in sources}
    assert len(artifacts.events.messages) > 0
    assert any(Path(w).suffix == ".log" for w, _ in sources), kinds
    assert any(w.startswith("live") or w.endswith(".dump.txt") for w, _ in sources), kinds

    found = [
        f"{label} in {where}"
        for where, data in sources
        for label, needle in _needles().items()
        if needle in data
    ]

    assert found == []


def test_every_event_the_tests_saw_matches_its_contract(
    workload: PaymentStack, session_vhost: str, artifacts: Artifacts
):
    artifacts.events.collect(session_vhost)
    seen = unique([m for m in artifacts.events.messages if m.queue == "payment_events"])
    assert len(seen) > 0
    assert contract_violations(seen) == []
