"""What one card flow's SQL costs the appointment and notifier services: CPU per flow.

Replays, against a fresh SQLite file per service, the storage calls the services make
for one card flow, in the order their handlers make them:

- appointment web: ``POST /appointments`` (insert + ``appointment.created``), then the
  payment service's booking check (``GET /appointments/{id}``);
- appointment consumer: ``payment.created`` and ``payment.completed`` (inbox, row read
  for update, update, outbox);
- notifier consumer: ``appointment.created`` (projection), ``payment.created`` (the
  merchant callback), ``payment.completed`` (email and callback), ``appointment.confirmed``
  (projection and email): inbox, delivered channels, recipient look-up, delivery and
  audit rows with ``notification.sent``.

Inputs (appointments, and the events and attempts the services' own builders make of
them) are built before the clock starts, so the figures are the storage layer's:
SQLAlchemy building, compiling and executing the statements, and SQLite.  CPU is this
thread's (``time.thread_time``).

CPU µs per flow on a shared 2-core machine, statements built on every call against
statements built once with bound parameters (``--flows 400``, best of 3, two runs):
appointment 2060-2089 against 830-875, notifier 4137-4227 against 1765-1820 (the
notifier also reads an event's delivered channels once instead of once per channel).

    .venv/bin/python benchmarks/sql_bench_services.py [--flows 500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Engine, MetaData

from sandbox.contracts.owed import EMAIL, channels_for
from sandbox.messaging import OutgoingMessage
from sandbox.services.appointment import rules
from sandbox.services.appointment import storage as appointment_storage
from sandbox.services.appointment.events import CONFIRMED, CREATED, event_for
from sandbox.services.appointment.rules import Appointment
from sandbox.services.common.db import create_schema, make_engine
from sandbox.services.notifier import storage as notifier_storage
from sandbox.services.notifier.events import SENT, notification
from sandbox.services.notifier.handlers import SourceEvent
from sandbox.services.notifier.rendering import AppointmentFacts
from sandbox.services.notifier.storage import Attempt

TENANT = "tenant_bench"
WARM_UP = 20
# the events the notifier consumes in a card flow, in order; the appointment.* ones
# also update its projection of the appointment
NOTIFIER_CONSUMES = (
    "appointment.created",
    "payment.created",
    "payment.completed",
    "appointment.confirmed",
)

Store = TypeVar("Store")


@dataclass(frozen=True)
class Flow:
    """Everything one flow's storage calls take, built before timing."""

    created: Appointment
    with_payment: Appointment
    confirmed: Appointment
    ids: dict[str, str]  # routing key -> the consumed event's message id
    published: dict[str, OutgoingMessage]  # routing key -> an event the flow writes
    attempts: dict[tuple[str, str], Attempt]  # (routing key, channel) -> a sent attempt

    @classmethod
    def new(cls) -> Flow:
        now = datetime.now(UTC)
        correlation_id = f"flow-{uuid.uuid4().hex}"
        created = Appointment(
            id=f"appt_{uuid.uuid4().hex[:20]}",
            tenant_id=TENANT,
            customer_id="cust_bench",
            customer_name="Bench Customer",
            customer_email="bench@example.com",
            service="Consultation",
            start_time="2030-01-01T10:00:00Z",
            price=Decimal("100.00"),
            currency="USD",
            status=rules.PENDING_CONFIRMATION,
            payment_status=rules.PAYMENT_PENDING,
            created_at=now,
            updated_at=now,
            correlation_id=correlation_id,
        )
        with_payment = replace(created, payment_id=f"pay_{uuid.uuid4().hex[:20]}")
        confirmed = replace(with_payment, status=rules.CONFIRMED, payment_status=rules.PAID)
        ids = {key: uuid.uuid4().hex for key in NOTIFIER_CONSUMES}
        published = {
            key: event_for(key, appt, correlation_id=correlation_id)
            for key, appt in [(CREATED, created), (CONFIRMED, confirmed)]
        }
        body = {
            "tenantId": TENANT,
            "appointmentId": created.id,
            "paymentId": with_payment.payment_id,
        }
        attempts = {}
        for key in NOTIFIER_CONSUMES:
            source = SourceEvent(ids[key], key, correlation_id, 1, body)
            for channel, template in channels_for(key, True):
                attempt = source.attempt_record(
                    channel, template, created.customer_email, SENT, now
                )
                attempts[(key, channel)] = attempt
                published[f"{key}/{channel}"] = notification(attempt, created.customer_id)
        return cls(created, with_payment, confirmed, ids, published, attempts)


def appointment_flow(store: appointment_storage.AppointmentStore, flow: Flow) -> None:
    appt = flow.created
    with store.unit_of_work() as uow:  # POST /appointments
        uow.insert(appt)
        uow.publish([flow.published["appointment.created"]], appt.id)
    store.get(TENANT, appt.id)  # the payment service's booking check
    consumed = [
        ("payment.created", flow.with_payment, []),
        ("payment.completed", flow.confirmed, [flow.published["appointment.confirmed"]]),
    ]
    for key, changed, outgoing in consumed:
        with store.unit_of_work() as uow:
            assert uow.first_time("appointment-service/payment_events", flow.ids[key])
            assert uow.get(appt.id) is not None
            uow.update(changed)
            uow.publish(outgoing, appt.id)


def notifier_flow(store: notifier_storage.NotifierStore, flow: Flow) -> None:
    appt = flow.created
    facts = AppointmentFacts(appt.customer_email, appt.customer_name, appt.service, None)
    for key in NOTIFIER_CONSUMES:
        event_id = flow.ids[key]
        if key.startswith("appointment."):
            store.project_appointment(event_id, appt.id, TENANT, facts)
        channels = [channel for channel, _template in channels_for(key, True)]
        if not channels:
            continue
        progress = store.progress(event_id, (TENANT, appt.id) if EMAIL in channels else None)
        for channel in channels:
            assert channel not in progress.delivered
            attempt = flow.attempts[(key, channel)]
            store.record_sent(attempt, flow.published[f"{key}/{channel}"])


def per_flow(
    metadata: MetaData,
    make_store: Callable[[Engine], Store],
    run: Callable[[Store, Flow], None],
    flows: int,
) -> float:
    """CPU µs per flow of ``run(store, flow)``, on a fresh SQLite file, after a warm-up."""
    inputs = [Flow.new() for _ in range(flows + WARM_UP)]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.db")
        create_schema(engine, metadata)
        store = make_store(engine)
        for flow in inputs[:WARM_UP]:
            run(store, flow)
        began = time.thread_time()
        for flow in inputs[WARM_UP:]:
            run(store, flow)
        spent = time.thread_time() - began
        engine.dispose()
    return spent / flows * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=500, help="flows per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="measurements; the best is shown")
    args = parser.parse_args()
    appointment = min(
        per_flow(
            appointment_storage.metadata,
            appointment_storage.AppointmentStore,
            appointment_flow,
            args.flows,
        )
        for _ in range(args.rounds)
    )
    notifier = min(
        per_flow(
            notifier_storage.metadata, notifier_storage.NotifierStore, notifier_flow, args.flows
        )
        for _ in range(args.rounds)
    )
    print("| storage calls of one card flow | CPU µs per flow |")
    print("|---|---:|")
    print(f"| appointment (web + consumer) | {appointment:.0f} |")
    print(f"| notifier consumer | {notifier:.0f} |")
    print(f"| both | {appointment + notifier:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
