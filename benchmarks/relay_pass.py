"""What one outbox relay pass costs when it carries one row: CPU of the relay's own thread
(the claim, the sent mark, building the message, waiting for its confirm) and of its
publisher's I/O thread (pika: the frames and the confirm), per pass.

At moderate rates a relay makes one pass per event (its writers ring it after each
commit), so this per-pass cost, times a flow's events, is most of what the three relays
cost a flow at 8 flows/s.  The outbox, each row its own aggregate as in the services, is
a SQLite file or a fresh PostgreSQL database (``--database postgresql``; the server's CPU
is then counted too); the broker is a private node started for the run (``--amqp-url``
to use another), publishing to a classic queue bound to ``#``.

    .venv/bin/python benchmarks/relay_pass.py [--passes 2000] [--rounds 3]
        [--database sqlite|postgresql] [--amqp-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika
from bench_common import broker, database, postgres_cpu_s
from sqlalchemy import Engine, MetaData, Table

from sandbox.messaging.envelope import OutgoingMessage
from sandbox.messaging.publisher import Publisher
from sandbox.services.common import db
from sandbox.services.common.outbox import OutboxRelay, add_events, outbox_table


def write_one(engine: Engine, table: Table) -> None:
    """One event in its own transaction, its own aggregate, as a service writes it."""
    message = OutgoingMessage.event(
        "payment.completed", {"type": "payment.completed", "amount": 1}, producer="bench"
    )
    with engine.begin() as conn:
        add_events(conn, table, [message], message.message_id)


def one_round(
    engine: Engine, table: Table, relay: OutboxRelay, passes: int
) -> tuple[float, float, float]:
    """CPU ms per pass: the relay's thread, the rest of the process (the publisher's I/O
    thread) and the database server (0 on SQLite), the writes' own CPU taken out."""
    on_postgres = engine.dialect.name == "postgresql"

    def cpu() -> tuple[float, float, float]:
        return time.thread_time(), time.process_time(), postgres_cpu_s() if on_postgres else 0.0

    for _ in range(50):  # warm: statements compiled, pool and channel in use
        write_one(engine, table)
        relay.run_once(look_first=False, hold_marks=True)
    began = cpu()
    for _ in range(passes):
        write_one(engine, table)
    writes = [b - a for a, b in zip(began, cpu(), strict=True)]
    # those rows go out now, uncounted: left waiting, the passes below would publish them
    # too, a batch at a time, and a pass would seem to cost what two rows cost
    while relay.run_once(look_first=False):
        pass
    began = cpu()
    for _ in range(passes):
        write_one(engine, table)
        relay.run_once(look_first=False, hold_marks=True)
    both = [b - a for a, b in zip(began, cpu(), strict=True)]
    thread, process, server = ((b - w) / passes * 1000 for b, w in zip(both, writes, strict=True))
    return thread, max(process - thread, 0.0), max(server, 0.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--passes", type=int, default=2000, help="passes per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--amqp-url", help="a broker to use instead of a private node")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with (
        broker(args.amqp_url) as url,
        database(args.database) as env,
        tempfile.TemporaryDirectory(prefix="relay-pass-") as tmp,
    ):
        exchange = f"relay-pass-{uuid.uuid4().hex[:8]}"
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.exchange_declare(exchange, "topic", auto_delete=True)
        queue = channel.queue_declare("", exclusive=True).method.queue
        channel.queue_bind(queue, exchange, "#")
        engine = db.make_engine(env.get("DATABASE_URL") or db.sqlite_url(Path(tmp) / "outbox.db"))
        metadata = MetaData()
        table = outbox_table(metadata, f"relay_pass_{uuid.uuid4().hex[:8]}")
        db.create_schema(engine, metadata)
        publisher = Publisher(url, exchange, name="relay-pass").start()
        relay = OutboxRelay(engine, table, publisher, name="relay-pass")
        assert threading.current_thread() is threading.main_thread()
        try:
            with relay.keeping_connection():  # as the relay's run loop does
                results = []
                for n in range(1, args.rounds + 1):
                    results.append(one_round(engine, table, relay, args.passes))
                    channel.queue_purge(queue)
                    relay_ms, io_ms, server_ms = results[-1]
                    print(
                        f"round {n}: relay thread {relay_ms:.3f} ms, publisher's I/O thread "
                        f"{io_ms:.3f} ms, database server {server_ms:.3f} ms per pass"
                    )
        finally:
            publisher.close()
            connection.close()
            engine.dispose()
        relay_ms, io_ms, server_ms = (statistics.median(r[i] for r in results) for i in range(3))
        print(
            f"{args.database}: one row per pass, medians of {args.rounds} rounds of "
            f"{args.passes}: relay thread {relay_ms:.3f} ms, publisher's I/O thread "
            f"{io_ms:.3f} ms, database server {server_ms:.3f} ms; "
            f"{relay_ms + io_ms + server_ms:.3f} ms of CPU per pass"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
