"""What the consumer adapter costs per message at a moderate, paced rate.

At 8 card flows/s each consumer gets a few dozen messages a second, one at a time: the
I/O thread wakes for each delivery, hands it to a lane, wakes again for the verdict and
acks.  That per-message cost, not the consume rate of a backlog, is what a flow pays.

The consumer runs in a child process with a handler that does nothing; the parent
publishes ``--messages`` events at ``--rate`` a second to its queue and the child counts
its own CPU (user and system) from the first publish to the last ack, and pika's polls.
Bare pika runs the same way for comparison: a ``BlockingConnection`` acking in the I/O
thread, and a ``SelectConnection`` doing the same.  ``--tree`` (repeatable) measures the
adapter of other checkouts too (``git worktree add /tmp/before REV``); trees and
variants are alternated within each round.  A private broker node is started for the run
(``--amqp-url`` to use another).

    .venv/bin/python benchmarks/consumer_paced.py [--rate 32] [--messages 640]
        [--rounds 2] [--lanes 4] [--tree /tmp/before --tree /tmp/after]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pika
from bench_common import broker

ROOT = Path(__file__).resolve().parent.parent
BARE = ("pika-blocking", "pika-select")


# -- the child: one consumer, counting its own CPU ---------------------------------------


def _count_polls() -> list[int]:
    import pika.adapters.select_connection as select_connection

    polls = [0]
    poll = select_connection.PollPoller.poll

    def counted(self: Any) -> Any:
        polls[0] += 1
        return poll(self)

    select_connection.PollPoller.poll = counted  # type: ignore[method-assign]
    return polls


def _adapter(url: str, queue: str, exchange: str, lanes: int, n: int) -> Callable[[], None]:
    from sandbox.messaging import Consumer
    from sandbox.settings import BrokerSettings
    from sandbox.topology import build

    topology = build(BrokerSettings(exchange=exchange, payment_queue=queue))
    handled = threading.Event()
    count = [0]
    lock = threading.Lock()

    def handler(_message: object) -> None:
        with lock:
            count[0] += 1
            if count[0] >= n:
                handled.set()

    consumer = Consumer(url, topology, [queue], handler, service="paced", concurrency=lanes)
    thread = consumer.start_in_thread()
    if not consumer.wait_connected(30):
        raise SystemExit("the consumer did not connect within 30 s")

    def wait() -> None:
        handled.wait(600)
        deadline = time.monotonic() + 10
        while consumer.stats.acked < n and time.monotonic() < deadline:
            time.sleep(0.001)  # the last verdict's ack, a millisecond away
        consumer.stop()
        thread.join(10)

    return wait


def _bare(variant: str, url: str, queue: str, n: int) -> Callable[[], None]:
    done = threading.Event()
    count = [0]

    def on_message(channel: Any, method: Any, _properties: Any, _body: bytes) -> None:
        channel.basic_ack(method.delivery_tag)
        count[0] += 1
        if count[0] >= n:
            done.set()

    if variant == "pika-select":

        def on_channel(channel: Any) -> None:
            channel.basic_qos(
                prefetch_count=16, callback=lambda _f: channel.basic_consume(queue, on_message)
            )

        connection: Any = pika.SelectConnection(
            pika.URLParameters(url),
            on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        )
        threading.Thread(target=connection.ioloop.start, daemon=True).start()
    else:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.basic_qos(prefetch_count=16)
        channel.basic_consume(queue, on_message)

        def loop() -> None:
            while not done.is_set():
                connection.process_data_events(time_limit=None)

        threading.Thread(target=loop, daemon=True).start()
    time.sleep(1.0)  # connected and consuming before the first publish
    return lambda: done.wait(600) and None


def child(variant: str, url: str, queue: str, exchange: str, lanes: int, n: int) -> None:
    polls = _count_polls()
    if variant in BARE:
        wait = _bare(variant, url, queue, n)
    else:
        wait = _adapter(url, queue, exchange, lanes, n)
    print("ready", flush=True)
    sys.stdin.readline()
    before, polls[0] = os.times(), 0
    wait()
    after = os.times()
    figures = {
        "user": after.user - before.user,
        "system": after.system - before.system,
        "polls": polls[0],
    }
    print(json.dumps(figures), flush=True)


# -- the parent: a paced publisher -------------------------------------------------------


def measure(
    url: str, variant: str, tree: Path, rate: float, n: int, lanes: int
) -> dict[str, float]:
    tag = uuid.uuid4().hex[:8]
    queue, exchange = f"paced_{tag}", f"paced_{tag}_events"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    if variant in BARE:
        channel.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
        exchange, key = "", queue
    else:
        key = "payment.completed"  # the adapter declares its own topology
    env = {**os.environ, "PYTHONPATH": str(tree)}
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", variant, url, queue, exchange, str(lanes), str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdin is not None and process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit(f"{variant}: the consumer did not start")
    process.stdin.write("go\n")
    process.stdin.flush()
    body = b'{"paymentId": "pay_1", "amount": 129.99}'
    began = time.monotonic()
    for i in range(n):
        due = began + i / rate
        while (left := due - time.monotonic()) > 0:
            connection.sleep(left)
        properties = pika.BasicProperties(
            message_id=f"m{i}",
            correlation_id=uuid.uuid4().hex,
            content_type="application/json",
            delivery_mode=2,
        )
        channel.basic_publish(exchange, key, body, properties)
    figures = json.loads(process.stdout.readline())
    process.wait(30)
    channel.queue_delete(queue)
    connection.close()
    return {name: value / n for name, value in figures.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rate", type=float, default=32.0, help="messages a second")
    ap.add_argument("--messages", type=int, default=640)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lanes", type=int, default=4, help="the adapter's concurrency")
    ap.add_argument("--tree", action="append", type=Path, help="a checkout's adapter too")
    ap.add_argument("--no-bare", action="store_true", help="skip bare pika")
    ap.add_argument("--amqp-url")
    args = ap.parse_args()
    runs = [(f"adapter {tree}", "adapter", tree) for tree in (args.tree or [ROOT])]
    if not args.no_bare:
        runs += [(variant, variant, ROOT) for variant in BARE]
    results: dict[str, list[dict[str, float]]] = {label: [] for label, _, _ in runs}
    with broker(args.amqp_url) as url:
        for round_no in range(args.rounds):
            order = runs if round_no % 2 == 0 else runs[::-1]
            for label, variant, tree in order:
                figures = measure(url, variant, tree, args.rate, args.messages, args.lanes)
                results[label].append(figures)
                cpu = 1000 * (figures["user"] + figures["system"])
                print(f"round {round_no + 1}: {label}: {cpu:.3f} ms CPU per message", flush=True)
    print(f"\n{args.messages} messages at {args.rate:g}/s, {args.lanes} lanes, means of rounds\n")
    print("| consumer | CPU ms per message | user | system | polls per message |")
    print("|---|---|---|---|---|")
    for label, rows in results.items():
        user = statistics.mean(r["user"] for r in rows) * 1000
        system = statistics.mean(r["system"] for r in rows) * 1000
        polls = statistics.mean(r["polls"] for r in rows)
        print(f"| {label} | {user + system:.3f} | {user:.3f} | {system:.3f} | {polls:.2f} |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        variant, url, queue, exchange, lanes, n = sys.argv[2:8]
        child(variant, url, queue, exchange, int(lanes), int(n))
    else:
        main()
