"""A business flow against a running sandbox: clients, controls, tap and expectations.

A ``Flow`` carries one correlation id and one tenant into every request it makes, watches
the bus with an event tap validating every message, and reads like the flow it tests::

    with Flow.attach(state_dir, "happy-path") as flow:
        appointment = flow.appointments.create()
        flow.payments.pay_by_card(booking_id=appointment["appointmentId"], amount=75.0)
        flow.expect("appointment.confirmed", within=5)
        flow.expect_email(subject="confirmed", within=10)

Everything observed lands in ``flow.timeline`` for the terminal and the HTML report.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mocks.clients import MerchantClient, ProviderClient, SmtpClient
from sandbox.control.state import SupervisorClient
from sandbox.messaging.envelope import CORRELATION_HEADER, OutgoingMessage
from sandbox.messaging.tap import KIND_DEAD_LETTER, KIND_EVENT, EventTap, TapRecord
from sandbox.scenario import observed
from sandbox.scenario.clients import (
    AppointmentClient,
    NotifierClient,
    PaymentClient,
    flow_source_ip,
    recording_session,
)
from sandbox.scenario.timeline import CONSUMER_LANES, PRODUCER_LANES, Entry, Timeline
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import Unexpected, WaitTimeout, hold_for, wait_for


class Flow:
    """One business flow: its clients, the mocks, process control, a tap and expectations
    (docs/pytest-plugin.md shows every public method with an example)."""

    def __init__(
        self,
        state: dict[str, Any],
        processes: SupervisorClient,
        name: str,
        *,
        tenant: str = "tenant-a",
        correlation_id: str | None = None,
        broker: BrokerSettings | None = None,
    ) -> None:
        self.name = name
        self.tenant = tenant
        # the services refuse ids outside 1-128 visible ASCII characters (0x21-0x7E)
        label = re.sub(r"[^\x21-\x7e]", "-", name)[:100]
        self.correlation_id = correlation_id or f"{label}-{uuid.uuid4().hex[:12]}"
        self.timeline = Timeline()
        self.processes = processes
        self.topology = build(broker or BrokerSettings())
        components = state.get("components") or {}
        headers = {CORRELATION_HEADER: self.correlation_id, "X-Tenant-Id": tenant}

        def endpoint(name: str) -> str:
            entry = components.get(name) or {}
            return str(entry.get("endpoint") or f"http://unavailable/{name}")

        # each flow is its own client: the payment service rate-limits per client IP
        ip = flow_source_ip(self.correlation_id)
        self.appointments = AppointmentClient(
            "appointment", endpoint("appointment"), self.timeline, headers, source_ip=ip
        )
        self.payments = PaymentClient(
            "payment", endpoint("payment"), self.timeline, headers, source_ip=ip
        )
        self.notifier = NotifierClient("notifier", endpoint("notifier"), self.timeline, headers)
        self.smtp = SmtpClient(endpoint("smtp"), session=recording_session("smtp", self.timeline))
        self.merchant = MerchantClient(
            endpoint("merchant"), session=recording_session("merchant", self.timeline)
        )
        self.provider = ProviderClient(
            endpoint("provider"), session=recording_session("provider", self.timeline)
        )
        from sandbox.contracts import ContractRegistry

        self.tap = EventTap(
            str((state.get("broker") or {}).get("url")),
            self.topology,
            validator=ContractRegistry.load().validate_delivered,
            name=f"tap-{name}",
        )

    @property
    def broker_url(self) -> str:
        """The sandbox broker's AMQP URL, for scenarios that publish or inspect directly."""
        return str((self.processes.state().get("broker") or {}).get("url"))

    @classmethod
    def attach(cls, state_dir: Path, name: str, **kwargs: Any) -> Flow:
        """A flow against the sandbox running for ``state_dir``."""
        processes = SupervisorClient(state_dir)
        return cls(processes.state(), processes, name, **kwargs)

    def __enter__(self) -> Flow:
        self.tap.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.tap.stop()
        self.record_bus()

    # -- expectations ------------------------------------------------------------------

    def expect(
        self, routing_key: str, *, within: float = 5.0, count: int = 1, **match: Any
    ) -> list[TapRecord]:
        """Wait for ``count`` events with this routing key in this flow; return them.

        ``match`` narrows further (``type``, ``message_id``, ``producer``, or another
        ``correlation_id``).  On timeout the error lists the events this flow did get."""
        match.setdefault("correlation_id", self.correlation_id)
        with self._noting_miss(f"{count} x {routing_key} within {within:g} s"):
            return self._await(
                f"{count} x {routing_key} {match}",
                within,
                count,
                lambda r: r.kind == KIND_EVENT and _matches(r, routing_key, match),
            )

    def expect_dead_letter(self, queue: str, *, within: float = 15.0) -> TapRecord:
        """Wait until a message of this flow is dead-lettered to ``<queue>.dlq``."""
        with self._noting_miss(f"a dead letter in {queue}.dlq within {within:g} s"):
            [record] = self._await(
                f"a dead letter in {queue}.dlq",
                within,
                1,
                lambda r: (
                    r.kind == KIND_DEAD_LETTER
                    and r.routing_key == f"{queue}.dlq"
                    and r.correlation_id == self.correlation_id
                ),
            )
        return record

    def expect_no_event(
        self, routing_key: str | None = None, *, within: float = 1.0, **match: Any
    ) -> None:
        """Fail if this flow has, or gets within ``within`` seconds, an event with this
        routing key (any event when None) matching ``match``; the error lists them.

        Waits the whole window when nothing arrives: the window is the claim."""
        match.setdefault("correlation_id", self.correlation_id)
        what = f"{routing_key or 'event'} {match}"

        def arrived() -> list[str]:
            hits = self.tap.records(
                lambda r: r.kind == KIND_EVENT and _matches(r, routing_key, match)
            )
            return [_describe(r) for r in hits]

        try:
            hold_for(arrived, within=within, what=what)
        except Unexpected as exc:
            self.timeline.note(f"expected no {what} within {within:g} s", ok=False, error=str(exc))
            raise

    def expect_email(
        self,
        *,
        subject: str | None = None,
        to: str | None = None,
        within: float = 10.0,
        count: int = 1,
    ) -> list[dict[str, Any]]:
        """Wait for ``count`` emails of this flow (matched by its correlation header) whose
        subject contains ``subject`` and whose recipients include ``to``; return them.
        On timeout the error lists the emails this flow did get."""
        filters = {"header": f"{CORRELATION_HEADER}:{self.correlation_id}"}
        if to:
            filters["to"] = to
        if subject:
            filters["subject"] = subject

        def mails() -> list[dict[str, Any]]:
            found = self.smtp.messages(**filters)
            return found if len(found) >= count else []

        def got() -> list[str]:
            return [
                f"{mail.get('subject')!r} to {', '.join(mail.get('to') or [])}"
                for mail in self.emails()
            ]

        wanted = f"{count} email(s)" + (f" with subject {subject!r}" if subject else "")
        wanted += f" to {to}" if to else ""
        with self._noting_miss(f"{wanted} within {within:g} s"):
            return wait_for(
                mails, timeout=within, what=f"{wanted} in this flow", interval=0.1, seen=got
            )

    def events(self, routing_key: str | None = None, **match: Any) -> list[TapRecord]:
        """The events of this flow seen so far (with this routing key, when given)."""
        match.setdefault("correlation_id", self.correlation_id)
        return self.tap.records(lambda r: r.kind == KIND_EVENT and _matches(r, routing_key, match))

    def publish(
        self,
        routing_key: str,
        body: dict[str, Any],
        *,
        producer: str = "test-client",
        message_id: str | None = None,
    ) -> OutgoingMessage:
        """Publish an event to the sandbox's exchange as this flow (its correlation id),
        with confirms; return the message sent.  The body is not checked here: the
        consumers and the contract gate judge it as they would any producer's."""
        message = OutgoingMessage.event(
            routing_key,
            body,
            producer=producer,
            correlation_id=self.correlation_id,
            message_id=message_id,
        )
        from sandbox.messaging import Publisher

        with Publisher(self.broker_url, self.topology.exchange.name) as publisher:
            publisher.publish(message)
        self.timeline.note(f"published {routing_key} ({message.message_id}) as {producer}")
        return message

    def _await(
        self, what: str, within: float, count: int, where: Callable[[TapRecord], bool]
    ) -> list[TapRecord]:
        def found() -> list[TapRecord]:
            hits = self.tap.records(where)
            return hits if len(hits) >= count else []

        def got() -> list[str]:
            mine = self.tap.records(lambda r: r.correlation_id == self.correlation_id)
            return [_describe(r) for r in mine]

        return wait_for(found, timeout=within, what=f"{what}; this flow got", seen=got)

    @contextmanager
    def _noting_miss(self, expected: str) -> Iterator[None]:
        """Note on the timeline that ``expected`` did not happen in time, then fail."""
        try:
            yield
        except WaitTimeout as exc:
            self.timeline.note(f"expected {expected}", ok=False, error=str(exc))
            raise

    def emails(self) -> list[dict[str, Any]]:
        """Every email of this flow in the mock SMTP inbox."""
        return self.smtp.messages(header=f"{CORRELATION_HEADER}:{self.correlation_id}")

    # -- timeline ----------------------------------------------------------------------

    def record_bus(self) -> None:
        """Add what the tap saw of this flow, and what the mocks recorded of it (provider
        calls, webhooks, callbacks, emails; ``observed``), to the timeline."""
        for record in self.tap.records(lambda r: r.correlation_id == self.correlation_id):
            self.timeline.add(_entry_for(record))
        self.timeline.add_all(observed.consumer_deliveries(self._own_entries(), self.topology))
        started = self.timeline.started
        try:
            for mail in self.emails():
                self.timeline.add(observed.email_entry(mail, self.correlation_id, started))
        except Exception as exc:  # the inbox may be down in a failure scenario
            self.timeline.note(f"could not read the inbox: {exc}", ok=False)
        try:
            callbacks = self.merchant.callbacks(correlation_id=self.correlation_id)
            self.timeline.add_all(observed.callback_entries(callbacks, started))
        except Exception as exc:  # so may the merchant
            self.timeline.note(f"the merchant's callbacks could not be read: {exc}")
        try:
            self._record_provider()
        except Exception as exc:  # and the provider
            self.timeline.note(f"the provider's records could not be read: {exc}")

    def _own_entries(self) -> list[Entry]:
        # a scenario may add another flow's timeline to its own (two tenants)
        return [e for e in self.timeline.entries() if e.correlation_id == self.correlation_id]

    def _record_provider(self) -> None:
        transactions = observed.flow_transactions(self._own_entries())
        if not transactions:
            return
        # the flow just ended: its calls and deliveries are among the provider's latest
        calls = self.provider.requests(limit=observed.RECENT)
        objects = observed.flow_objects(calls, transactions)
        offset = float(self.provider.clock().get("offset_s") or 0.0)
        deliveries = self.provider.deliveries(limit=observed.RECENT)
        self.timeline.add_all(observed.provider_call_entries(calls, objects, self.correlation_id))
        self.timeline.add_all(
            observed.webhook_entries(deliveries, objects, transactions, self.correlation_id, offset)
        )


def _matches(record: TapRecord, routing_key: str | None, match: dict[str, Any]) -> bool:
    if routing_key is not None and record.event_key != routing_key:
        return False
    return all(getattr(record, key) == value for key, value in match.items())


def _describe(record: TapRecord) -> str:
    """One line for a record in a failure message: kind, key, type and where it went."""
    where = f" -> {record.routing_key}" if record.kind != KIND_EVENT else ""
    return f"{record.kind} {record.event_key} [{record.type}]{where}"


def _entry_for(record: TapRecord) -> Entry:
    if record.kind == KIND_EVENT:
        source = PRODUCER_LANES.get(record.producer or "", "client")
        label = f"{record.routing_key} [{record.type}]"
        if record.violations:
            label += " CONTRACT VIOLATION"
        return Entry(
            record.at,
            "event",
            source,
            "broker",
            label,
            record.correlation_id,
            {
                "message_id": record.message_id,
                "violations": list(record.violations),
                "body": record.to_dict()["body"],
            },
            ok=not record.violations,
        )
    queue = (
        record.routing_key.rsplit(".", 2)[0]
        if ".retry." in record.routing_key
        else (record.routing_key.removesuffix(".dlq"))
    )
    lane = CONSUMER_LANES.get(queue, "broker")
    headers = record.headers
    if record.kind == "retry":
        label = (
            f"{record.event_key} failed (attempt {int(headers.get('x-attempt', 2)) - 1}); "
            f"-> {record.routing_key}"
        )
    else:
        label = (
            f"{record.event_key} dead-lettered -> {record.routing_key}: "
            f"{headers.get('x-dead-letter-reason')} {headers.get('x-exception-class', '')}"
        )
    return Entry(
        record.at,
        record.kind,
        lane,
        "broker",
        label,
        record.correlation_id,
        {"headers": {k: str(v) for k, v in headers.items()}},
        ok=record.kind != "dead-letter",
    )
