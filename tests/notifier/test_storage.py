"""The notifier store on SQLite and PostgreSQL: the appointment projection and deliveries."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from sandbox.contracts.owed import EMAIL, WEBHOOK
from sandbox.messaging import OutgoingMessage
from sandbox.services.common import outbox
from sandbox.services.common.doorbell import DOORBELL_ENV, Doorbell
from sandbox.services.notifier.handlers import SourceEvent
from sandbox.services.notifier.rendering import AppointmentFacts
from sandbox.services.notifier.storage import (
    Attempt,
    NotifierStore,
    Progress,
    metadata,
    outbox_rows,
)
from tests.payment.support import engine_with_tables

FACTS = AppointmentFacts("jane@example.com", "Jane", "Haircut", "2030-06-01T10:00:00Z")
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


@pytest.fixture
def bell() -> Iterator[Doorbell]:
    doorbell = Doorbell("127.0.0.1", 0)
    yield doorbell
    doorbell.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    bell: Doorbell,
) -> Iterator[NotifierStore]:
    """The store on a fresh database, its engine ringing ``bell`` as the sandbox's do."""
    host, port = bell.address
    monkeypatch.setenv(DOORBELL_ENV, f"{host}:{port}")
    with engine_with_tables(request.param, tmp_path, metadata) as engine:
        yield NotifierStore(engine)


def outbox_count(store: NotifierStore) -> int:
    with store.engine.connect() as conn:
        return outbox.pending_count(conn, outbox_rows)


def attempt(event_id: str, channel: str, status: str = "sent") -> Attempt:
    body = {"tenantId": "t1", "appointmentId": "appt_1", "paymentId": "pay_1"}
    event = SourceEvent(event_id, "payment.completed", "flow-1", 1, body)
    return event.attempt_record(channel, "payment_succeeded", "jane@example.com", status, NOW)


def sent_event() -> OutgoingMessage:
    return OutgoingMessage.event(
        "notification.sent", {"type": "NOTIFICATION_SENT"}, producer="notifier-service"
    )


def test_a_later_event_keeps_the_facts_it_leaves_out(store: NotifierStore) -> None:
    assert store.project_appointment("evt-1", "appt_1", "t1", FACTS)
    later = AppointmentFacts(None, None, "Colour", None)
    assert store.project_appointment("evt-2", "appt_1", "t1", later)
    assert store.appointment("t1", "appt_1") == replace(FACTS, service="Colour")


def test_a_redelivered_event_changes_no_projection(store: NotifierStore) -> None:
    assert store.project_appointment("evt-1", "appt_1", "t1", FACTS)
    assert not store.project_appointment("evt-1", "appt_1", "t1", replace(FACTS, service="X"))
    assert store.appointment("t1", "appt_1") == FACTS


def test_one_event_projected_from_several_threads_at_once_is_applied_once(
    store: NotifierStore,
) -> None:
    start = threading.Barrier(6)

    def project(n: int) -> bool:
        start.wait(timeout=10)
        return store.project_appointment("evt-1", "appt_1", "t1", replace(FACTS, service=f"S{n}"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        applied = list(pool.map(project, range(6)))
    assert applied.count(True) == 1
    winner = applied.index(True)
    assert store.appointment("t1", "appt_1") == replace(FACTS, service=f"S{winner}")


def test_an_appointment_is_found_only_under_its_own_tenant(store: NotifierStore) -> None:
    store.project_appointment("evt-1", "appt_1", "t1", FACTS)
    store.project_appointment("evt-2", "appt_1", "t2", replace(FACTS, customer_email="b@x.io"))
    assert store.appointment("t1", "appt_1") == FACTS
    assert store.appointment("t2", "appt_1") == replace(FACTS, customer_email="b@x.io")
    assert store.appointment("t3", "appt_1") is None


def test_delivered_channels_are_the_event_channels_sent(store: NotifierStore) -> None:
    assert store.progress("evt-1") == Progress(frozenset(), None)
    store.record_sent(attempt("evt-1", EMAIL), sent_event())
    store.record_failed(attempt("evt-1", WEBHOOK, status="failed"), None)
    store.record_sent(attempt("evt-2", WEBHOOK), sent_event())
    assert store.progress("evt-1").delivered == {EMAIL}
    store.record_sent(attempt("evt-1", WEBHOOK), sent_event())
    assert store.progress("evt-1").delivered == {EMAIL, WEBHOOK}
    audit, total = store.notifications("t1", event_id="evt-1")
    assert total == 3
    assert [(a.channel, a.status) for a in audit] == [
        (EMAIL, "sent"),
        (WEBHOOK, "failed"),
        (WEBHOOK, "sent"),
    ]


def test_progress_reads_the_delivered_channels_and_the_tenants_appointment_together(
    store: NotifierStore,
) -> None:
    store.project_appointment("evt-0", "appt_1", "t1", FACTS)
    store.project_appointment("evt-9", "appt_1", "t2", replace(FACTS, customer_email="b@x.io"))
    assert store.progress("evt-1", ("t1", "appt_1")) == Progress(frozenset(), FACTS)
    store.record_sent(attempt("evt-1", EMAIL), sent_event())
    store.record_sent(attempt("evt-1", WEBHOOK), sent_event())
    assert store.progress("evt-1", ("t1", "appt_1")) == Progress(frozenset({EMAIL, WEBHOOK}), FACTS)
    assert store.progress("evt-1", ("t2", "appt_1")).facts == replace(
        FACTS, customer_email="b@x.io"
    )
    assert store.progress("evt-1", ("t3", "appt_1")) == Progress(frozenset({EMAIL, WEBHOOK}))
    assert store.progress("evt-1").facts is None


def test_a_sent_notification_commits_its_event_and_rings_the_relay(
    store: NotifierStore, bell: Doorbell
) -> None:
    store.record_sent(attempt("evt-1", EMAIL), sent_event())
    assert outbox_count(store) == 1
    assert bell.wait(5.0), "no ring after the sent notification's event committed"


def test_a_failed_attempt_without_an_event_does_not_ring(
    store: NotifierStore, bell: Doorbell
) -> None:
    store.record_failed(attempt("evt-1", EMAIL, status="failed"), None)
    assert store.notifications("t1")[1] == 1
    assert not bell.wait(0.3), "rang although no event was written"


def test_a_delivery_recorded_twice_leaves_no_audit_row_and_no_event(
    store: NotifierStore,
) -> None:
    store.record_sent(attempt("evt-1", EMAIL), sent_event())
    with pytest.raises(IntegrityError):
        store.record_sent(attempt("evt-1", EMAIL), sent_event())
    assert store.notifications("t1")[1] == 1
    assert outbox_count(store) == 1
