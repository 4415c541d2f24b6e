"""The appointment store on SQLite and PostgreSQL: what the handlers write, read back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from sandbox.messaging import IncomingMessage
from sandbox.services.appointment import handlers, rules
from sandbox.services.appointment.storage import AppointmentStore, metadata
from tests.appointment.support import NEW_APPOINTMENT, payment_event
from tests.payment.support import engine_with_tables
from tests.services.support import driver_statements

TENANT = "tenant-storage"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppointmentStore]:
    with engine_with_tables(request.param, tmp_path, metadata) as engine:
        yield AppointmentStore(engine)


def consumed(routing_key: str, appointment_id: str, message_id: str) -> IncomingMessage:
    event = payment_event(routing_key, appointment_id=appointment_id, tenant_id=TENANT)
    return IncomingMessage(
        routing_key=routing_key,
        raw_body=event.body,
        properties={"message_id": message_id, "correlation_id": "flow-1"},
        queue="payment_events",
    )


def test_a_paid_appointment_is_stored_confirmed_and_read_back_by_its_tenant_only(
    store: AppointmentStore,
) -> None:
    other = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-0"
    )
    appt = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-1"
    )
    completed = consumed("payment.completed", appt.id, "evt-1")
    handlers.handle_payment_event(completed, store.unit_of_work)

    stored = store.get(TENANT, appt.id)
    assert stored is not None
    assert (stored.status, stored.payment_status) == (rules.CONFIRMED, rules.PAID)
    assert stored.payment_id == completed.body["paymentId"]
    assert stored.price == Decimal("75.10")
    assert store.get("another-tenant", appt.id) is None
    assert store.get(TENANT, other.id) == other
    assert store.outbox_events(appt.id) == ["appointment.created", "appointment.confirmed"]


def test_a_redelivered_payment_event_changes_and_publishes_nothing(
    store: AppointmentStore,
) -> None:
    appt = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-1"
    )
    completed = consumed("payment.completed", appt.id, "evt-1")
    assert handlers.handle_payment_event(completed, store.unit_of_work) is not None
    assert handlers.handle_payment_event(completed, store.unit_of_work) is None
    assert store.outbox_events(appt.id) == ["appointment.created", "appointment.confirmed"]


def test_a_message_id_is_recorded_once_for_each_consumer(store: AppointmentStore) -> None:
    with store.unit_of_work() as uow:
        assert uow.first_time("consumer-a", "evt-1")
        assert not uow.first_time("consumer-a", "evt-1")
        assert uow.first_time("consumer-b", "evt-1")
        assert uow.first_time("consumer-a", "evt-2")


def test_a_unit_that_only_writes_is_one_statement_outside_a_transaction_on_postgresql(
    store: AppointmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    uses = driver_statements(monkeypatch)
    appt = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-1"
    )
    monkeypatch.undo()
    seen = [(ran.verb, ran.how) for use in uses for ran in use]
    assert store.get(TENANT, appt.id) == appt
    assert store.outbox_events(appt.id) == ["appointment.created"]
    if store.engine.dialect.name == "postgresql":
        assert seen == [("WITH", "autocommit")]
    else:  # in a transaction that holds the write lock, a statement per table
        assert seen == [("INSERT", "write lock"), ("INSERT", "write lock")]


def test_a_unit_that_reads_writes_in_the_transaction_its_read_opened(
    store: AppointmentStore,
) -> None:
    appt = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-1"
    )
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        assert uow.first_time("consumer-a", "evt-1")
        current = uow.get(appt.id)
        assert current is not None
        uow.update(replace(current, status=rules.CANCELLED))
        uow.flush()  # written in the open transaction ...
        raise RuntimeError("... which rolls back")
    assert store.get(TENANT, appt.id) == appt
    with store.unit_of_work() as uow:
        assert uow.first_time("consumer-a", "evt-1"), "the rolled back record stayed"


def test_first_time_and_get_records_the_message_and_reads_the_appointment(
    store: AppointmentStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    appt = handlers.create_appointment(
        store.unit_of_work, NEW_APPOINTMENT, tenant_id=TENANT, correlation_id="flow-1"
    )
    uses = driver_statements(monkeypatch)
    with store.unit_of_work() as uow:
        assert uow.first_time_and_get("consumer-a", "evt-1", appt.id) == (True, appt)
    monkeypatch.undo()
    seen = [(ran.verb, ran.how) for use in uses for ran in use]
    if store.engine.dialect.name == "postgresql":
        assert seen == [("WITH", "transaction")], seen
    else:
        assert seen == [("INSERT", "write lock"), ("SELECT", "write lock")], seen
    with store.unit_of_work() as uow:
        assert uow.first_time_and_get("consumer-a", "evt-1", appt.id) == (False, None)
        assert uow.first_time_and_get("consumer-b", "evt-1", appt.id) == (True, appt)
    with store.unit_of_work() as uow:
        assert uow.first_time_and_get("consumer-a", "evt-2", "appt_missing") == (True, None)
        assert uow.first_time_and_get("consumer-a", "evt-2", "appt_missing") == (False, None)
