"""The reconciliation of a load run: every started flow accounted for, losses and
duplicates named.

Unit tests judge ledgers against hand-made snapshots of what the sandbox kept; the
integration tests run real flows on the whole sandbox, plant a lost flow and a
duplicate email, and read the verdict the way ``sandbox reconcile`` does.
"""

from __future__ import annotations

import json
import smtplib
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests

from mocks.clients import SmtpClient
from sandbox import cli
from sandbox.control.state import SupervisorClient
from sandbox.load.classify import (
    COMPLETED,
    FAILED_AS_EXPECTED,
    LOST,
    PARKED,
    REJECTED,
    UNEXPECTED,
    FlowResult,
)
from sandbox.load.evidence import (
    AppointmentState,
    Callback,
    DeadLetter,
    Email,
    SandboxSources,
    Snapshot,
    SourceUnavailable,
    callback_from_record,
    dead_letter,
    email_from_summary,
)
from sandbox.load.ledger import Ledger, LedgerError, StartedFlow, read_ledger
from sandbox.load.reconcile import (
    endpoints_from_state,
    reconcile,
    restart_warnings,
    restarts_from_state,
)
from sandbox.load.verdict import Verdict, judge, settle
from sandbox.messaging.envelope import IncomingMessage
from sandbox.scenario.clients import AppointmentClient, PaymentClient, flow_source_ip
from sandbox.scenario.timeline import Timeline
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology, build
from sandbox.waiting import wait_for

GOOD_CARD = "4111111111111111"
DECLINED_CARD = "4000000000000002"
PRICE = 75.0

# -- unit: a world of fakes ---------------------------------------------------------------


def started(kind: str = "card", **fields: Any) -> StartedFlow:
    correlation_id = fields.pop("correlation_id", f"load-{kind}-{uuid.uuid4().hex[:8]}")
    values: dict[str, Any] = {
        "tenant_id": "tenant-load",
        "kind": kind,
        "expected": "payment_failed" if kind == "declined" else "confirmed",
        "started_at": time.time(),
        "appointment_id": f"appt-{correlation_id}",
        "payment_ref": f"txn-{correlation_id}",
        **fields,
    }
    return StartedFlow(correlation_id=correlation_id, **values)


class World:
    """What the sandbox kept, built flow by flow."""

    def __init__(self) -> None:
        self.appointments: dict[str, AppointmentState] = {}
        self.emails: list[Email] = []
        self.callbacks: list[Callback] = []
        self.dead: list[DeadLetter] = []

    def booked(self, flow: StartedFlow, payment: str = "pending", paid: bool = False) -> None:
        payment_id = f"txn-{flow.correlation_id}" if paid or payment != "pending" else None
        state = AppointmentState("pending_confirmation", payment, payment_id)
        self.appointments[str(flow.appointment_id)] = state

    def email(
        self,
        flow: StartedFlow,
        template: str,
        event_id: str | None = None,
        message_id: str | None = None,
        received_at: float | None = None,
    ) -> None:
        event = event_id or f"e-{template}"
        self.emails.append(Email(flow.correlation_id, template, event, message_id, received_at))

    def callback(
        self, flow: StartedFlow, key: str, event_id: str | None = None, outcome: str = "accepted"
    ) -> None:
        event = event_id or f"e-{flow.correlation_id}-{key}"
        self.callbacks.append(Callback(flow.correlation_id, key, event, outcome))

    def confirmed(self, flow: StartedFlow, *, emails: Sequence[str] | None = None) -> None:
        self.appointments[str(flow.appointment_id)] = AppointmentState(
            "confirmed", "paid", f"txn-{flow.correlation_id}"
        )
        templates = ("appointment_confirmed", "payment_succeeded") if emails is None else emails
        for template in templates:
            self.email(flow, template)
        self.callback(flow, "payment.created")
        self.callback(flow, "payment.completed")

    def declined(self, flow: StartedFlow) -> None:
        self.booked(flow, payment="failed")
        self.email(flow, "payment_failed")
        self.callback(flow, "payment.created")
        self.callback(flow, "payment.failed")

    def snapshot(self, **fields: Any) -> Snapshot:
        return Snapshot(self.appointments, self.emails, self.callbacks, self.dead, **fields)


def verdict_of(
    flows: Sequence[StartedFlow], world: World, resend_allowance: int = 0, **fields: Any
) -> Verdict:
    return judge(Ledger(tuple(flows)), world.snapshot(**fields), 0.0, resend_allowance)


def outcome_of(flow: StartedFlow, world: World, **fields: Any) -> FlowResult:
    [result] = verdict_of([flow], world, **fields).flows
    return result


def test_flows_that_finished_as_expected_with_every_notification_reconcile_ok() -> None:
    card, intent, declined = started("card"), started("intent"), started("declined")
    world = World()
    world.confirmed(card)
    world.confirmed(intent)
    world.declined(declined)
    verdict = verdict_of([card, intent, declined], world)
    assert verdict.ok, verdict.render()
    assert verdict.counts[COMPLETED] == 2
    assert verdict.counts[FAILED_AS_EXPECTED] == 1
    assert verdict.counts[LOST] == verdict.counts["duplicated"] == 0
    assert verdict.render().splitlines()[0].endswith(": ok")


def _confirmed_with_one_email(world: World, flow: StartedFlow) -> None:
    world.confirmed(flow, emails=["appointment_confirmed"])


@pytest.mark.parametrize(
    ("flow", "kept", "outcome", "detail"),
    [
        pytest.param(
            started(appointment_id=None, payment_ref=None, edge_error="POST /appointments: 503"),
            None,
            REJECTED,
            "503",
            id="a-booking-refused-at-the-edge-is-rejected-not-lost",
        ),
        pytest.param(
            started(), None, LOST, "not found", id="a-flow-whose-appointment-does-not-exist"
        ),
        pytest.param(
            started(),
            _confirmed_with_one_email,
            LOST,
            "missing email payment_succeeded",
            id="a-confirmed-flow-missing-an-email-names-the-email",
        ),
    ],
)
def test_a_flow_is_judged_with_the_reason_in_its_detail(flow, kept, outcome, detail) -> None:
    world = World()
    if kept is not None:
        kept(world, flow)
    result = outcome_of(flow, world)
    assert result.outcome == outcome
    assert detail in result.detail


def test_a_booked_flow_that_never_paid_is_lost_and_named() -> None:
    flow = started()
    world = World()
    world.booked(flow)
    verdict = verdict_of([flow], world)
    assert not verdict.ok
    assert [f.correlation_id for f in verdict.lost] == [flow.correlation_id]
    assert "pending_confirmation" in verdict.lost[0].detail
    assert "no payment.created" in verdict.lost[0].detail
    assert flow.correlation_id in verdict.render()
    assert verdict.to_dict()["lost"][0]["correlation_id"] == flow.correlation_id


def test_merchant_callbacks_are_owed_only_when_the_merchant_is_configured() -> None:
    flow = started("declined")
    world = World()
    world.declined(flow)
    world.callbacks.clear()
    assert "merchant callback payment.failed" in outcome_of(flow, world).detail
    unconfigured = outcome_of(flow, world, merchant_configured=False)
    assert unconfigured.outcome == FAILED_AS_EXPECTED


def test_an_unfinished_flow_with_an_event_in_a_dlq_is_parked_with_the_reason() -> None:
    flow = started()
    world = World()
    world.booked(flow, paid=True)
    reason = "payment_events.dlq: payment.completed retries-exhausted (UnknownAppointmentError)"
    world.dead.append(DeadLetter(flow.correlation_id, reason))
    verdict = verdict_of([flow], world)
    assert verdict.flows[0].outcome == PARKED
    assert verdict.parked_reasons == {reason: 1}
    assert verdict.ok, "a parked flow is accounted for"


def test_dead_letters_of_other_flows_are_counted_apart() -> None:
    flow = started()
    world = World()
    world.confirmed(flow)
    world.dead += [DeadLetter("someone-else", "x.dlq: poison"), DeadLetter(None, "x.dlq: ?")]
    verdict = verdict_of([flow], world)
    assert verdict.flows[0].outcome == COMPLETED
    assert verdict.other_dead_letters == 2


def test_two_emails_of_one_template_under_different_message_ids_mark_the_flow_duplicated() -> None:
    flow, other = started(), started()
    world = World()
    world.confirmed(flow)
    world.confirmed(other)
    world.email(flow, "payment_succeeded", message_id="<a-second-message-id@x>")
    verdict = verdict_of([flow, other], world, resend_allowance=5)
    assert not verdict.ok, "a second distinct email is never explained by a restart"
    assert [f.correlation_id for f in verdict.duplicated] == [flow.correlation_id]
    assert verdict.duplicated[0].duplicates == (
        "email payment_succeeded x2 (same event, distinct Message-IDs)",
    )
    assert verdict.duplicated[0].outcome == COMPLETED, "duplicated is on top of the outcome"
    assert "payment_succeeded x2" in verdict.render()


def test_an_email_resent_under_its_message_id_fails_unless_a_notifier_restart_explains_it() -> None:
    flow, other = started(), started()
    world = World()
    world.confirmed(flow)
    world.confirmed(other)
    world.email(flow, "payment_succeeded")  # the same event and Message-ID again
    unexplained = verdict_of([flow, other], world)
    assert not unexplained.ok
    assert unexplained.duplicated == []
    assert [f.correlation_id for f in unexplained.resent] == [flow.correlation_id]
    resent = ("email payment_succeeded resent x1 under its Message-ID",)
    assert unexplained.resent[0].resent == resent
    assert "FAILED: 1 resend(s), notifier-consumer restarts explain 0" in unexplained.render()

    explained = verdict_of([flow, other], world, resend_allowance=1)
    assert explained.ok, explained.render()
    assert explained.counts["resent"] == 1
    assert "within one per lane per notifier-consumer restart (1)" in explained.render()
    assert explained.to_dict()["resent"][0]["correlation_id"] == flow.correlation_id


def test_a_callback_accepted_twice_is_a_duplicate_one_answered_duplicate_a_resend() -> None:
    retried, doubled, resent = started(), started(), started()
    world = World()
    for flow in (retried, doubled, resent):
        world.confirmed(flow)
    world.callback(retried, "payment.completed", outcome="failed")  # 503, then the retry above
    event = f"e-{doubled.correlation_id}-payment.completed"
    world.callback(doubled, "payment.completed", event_id=event, outcome="accepted")
    world.callback(resent, "payment.completed", outcome="duplicate")
    verdict = verdict_of([retried, doubled, resent], world, resend_allowance=1)
    assert [f.correlation_id for f in verdict.duplicated] == [doubled.correlation_id]
    assert verdict.duplicated[0].duplicates == (f"merchant callback for event {event} x2",)
    assert [f.correlation_id for f in verdict.resent] == [resent.correlation_id]
    assert "answered duplicate" in verdict.resent[0].resent[0]


def test_two_events_of_one_kind_are_a_state_that_changed_twice() -> None:
    flow = started()
    world = World()
    world.confirmed(flow)
    world.callback(flow, "payment.completed", event_id="a-second-completion")
    [result] = verdict_of([flow], world).duplicated
    assert result.duplicates == ("payment.completed x2 (state changed 2 times)",)


def test_a_payment_that_timed_out_at_the_client_but_completed_is_completed() -> None:
    flow = started(edge_error="POST /payment/process: timeout")
    world = World()
    world.confirmed(flow)
    assert outcome_of(flow, world).outcome == COMPLETED


def test_a_payment_the_client_saw_fail_is_rejected_when_the_server_did_not_complete_it() -> None:
    pending, failed = (started(edge_error="POST /payment/process: HTTP 502") for _ in range(2))
    world = World()
    world.booked(pending, paid=True)
    world.declined(failed)  # the gateway error left the payment failed, and said so
    verdict = verdict_of([pending, failed], world)
    assert [f.outcome for f in verdict.flows] == [REJECTED, REJECTED]
    assert verdict.ok


def test_a_declined_card_that_was_confirmed_is_an_unexpected_outcome() -> None:
    flow = started("declined")
    world = World()
    world.confirmed(flow)
    verdict = verdict_of([flow], world)
    assert verdict.flows[0].outcome == UNEXPECTED
    assert not verdict.ok


def test_ten_thousand_flows_are_judged_in_seconds() -> None:
    flows = [started("declined" if n % 5 == 0 else "card") for n in range(10_000)]
    world = World()
    for flow in flows:
        (world.declined if flow.kind == "declined" else world.confirmed)(flow)
    began = time.monotonic()
    verdict = verdict_of(flows, world)
    elapsed = time.monotonic() - began
    assert verdict.ok and verdict.counts[COMPLETED] == 8_000
    assert elapsed < 5.0, f"judging 10,000 flows took {elapsed:.1f} s"


# -- unit: the ledger ---------------------------------------------------------------------


def line(**fields: Any) -> str:
    base = {
        "correlation_id": f"load-{uuid.uuid4().hex}",
        "tenant_id": "tenant-load",
        "kind": "card",
        "appointment_id": "a1",
        "payment_ref": "t1",
        "expected": "confirmed",
        "started_at": 1732280000.123,
        "edge_error": None,
    }
    return json.dumps({**base, **fields}) + "\n"


def test_the_ledger_is_every_flows_file_of_the_directory(tmp_path: Path) -> None:
    (tmp_path / "flows-host-1.jsonl").write_text(line(correlation_id="a") + line(kind="intent"))
    (tmp_path / "flows-host-2.jsonl").write_text("\n" + line(expected="payment_failed"))
    (tmp_path / "other.jsonl").write_text(line())
    ledger = read_ledger(tmp_path)
    assert len(ledger.flows) == 3 and ledger.files == 2 and not ledger.problems
    first = StartedFlow("a", "tenant-load", "card", "confirmed", 1732280000.123, "a1", "t1")
    assert ledger.flows[0] == first


def test_ledger_lines_that_cannot_be_read_fail_the_verdict(tmp_path: Path) -> None:
    (tmp_path / "flows-1.jsonl").write_text(
        line(correlation_id="twice")
        + line(correlation_id="twice")
        + line(expected="maybe")
        + '{"correlation_id": "cut-off", "tenant'
    )
    ledger = read_ledger(tmp_path)
    assert [p.split(":")[1] for p in ledger.problems] == ["2", "3", "4"]
    world = World()
    world.confirmed(ledger.flows[0])
    verdict = judge(ledger, world.snapshot())
    assert not verdict.ok
    assert "flows-1.jsonl:4" in verdict.render()


def test_a_directory_without_flows_files_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="no flows-"):
        read_ledger(tmp_path)


# -- unit: settling -----------------------------------------------------------------------


class ScriptedSources:
    """Answers each read with the next snapshot; the last one repeats."""

    def __init__(self, *snapshots: Snapshot | Exception) -> None:
        self.snapshots = list(snapshots)
        self.asked: list[list[tuple[str, str]]] = []

    def snapshot(self, wanted: Sequence[tuple[str, str]], since: float) -> Snapshot:
        self.asked.append(list(wanted))
        answer = self.snapshots.pop(0) if len(self.snapshots) > 1 else self.snapshots[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_settling_reads_again_only_the_flows_still_moving_until_they_finish() -> None:
    done, moving = started(), started()
    before, after = World(), World()
    before.confirmed(done)
    before.booked(moving, paid=True)
    after.confirmed(moving)
    after.emails += before.emails
    after.callbacks += before.callbacks
    sources = ScriptedSources(before.snapshot(busy=True), after.snapshot())
    verdict = settle(Ledger((done, moving)), sources, timeout_s=10, interval_s=0.01)
    assert verdict.ok and verdict.counts[COMPLETED] == 2
    assert sources.asked[1] == [("tenant-load", moving.appointment_id)]


def _settled_unpaid_flow(*, busy: bool, timeout_s: float) -> tuple[Verdict, ScriptedSources]:
    """Settle one flow that was booked and never paid, the broker ``busy`` or quiet."""
    flow = started()
    world = World()
    world.booked(flow)
    sources = ScriptedSources(world.snapshot(busy=busy))
    return settle(Ledger((flow,)), sources, timeout_s=timeout_s, interval_s=0.01), sources


def test_settling_stops_once_nothing_moves_on_a_quiet_broker() -> None:
    verdict, sources = _settled_unpaid_flow(busy=False, timeout_s=60)
    assert [f.outcome for f in verdict.flows] == [LOST]
    assert len(sources.asked) == 2, "two quiet reads that agree are enough"


def test_settling_waits_for_a_busy_broker_until_the_deadline() -> None:
    verdict, sources = _settled_unpaid_flow(busy=True, timeout_s=0.3)
    assert [f.outcome for f in verdict.flows] == [LOST]
    assert len(sources.asked) > 2
    assert any("ran out with 1 flow(s) unfinished" in w for w in verdict.warnings), verdict.warnings


def test_settling_says_which_source_failed_when_none_answered() -> None:
    sources = ScriptedSources(ConnectionError("mock SMTP refused the connection"))
    with pytest.raises(SourceUnavailable, match="mock SMTP refused"):
        settle(Ledger((started(),)), sources, timeout_s=0.1, interval_s=0.01)


# -- unit: reading the sources' records ----------------------------------------------------


def test_inbox_entries_name_their_flow_template_and_event_in_any_header_case() -> None:
    summary = {
        "to": ["ada@example.com"],
        "headers": {
            "x-correlation-id": ["load-1"],
            "X-NOTIFICATION-TEMPLATE": ["payment_failed"],
            "X-Event-Id": ["ev1"],
            "message-id": ["<payment_failed.ev1@x>"],
        },
        "received_at": "2026-11-22T10:00:00.500000Z",
    }
    at = datetime(2026, 11, 22, 10, 0, 0, 500000, tzinfo=UTC).timestamp()
    expected = Email("load-1", "payment_failed", "ev1", "<payment_failed.ev1@x>", at)
    assert email_from_summary(summary) == expected
    assert email_from_summary({"headers": {"Subject": ["hello"]}}) is None


def test_merchant_records_become_callbacks_by_routing_key() -> None:
    record = {
        "correlation_id": "load-1",
        "event_id": "ev1",
        "outcome": "duplicate",
        "body": {"routingKey": "payment.completed", "payment": {"amount": 75.0}},
    }
    assert callback_from_record(record) == Callback(
        "load-1", "payment.completed", "ev1", "duplicate"
    )
    at = callback_from_record({**record, "received_at": "2026-11-22T10:00:00Z"})
    assert at is not None and at.received_at == datetime(2026, 11, 22, 10, tzinfo=UTC).timestamp()
    assert callback_from_record({**record, "correlation_id": None}) is None


def test_recovery_is_when_the_last_flow_started_before_a_moment_finished_after_it() -> None:
    fault_over = 1_000.0
    early, slow, stuck, late = (
        started(started_at=990.0),
        started("declined", started_at=995.0),
        started(started_at=998.0),
        started(started_at=1_001.0),
    )
    world = World()
    world.email(early, "appointment_confirmed", received_at=996.0)
    world.email(early, "payment_succeeded", received_at=1_002.5)
    world.confirmed(early, emails=())
    world.declined(slow)
    world.emails[-1] = replace(world.emails[-1], received_at=1_006.25)
    world.booked(stuck)  # never finished
    world.confirmed(late, emails=())
    world.email(late, "appointment_confirmed", received_at=1_050.0)
    world.email(late, "payment_succeeded", received_at=1_050.0)

    verdict = verdict_of([early, slow, stuck, late], world)
    recovery = verdict.recovery(fault_over, "broker up")

    assert (recovery.before, recovery.unfinished, recovery.untimed) == (3, 1, 0)
    assert recovery.worst_s == pytest.approx(6.25)
    assert recovery.worst == slow.correlation_id
    text = recovery.render()
    assert "3 flow(s) started before broker up" in text
    assert "2 finished, the last 6.2 s after it" in text
    assert "1 of them did not finish" in text
    later = verdict.recovery(1_100.0, "the window undone").render()
    assert "3 finished, the last 50.0 s before it was over" in later


def test_restarted_mocks_are_named_in_a_warning_and_the_resender_sets_the_allowance() -> None:
    state = {
        "components": {
            "merchant": {"restarts": 1},
            "smtp": {"restarts": 0},
            "notifier-consumer": {"restarts": 2},
            "provider": {},
        }
    }
    restarts = restarts_from_state(state)
    assert restarts == {"merchant": 1, "smtp": 0, "notifier-consumer": 2, "provider": 0}
    [warning] = restart_warnings(restarts)
    assert "merchant mock was restarted 1 time(s)" in warning
    assert "missing merchant callback may have been delivered" in warning
    assert restart_warnings({"smtp": 0, "payment": 3}) == ()


def test_a_dead_letter_keeps_its_reason_and_never_its_payload() -> None:
    message = IncomingMessage(
        "payment_events.dlq",
        b'{"customerEmail": "ada@example.com"}',
        {
            "correlation_id": "load-1",
            "headers": {
                "x-dead-letter-reason": "retries-exhausted",
                "x-exception-class": "UnknownAppointmentError",
                "x-exception-message": "appointment a1",
                "x-original-routing-key": "payment.completed",
            },
        },
        exchange="appointment_events.dlx",
        queue="payment_events.dlq",
    )
    letter = dead_letter(message)
    assert letter.correlation_id == "load-1"
    assert letter.reason == (
        "payment_events.dlq: payment.completed retries-exhausted "
        "(UnknownAppointmentError appointment a1)"
    )


# -- integration: real flows on the whole sandbox ------------------------------------------


class Sandbox:
    """The running sandbox as the reconciliation and the planted faults see it."""

    def __init__(self, stack: SupervisorClient) -> None:
        state = stack.state()
        self.state_dir = stack.state_file.state_dir
        self.endpoints = endpoints_from_state(state)
        self.broker_url = str(state["broker"]["url"])
        self.smtp_port = int(state["ports"]["smtp"])
        self.topology: Topology = build(BrokerSettings.from_env())
        self.tenant = f"tenant-recon-{uuid.uuid4().hex[:8]}"

    def clients(self, correlation_id: str) -> tuple[AppointmentClient, PaymentClient]:
        headers = {"X-Correlation-Id": correlation_id, "X-Tenant-Id": self.tenant}
        ip = flow_source_ip(correlation_id)  # the payment service rate-limits per client IP
        timeline = Timeline()
        appointments = AppointmentClient(
            "appointment", self.endpoints["appointment"], timeline, headers, source_ip=ip
        )
        payments = PaymentClient(
            "payment", self.endpoints["payment"], timeline, headers, source_ip=ip
        )
        return appointments, payments

    def flow(self, kind: str, *, pay: bool = True) -> dict[str, Any]:
        """Run one flow as the load users do; return its ledger line."""
        correlation_id = f"load-{uuid.uuid4().hex}"
        appointments, payments = self.clients(correlation_id)
        booking = appointments.create(price=PRICE)["appointmentId"]
        ledger = {
            "correlation_id": correlation_id,
            "tenant_id": self.tenant,
            "kind": kind,
            "appointment_id": booking,
            "payment_ref": None,
            "expected": "payment_failed" if kind == "declined" else "confirmed",
            "started_at": time.time(),
            "edge_error": None,
        }
        if not pay:
            return ledger
        if kind == "intent":
            intent = payments.post(
                "/payment/intents",
                json={"user_id": "user_load", "booking_id": booking, "amount": PRICE},
                expect=(200, 201),
            )
            ledger["payment_ref"] = intent["payment_intent_id"]
            confirmed = requests.post(
                f"{self.endpoints['provider']}/v1/payment_intents/{intent['payment_intent_id']}"
                "/confirm",
                headers={"Authorization": "Bearer pk_test_sandbox_browser"},
                data={"payment_method": "pm_card_visa", "client_secret": intent["client_secret"]},
                timeout=10,
            )
            assert confirmed.status_code == 200, confirmed.text
        else:
            card, status = (DECLINED_CARD, 400) if kind == "declined" else (GOOD_CARD, 200)
            paid = payments.pay_by_card(booking_id=booking, amount=PRICE, card=card, expect=status)
            ledger["payment_ref"] = paid["transaction_id"]
        return ledger

    def emails(self, correlation_id: str, template: str) -> list[dict[str, Any]]:
        headers = [f"X-Correlation-Id:{correlation_id}", f"X-Notification-Template:{template}"]
        return SmtpClient(self.endpoints["smtp"]).messages(header=headers)

    def send_again(self, original: dict[str, Any], *, same_message_id: bool = False) -> None:
        """Send a copy of ``original`` straight to the mock SMTP server, same flow headers
        (and its Message-ID, as a notifier resending it would; else none)."""
        headers = {name.lower(): values[0] for name, values in original["headers"].items()}
        copy = EmailMessage()
        copy["From"] = "Appointments <notifications@payment-sandbox.local>"
        copy["To"] = ", ".join(original["to"])
        copy["Subject"] = original["subject"]
        names = ["X-Correlation-Id", "X-Notification-Template", "X-Event-Id"]
        for name in names + (["Message-ID"] if same_message_id else []):
            copy[name] = headers[name.lower()]
        copy.set_content("The same notification a second time, planted by the test.")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=10) as smtp:
            smtp.send_message(copy)


def write_ledger(directory: Path, lines: Sequence[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "flows-test-1.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in lines))
    return directory


@pytest.fixture
def sandbox(sandbox_stack: SupervisorClient) -> Sandbox:
    return Sandbox(sandbox_stack)


@pytest.mark.integration
@pytest.mark.slow
def test_real_card_declined_and_intent_flows_reconcile_ok(sandbox: Sandbox, tmp_path: Path) -> None:
    kinds = ["card", "card", "declined", "intent"]
    ledger_dir = write_ledger(tmp_path / "ledger", [sandbox.flow(kind) for kind in kinds])
    # more appointments than list_above: they are found through the tenant's listing
    sources = SandboxSources(sandbox.endpoints, sandbox.broker_url, sandbox.topology, list_above=0)
    verdict = settle(read_ledger(ledger_dir), sources, timeout_s=30)
    assert verdict.ok, verdict.render()
    assert verdict.counts[COMPLETED] == 3, verdict.render()
    assert verdict.counts[FAILED_AS_EXPECTED] == 1, verdict.render()
    shown = verdict.render() + json.dumps(verdict.to_dict())
    assert GOOD_CARD not in shown and DECLINED_CARD not in shown


@pytest.mark.integration
@pytest.mark.slow
def test_a_planted_lost_flow_and_a_duplicate_email_fail_the_verdict_by_name(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    card, declined = sandbox.flow("card"), sandbox.flow("declined")
    never_paid = sandbox.flow("card", pay=False)
    never_booked = {
        **never_paid,
        "correlation_id": f"load-{uuid.uuid4().hex}",
        "appointment_id": uuid.uuid4().hex,  # an id the appointment service never gave
    }
    [original] = wait_for(
        lambda: sandbox.emails(card["correlation_id"], "payment_succeeded"),
        timeout=15,
        what=f"the payment_succeeded email of {card['correlation_id']}",
    )
    [refusal] = wait_for(
        lambda: sandbox.emails(declined["correlation_id"], "payment_failed"),
        timeout=15,
        what=f"the payment_failed email of {declined['correlation_id']}",
    )
    sandbox.send_again(original)
    sandbox.send_again(refusal, same_message_id=True)
    wait_for(
        lambda: (
            len(sandbox.emails(card["correlation_id"], "payment_succeeded")) == 2
            and len(sandbox.emails(declined["correlation_id"], "payment_failed")) == 2
        ),
        timeout=5,
        what="the planted copies in the inbox",
    )
    ledger_dir = write_ledger(tmp_path / "ledger", [card, declined, never_paid, never_booked])

    verdict = reconcile(
        ledger_dir, sandbox.endpoints, sandbox.broker_url, sandbox.topology, settle_s=30
    )
    assert not verdict.ok
    lost = {f.correlation_id for f in verdict.lost}
    assert lost == {never_paid["correlation_id"], never_booked["correlation_id"]}, verdict.render()
    duplicated = [(f.correlation_id, f.duplicates) for f in verdict.duplicated]
    twice = "email payment_succeeded x2 (same event, distinct Message-IDs)"
    assert duplicated == [(card["correlation_id"], (twice,))], verdict.render()
    assert [f.correlation_id for f in verdict.resent] == [declined["correlation_id"]]
    assert verdict.too_many_resends, "no notifier restart explains the planted resend"
    assert verdict.counts[FAILED_AS_EXPECTED] == 1, verdict.render()

    monkeypatch.setenv("SANDBOX_STATE_DIR", str(sandbox.state_dir))
    exit_code = cli.main(["reconcile", "--ledger", str(ledger_dir), "--json", "--settle", "5"])
    report = json.loads(capsys.readouterr().out)
    assert exit_code == 1
    assert {f["correlation_id"] for f in report["lost"]} == lost
    assert [f["correlation_id"] for f in report["duplicated"]] == [card["correlation_id"]]


def test_each_restart_of_any_notifier_consumer_replica_explains_one_resend_per_lane():
    from sandbox.load.reconcile import resend_allowance

    restarts = {"notifier-consumer": 1, "notifier-consumer-2": 2, "notifier-relay": 3}
    assert resend_allowance(restarts) == 3
    assert resend_allowance(restarts, {"notifier-consumer": 4, "notifier-consumer-2": 2}) == 8
    assert resend_allowance({"payment-relay-2": 1}, {"payment-relay-2": 4}) == 0


def test_the_lanes_of_each_notifier_consumer_are_read_from_its_health(sandbox_stack):
    from sandbox.load.reconcile import lanes_from_health

    state = sandbox_stack.state()
    lanes = lanes_from_health(state)
    assert lanes == {"notifier-consumer": 4}, lanes
    gone = {"components": {"notifier-consumer": {"health_url": "http://127.0.0.1:9/health"}}}
    assert lanes_from_health(gone) == {}
