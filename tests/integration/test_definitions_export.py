"""The exported definitions file builds the same topology on a real broker."""

from __future__ import annotations

import pytest

from sandbox.cli import main
from sandbox.messaging import OutgoingMessage, Publisher
from sandbox.messaging.tools import depths

pytestmark = pytest.mark.integration


def test_exported_definitions_load_into_a_broker_and_route(
    sandbox_vhost, sandbox_topology, tmp_path
):
    import json

    target = tmp_path / "definitions.json"
    assert main(["topology", "--export", str(target), "--vhost", sandbox_vhost.name]) == 0
    sandbox_vhost.admin.load_definitions(sandbox_vhost.name, json.loads(target.read_text()))

    queues = {q["name"]: q for q in sandbox_vhost.admin.queues(sandbox_vhost.name)}
    assert set(queues) == {d.name for d in sandbox_topology.declarations()}
    assert queues["payment_events"]["arguments"]["x-queue-type"] == "quorum"
    assert queues["payment_events.retry.2"]["arguments"]["x-message-ttl"] == 2000

    with Publisher(sandbox_vhost.url, sandbox_topology.exchange.name) as publisher:
        publisher.publish(
            OutgoingMessage.event("payment.failed", {"type": "PAYMENT_FAILED"}, producer="t")
        )
    assert depths(sandbox_vhost.url, ["payment_events", "notifier_payment_events"]) == {
        "payment_events": 1,
        "notifier_payment_events": 1,
    }
