"""Benchmark the broker foundation: node start, vhost creation, publish and consume rates.

Prints a Markdown table.  The adapter's rates are measured next to raw pika in the same
run, on the same private node, for both queue types.

    .venv/bin/python benchmarks/broker_bench.py [--messages 5000]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import threading
import time
from pathlib import Path

import pika
from bench_common import print_table, publish_confirmed, purge

from sandbox.broker import Admin, LocalNode
from sandbox.messaging import Consumer, OutgoingMessage, Publisher, ensure_topology
from sandbox.messaging.tools import queue_depth
from sandbox.settings import BrokerSettings
from sandbox.topology import Topology, build
from sandbox.waiting import wait_for

QUEUE = "payment_events"


def _event(n: int) -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed",
        {"type": "PAYMENT_COMPLETED", "paymentId": f"pay_{n}", "amount": 75.0},
        producer="bench",
    )


def raw_publish(url: str, exchange: str, n: int) -> float:
    """Raw pika: BlockingChannel in confirm mode, one confirmed publish after another."""
    return publish_confirmed(url, exchange, [_event(i) for i in range(n)])


def adapter_publish(url: str, exchange: str, n: int, batch: int = 500) -> float:
    messages = [_event(i) for i in range(n)]
    with Publisher(url, exchange) as publisher:
        began = time.perf_counter()
        for i in range(0, n, batch):
            errors = publisher.publish_many(messages[i : i + batch])
            assert not any(errors), errors
        elapsed = time.perf_counter() - began
    return n / elapsed


def raw_consume(url: str, n: int, prefetch: int) -> float:
    """Raw pika: basic_consume with manual acks on the I/O thread."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    count = 0
    began = time.perf_counter()

    def on_message(ch, method, _props, _body):  # type: ignore[no-untyped-def]
        nonlocal count
        ch.basic_ack(method.delivery_tag)
        count += 1
        if count >= n:
            ch.stop_consuming()

    channel.basic_consume(QUEUE, on_message)
    channel.start_consuming()
    elapsed = time.perf_counter() - began
    connection.close()
    return n / elapsed


def adapter_consume(url: str, topology: Topology, n: int, prefetch: int) -> float:
    count = 0
    lock = threading.Lock()
    finished = threading.Event()

    def handler(_message: object) -> None:
        nonlocal count
        with lock:
            count += 1
            if count >= n:
                finished.set()

    consumer = Consumer(
        url, topology, [QUEUE], handler, service="bench", prefetch=prefetch, declare=False
    )
    began = time.perf_counter()
    thread = consumer.start_in_thread()
    finished.wait(300)
    wait_for(lambda: consumer.stats.acked >= n, timeout=60, what="all acks")
    elapsed = time.perf_counter() - began
    consumer.stop()
    thread.join(30)
    return n / elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--prefetch", type=int, default=BrokerSettings().prefetch)
    args = ap.parse_args()
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    n = args.messages

    with tempfile.TemporaryDirectory() as tmp:
        node = LocalNode(Path(tmp) / "node")
        began = time.perf_counter()
        node.start()
        cold = time.perf_counter() - began
        admin = Admin(node.management_url)
        vhost_times = []
        for i in range(20):
            t0 = time.perf_counter()
            admin.create_vhost(f"bench-{i}")
            vhost_times.append(time.perf_counter() - t0)
        rows = [
            ("cold private node ready (AMQP handshake + await_startup)", f"{cold:.1f} s"),
            (
                "fresh vhost with permissions (median of 20)",
                f"{statistics.median(vhost_times) * 1000:.0f} ms",
            ),
        ]
        try:
            for queue_type in ("quorum", "classic"):
                topology = build(BrokerSettings(queue_type=queue_type))
                url = node.url_for(f"bench-{queue_type}")
                admin.create_vhost(f"bench-{queue_type}")
                ensure_topology(url, topology)
                exchange = topology.exchange.name
                for label, fn in (("raw pika", raw_publish), ("adapter", adapter_publish)):
                    purge(url, topology)
                    rate = fn(url, exchange, n)
                    rows.append(
                        (f"{queue_type}: publish with confirms, {label}", f"{rate:,.0f} msg/s")
                    )
                # both consumers drain the same backlog size, published once each
                purge(url, topology)
                adapter_publish(url, exchange, n)
                wait_for(lambda: queue_depth(url, QUEUE) >= n, timeout=30, what="backlog")  # noqa: B023
                rate = raw_consume(url, n, args.prefetch)
                rows.append((f"{queue_type}: consume + ack, raw pika", f"{rate:,.0f} msg/s"))
                purge(url, topology)
                adapter_publish(url, exchange, n)
                wait_for(lambda: queue_depth(url, QUEUE) >= n, timeout=30, what="backlog")  # noqa: B023
                rate = adapter_consume(url, topology, n, args.prefetch)
                rows.append((f"{queue_type}: consume + ack, adapter", f"{rate:,.0f} msg/s"))
        finally:
            node.stop()

    print_table(f"{n} messages of ~200 bytes, prefetch {args.prefetch}, one private node", rows)


if __name__ == "__main__":
    main()
