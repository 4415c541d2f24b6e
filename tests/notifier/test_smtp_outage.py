"""SMTP refusing mail: the real 1 s, 2 s, 4 s retry ladder, the DLQ, and a replay later."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from mocks.clients import MerchantClient
from mocks.merchant.server import MockMerchantServer
from mocks.smtp.server import MockSmtpServer
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging import envelope as env
from sandbox.messaging.envelope import IncomingMessage
from sandbox.messaging.tools import peek, replay_dlq
from sandbox.pytest_plugin import Vhost
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology
from sandbox.waiting import wait_for
from tests.appointment.support import payment_event
from tests.notifier.support import (
    Inbox,
    NotifierService,
    appointment_event,
    notifier_service,
    unique_email,
)
from tests.service_support import EventTap

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def real_ladder_notifier(
    tmp_path: Path,
    sandbox_declared_vhost: Vhost,
    sandbox_broker_settings: BrokerSettings,
    own_smtp: MockSmtpServer,
    own_merchant: MockMerchantServer,
) -> Iterator[NotifierService]:
    assert sandbox_broker_settings.retry_delays_ms == (1000, 2000, 4000)  # the defaults, on purpose
    with notifier_service(
        tmp_path,
        sandbox_declared_vhost.url,
        sandbox_broker_settings,
        smtp_port=own_smtp.smtp_port,
        merchant=own_merchant,
    ) as running:
        yield running


def _gaps(attempts: list[dict[str, object]]) -> list[float]:
    times = [datetime.fromisoformat(str(a["createdAt"]).replace("Z", "+00:00")) for a in attempts]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_refused_emails_climb_the_retry_ladder_then_a_dlq_replay_sends_exactly_one_each(
    real_ladder_notifier: NotifierService,
    own_smtp: MockSmtpServer,
    own_merchant: MockMerchantServer,
    sandbox_declared_vhost: Vhost,
    sandbox_topology: Topology,
    sandbox_broker_settings: BrokerSettings,
) -> None:
    notifier = real_ladder_notifier
    inbox = Inbox(own_smtp.http_url)
    inbox.refuse(code=451, message="4.3.0 try later", stage="data")
    flow = f"flow-{uuid.uuid4().hex}"
    confirmed_to, paid_to = unique_email(), unique_email()
    events: dict[str, OutgoingMessage] = {
        sandbox_broker_settings.notification_queue: appointment_event(
            "appointment.confirmed", correlation_id=flow, customerEmail=confirmed_to
        ),
        sandbox_broker_settings.notifier_payment_queue: payment_event(
            "payment.completed",
            appointment_id="appt_789",
            tenant_id="tenant123",
            correlation_id=flow,
            customerEmail=paid_to,
        ),
    }
    with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
        for event in events.values():
            publisher.publish(event)

    dead: dict[str, IncomingMessage] = {}

    def dead_lettered() -> bool:
        # peek: the messages stay in the DLQs for the replay below
        for queue in events:
            for message in peek(sandbox_declared_vhost.url, sandbox_topology.queue(queue).dlq):
                dead[queue] = message
        return len(dead) == len(events)

    wait_for(dead_lettered, timeout=30, what="both events in their DLQs", seen=lambda: dead)
    for queue, message in dead.items():
        assert message.properties["message_id"] == events[queue].message_id
        assert message.headers[env.ATTEMPT_HEADER] == 4
        assert "SMTP_REFUSED" in message.headers[env.EXCEPTION_MESSAGE_HEADER]
    for event in events.values():
        attempts = notifier.audit(event_id=event.message_id, channel="email")
        assert [(a["status"], a["attempt"]) for a in attempts] == [
            ("failed", 1),
            ("failed", 2),
            ("failed", 3),
            ("failed", 4),
        ]
        for gap, delay in zip(_gaps(attempts), (1.0, 2.0, 4.0), strict=True):
            assert delay - 0.05 <= gap < delay + 1.5, (_gaps(attempts), attempts)
    failed = EventTap(sandbox_declared_vhost.url, sandbox_broker_settings.notification_events_queue)
    wait_for(
        lambda: len(failed.matching("notification.failed", channel="email")) == 2,
        timeout=20,
        what="one notification.failed per event",
        seen=failed.poll,
    )
    payment_id = json.loads(events[sandbox_broker_settings.notifier_payment_queue].body)[
        "paymentId"
    ]
    merchant_log = MerchantClient(own_merchant.url).callbacks(paymentId=payment_id)
    assert [c["outcome"] for c in merchant_log] == ["accepted"]  # not repeated by the retries

    inbox.accept()
    before = notifier.consumer_stats()["acked"]
    for queue in events:
        assert (
            replay_dlq(
                sandbox_declared_vhost.url, sandbox_topology, sandbox_topology.queue(queue).dlq
            )
            == 1
        )

    wait_for(
        lambda: notifier.consumer_stats()["acked"] >= before + 2,
        timeout=20,
        what="both replayed events acked",
        seen=notifier.consumer_stats,
    )
    assert len(inbox.messages(to=confirmed_to)) == 1
    assert len(inbox.messages(to=paid_to)) == 1
    sent = notifier.audit(correlation_id=flow, status="sent", channel="email")
    assert sorted(a["template"] for a in sent) == ["appointment_confirmed", "payment_succeeded"]
