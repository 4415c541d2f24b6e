"""``sandbox demo``: boot a private broker and show an event flow end to end.

What it shows today is the messaging foundation every service stands on: seed 000's
``payment.completed`` event published with confirms, routed by the topology to the
appointment queue and the notifier queue, one consumer succeeding at once, one failing
twice (an outage) and recovering through the 1 s / 2 s retry ladder, and a poison message
parked in the DLQ with its reason.  The timeline is printed as it was recorded.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field, replace

from sandbox.broker import Admin, provision
from sandbox.messaging import Consumer, IncomingMessage, OutgoingMessage, Publisher
from sandbox.messaging.connection import ensure_topology
from sandbox.messaging.tools import peek, publish_raw_message
from sandbox.settings import SandboxSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

SEED_000_EVENT = {
    "type": "PAYMENT_COMPLETED",
    "tenantId": "tenant123",
    "paymentId": "pay_123456",
    "appointmentId": "appt_789",
    "customerId": "cust_456",
    "amount": 75.00,
    "currency": "USD",
    "status": "succeeded",
    "timestamp": "2023-06-01T12:34:56.789Z",
}


@dataclass
class Timeline:
    start: float = field(default_factory=time.monotonic)
    lines: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, actor: str, text: str) -> None:
        with self.lock:
            self.lines.append((time.monotonic() - self.start, actor, text))
        print(f"  {time.monotonic() - self.start:6.2f}s  {actor:<22} {text}", flush=True)


def run_demo(settings: SandboxSettings, keep: bool = False) -> int:
    state = settings.state_dir / "demo"
    shutil.rmtree(state, ignore_errors=True)
    print("booting a broker (RABBITMQ_URL, else Docker, else a private rabbitmq-server node)...")
    began = time.monotonic()
    broker = provision(replace(settings, state_dir=state), name="broker")
    print(f"broker ready in {time.monotonic() - began:.1f} s: {broker.info()['url']}")
    try:
        admin = Admin.for_amqp_url(broker.url, broker.management_url)
        admin.create_vhost("demo")
        url = broker.url_for("demo")
        topology = build(settings.broker)
        ensure_topology(url, topology)
        print(
            f"declared exchange {topology.exchange.name} and {len(topology.declarations())} "
            "queues (run `sandbox topology` to see them)\n"
        )
        return _flow(url, topology)
    finally:
        broker.close()
        if not keep:
            shutil.rmtree(state, ignore_errors=True)
        print("\nbroker stopped; nothing left running")


def _flow(url: str, topology: object) -> int:
    from sandbox.topology import Topology

    assert isinstance(topology, Topology)
    timeline = Timeline()
    outage = {"left": 2}
    done = threading.Event()

    def appointment(message: IncomingMessage) -> None:
        timeline.add(
            "appointment-service",
            f"{message.type}: appointment {message.body.get('appointmentId')} -> confirmed",
        )

    def notifier(message: IncomingMessage) -> None:
        if outage["left"] > 0:
            outage["left"] -= 1
            timeline.add(
                "notifier-service",
                f"attempt {message.attempt}: SMTP unavailable, retrying via the wait queue",
            )
            raise ConnectionError("SMTP server unavailable")
        timeline.add("notifier-service", f"attempt {message.attempt}: receipt e-mail sent")
        done.set()

    consumers = [
        Consumer(
            url, topology, [topology.queues[0].name], appointment, service="appointment-service"
        ),
        Consumer(url, topology, [topology.queues[2].name], notifier, service="notifier-service"),
    ]
    threads = [c.start_in_thread() for c in consumers]
    try:
        for consumer in consumers:
            consumer.wait_connected(30)
        with Publisher(url, topology.exchange.name, name="payment-service") as publisher:
            event = OutgoingMessage.event(
                "payment.completed", SEED_000_EVENT, producer="payment-service"
            )
            publisher.publish(event)
            routed = ", ".join(topology.queues_for("payment.completed"))
            timeline.add("payment-service", f"published payment.completed (confirmed) -> {routed}")
        publish_raw_message(
            url,
            topology.exchange.name,
            "payment.completed",
            b"{not json",
            {"message_id": "poison-1"},
        )
        timeline.add("someone", "published a poison message (not JSON)")
        wait_for(done.is_set, timeout=30, what="the notifier to recover")
        dlq = topology.queues[0].dlq
        parked = wait_for(lambda: peek(url, dlq), timeout=10, what="the poison message in the DLQ")
        for message in parked:
            headers = message.headers
            timeline.add(
                "broker",
                f"{dlq}: {message.properties.get('message_id')} parked "
                f"({headers.get('x-dead-letter-reason')}, "
                f"attempt {headers.get('x-attempt')})",
            )
    finally:
        for consumer in consumers:
            consumer.stop()
        for thread in threads:
            thread.join(15)
    print("\nflow complete: event delivered to both consumers, outage retried, poison parked")
    return 0
