"""Handler lanes on a real broker: flows run side by side, one flow's events in order."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict

import pytest

from sandbox.contracts import example_body
from sandbox.messaging import Consumer, OutgoingMessage, PermanentError, Publisher
from sandbox.messaging.consumer import lane_of
from sandbox.messaging.tools import consumer_count, depths, peek
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

from .consumers import running_consumer

pytestmark = pytest.mark.integration

QUEUE = "payment_events"
LANES = 4


@pytest.fixture
def sandbox_broker_settings() -> BrokerSettings:
    return BrokerSettings(retry_delays_ms=(100, 200, 400))


def _event(correlation_id: str, n: int = 0) -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed",
        example_body("payment.completed", paymentId=f"pay_{correlation_id}_{n}"),
        producer="payment-service",
        correlation_id=correlation_id,
    )


def _flows_on_distinct_lanes(count: int, avoid: tuple[int, ...] = ()) -> list[str]:
    """Correlation ids of ``count`` flows that land on different lanes (none in ``avoid``)."""
    chosen: dict[int, str] = {}
    for n in itertools.count():
        key = f"flow-{n}"
        lane = lane_of(key, LANES)
        if lane not in avoid and lane not in chosen:
            chosen[lane] = key
        if len(chosen) == count:
            return list(chosen.values())
    raise AssertionError("unreachable")


def test_four_lanes_run_four_slow_flows_at_the_same_time(sandbox_declared_vhost, sandbox_topology):
    # each handler waits for all four to be inside a handler at once; one lane would
    # run them one by one and break the barrier after its timeout
    barrier = threading.Barrier(LANES, timeout=10)
    passed: list[str | None] = []
    threads: set[str] = set()

    def handler(message):
        barrier.wait()
        passed.append(message.correlation_id)
        threads.add(threading.current_thread().name)

    flows = _flows_on_distinct_lanes(LANES)
    with running_consumer(
        sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler, concurrency=LANES
    ) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish_many([_event(flow) for flow in flows])
        wait_for(
            lambda: consumer.stats.acked == LANES,
            timeout=15,
            what=f"{LANES} handlers to meet inside the barrier and be acked",
            seen=lambda: (passed, consumer.stats),
        )
        assert consumer.stats.retried == 0
    assert sorted(passed) == sorted(flows)
    assert len(threads) == LANES


def test_one_flows_events_are_handled_in_delivery_order_while_other_flows_pass(
    sandbox_declared_vhost, sandbox_topology
):
    [slow] = _flows_on_distinct_lanes(1)
    others = _flows_on_distinct_lanes(LANES - 1, avoid=(lane_of(slow, LANES),))
    release = threading.Event()
    handled: dict[str, list[int]] = defaultdict(list)
    running: dict[str, int] = defaultdict(int)
    overlaps: list[str] = []
    lock = threading.Lock()

    def handler(message):
        flow = message.correlation_id
        with lock:
            running[flow] += 1
            if running[flow] > 1:
                overlaps.append(flow)
        try:
            n = int(message.body["paymentId"].rsplit("_", 1)[1])
            if flow == slow and n == 0:
                # hold the flow's first event until everything is delivered, so the
                # later ones could overtake it if the lanes let them
                assert release.wait(15), "the test never released the first event"
            with lock:
                handled[flow].append(n)
        finally:
            with lock:
                running[flow] -= 1

    slow_events = [_event(slow, n) for n in range(8)]
    other_events = [_event(flow, n) for flow in others for n in range(2)]
    # the slow flow's events interleaved with the others', as flows arrive in real life
    messages = [slow_events[0], *other_events[:3], *slow_events[1:5], *other_events[3:]]
    messages += slow_events[5:]
    assert len(messages) <= BrokerSettings().prefetch  # all delivered while one is held

    with running_consumer(
        sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler, concurrency=LANES
    ) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish_many(messages)
        wait_for(
            lambda: all(len(handled[flow]) == 2 for flow in others),
            timeout=10,
            what="the other flows to be handled while the slow flow's first event is held",
            seen=lambda: dict(handled),
        )
        assert consumer.stats.delivered == len(messages)
        assert handled[slow] == [], "a later event of the slow flow overtook its first one"
        release.set()
        wait_for(
            lambda: consumer.stats.acked == len(messages),
            timeout=10,
            what="every message acked",
            seen=lambda: (dict(handled), consumer.stats),
        )
    assert handled[slow] == list(range(8))
    assert all(handled[flow] == [0, 1] for flow in others)
    assert overlaps == []


def test_retries_and_dead_letters_work_with_lanes(sandbox_declared_vhost, sandbox_topology):
    flaky, doomed, rejected, fine = _flows_on_distinct_lanes(LANES)
    attempts: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()

    def handler(message):
        flow = message.correlation_id
        with lock:
            attempts[flow].append(message.attempt)
        if flow == flaky and message.attempt <= 2:
            raise RuntimeError("smtp is down for now")
        if flow == doomed:
            raise RuntimeError("smtp is down for good")
        if flow == rejected:
            raise PermanentError("no such merchant")

    with running_consumer(
        sandbox_declared_vhost.url, sandbox_topology, QUEUE, handler, concurrency=LANES
    ) as consumer:
        with Publisher(sandbox_declared_vhost.url, sandbox_topology.exchange.name) as publisher:
            publisher.publish_many([_event(flow) for flow in (flaky, doomed, rejected, fine)])
        wait_for(
            lambda: consumer.stats.dead_lettered == 2 and consumer.stats.acked == 2,
            timeout=15,
            what="two messages dead-lettered and two acked",
            seen=lambda: (dict(attempts), consumer.stats),
        )
        assert consumer.stats.retried == 2 + 3

    assert attempts == {flaky: [1, 2, 3], doomed: [1, 2, 3, 4], rejected: [1], fine: [1]}
    dead = {
        m.properties["correlation_id"]: m for m in peek(sandbox_declared_vhost.url, f"{QUEUE}.dlq")
    }
    assert dead.keys() == {doomed, rejected}
    assert dead[doomed].headers["x-dead-letter-reason"] == "handler-error"
    assert dead[doomed].headers["x-attempt"] == 4
    assert dead[rejected].headers["x-dead-letter-reason"] == "rejected"
    retry_queues = [f"{QUEUE}.retry.{n}" for n in (1, 2, 3)]
    assert depths(sandbox_declared_vhost.url, [QUEUE, *retry_queues]) == dict.fromkeys(
        [QUEUE, *retry_queues], 0
    )


def test_stop_waits_for_the_handlers_of_every_lane_and_acks_their_messages(sandbox_vhost):
    # A quorum queue keeps counting a cancelled consumer until its messages are settled,
    # so only a classic queue shows the moment the consumer stops taking new ones.
    topology = build(BrokerSettings(queue_type="classic"))
    url = sandbox_vhost.url
    flows = _flows_on_distinct_lanes(LANES)
    go = threading.Event()
    started: set[str] = set()
    finished: list[str] = []
    lock = threading.Lock()

    def handler(message):
        with lock:
            started.add(message.message_id)
        assert go.wait(15), "the test never let the handlers finish"
        with lock:
            finished.append(message.message_id)

    # one message per lane, and one more queued behind the first in its lane
    messages = [_event(flow) for flow in flows] + [_event(flows[0], 1)]
    with running_consumer(url, topology, QUEUE, handler, concurrency=LANES) as consumer:
        with Publisher(url, topology.exchange.name) as publisher:
            publisher.publish_many(messages)
        wait_for(
            lambda: len(started) == LANES and consumer.stats.delivered == len(messages),
            timeout=10,
            what="a handler running in every lane and the last message delivered",
            seen=lambda: (len(started), consumer.stats),
        )
        consumer.stop()
        # the consumer has cancelled its subscription and is draining: nothing acked yet
        wait_for(
            lambda: consumer_count(url, QUEUE) == 0,
            timeout=10,
            what="the consumer to cancel its subscription",
        )
        assert consumer.stats.acked == 0
        go.set()
        wait_for(
            lambda: not consumer.connected and consumer.stats.acked == len(messages),
            timeout=15,
            what="every running and queued handler to finish and be acked before the close",
            seen=lambda: (finished, consumer.stats),
        )
    assert sorted(finished) == sorted(m.message_id for m in messages)
    # nothing was returned to the queue for a second delivery
    assert depths(url, [QUEUE]) == {QUEUE: 0}


def test_fewer_prefetch_slots_than_lanes_is_refused():
    topology = build(BrokerSettings())
    with pytest.raises(ValueError, match=r"prefetch \(2\) must be at least concurrency \(4\)"):
        Consumer("amqp://unused", topology, [QUEUE], print, service="t", prefetch=2, concurrency=4)
    with pytest.raises(ValueError, match="concurrency must be at least 1"):
        Consumer("amqp://unused", topology, [QUEUE], print, service="t", concurrency=0)


def test_stop_wakes_an_idle_consumer_at_once(sandbox_declared_vhost, sandbox_topology):
    # The I/O thread blocks until the connection has something to do; with nothing
    # delivered and heartbeats 30 s apart, only stop()'s own wake-up ends the wait.
    consumer = Consumer(
        sandbox_declared_vhost.url,
        sandbox_topology,
        [QUEUE],
        lambda _m: None,
        service="idle",
        heartbeat=30,
    )
    thread = consumer.start_in_thread()
    assert consumer.wait_connected(30), "consumer did not connect within 30 s"
    consumer.stop()
    thread.join(5)
    assert not thread.is_alive(), "an idle consumer was still running 5 s after stop()"
