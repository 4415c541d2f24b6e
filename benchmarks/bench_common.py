"""What the benchmarks share: free ports, a private broker node, raw confirmed publishing,
queue purges, a fresh PostgreSQL database and its server's CPU, and the Markdown table
they print."""

from __future__ import annotations

import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pika
import psutil
import psycopg
from psycopg import sql

from sandbox.broker.local import LocalNode
from sandbox.messaging import OutgoingMessage
from sandbox.topology import Topology

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def broker(url: str | None) -> Iterator[str]:
    """``url``, or a private node started for the block and stopped after it."""
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="bench-node-") as tmp:
        node = LocalNode(Path(tmp))
        node.start()
        try:
            yield node.url
        finally:
            node.stop()


def publish_confirmed(url: str, exchange: str, messages: list[OutgoingMessage]) -> float:
    """Publish ``messages`` with raw pika, each confirmed before the next; messages/s."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.confirm_delivery()
    began = time.perf_counter()
    for m in messages:
        channel.basic_publish(
            exchange,
            m.routing_key,
            m.body,
            pika.BasicProperties(**m.envelope.properties()),
            mandatory=True,
        )
    elapsed = time.perf_counter() - began
    connection.close()
    return len(messages) / elapsed


def purge(url: str, topology: Topology) -> None:
    """Empty every queue of the topology."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for decl in topology.declarations():
        channel.queue_purge(decl.name)
    connection.close()


def print_table(heading: str, rows: list[tuple[str, str]]) -> None:
    """Print ``rows`` as a two-column Markdown table under ``heading``."""
    print(f"\n{heading}\n")
    print("| measure | result |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


@contextmanager
def database(kind: str, settings: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """The environment for ``kind``: nothing for SQLite, a fresh database for PostgreSQL
    (dropped afterwards), with ``settings`` as its defaults for every new session."""
    if kind == "sqlite":
        yield {}
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for setting, value in (settings or {}).items():
            admin.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
                )
            )
    try:
        yield {"DATABASE_URL": f"{POSTGRES}/{name}"}
    finally:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


POSTGRES_ROLES = ("walwriter", "checkpointer", "background writer", "autovacuum", "logical")


def postgres_processes(database: str = "") -> dict[int, tuple[str, float]]:
    """Every process called ``postgres`` on the machine: its role and CPU seconds so far.
    A backend whose command line names ``database`` is one of that database's."""
    found = {}
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] != "postgres":
            continue
        command = " ".join(process.info["cmdline"] or [])
        if database and database in command:
            role = "backends of the sandbox's database"
        else:
            role = next((r for r in POSTGRES_ROLES if r in command), "other server processes")
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        found[process.pid] = (role, times.user + times.system)
    return found


def postgres_cpu_s() -> float:
    """CPU seconds of every process called ``postgres`` on the machine (the server the
    benchmark then has to itself)."""
    return sum(seconds for _, seconds in postgres_processes().values())


def assignments(pairs: list[str], option: str) -> dict[str, str]:
    """``NAME=VALUE`` arguments of ``option`` as a mapping; a malformed one ends the run."""
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"{option} {pair!r}: expected NAME=VALUE")
        env[name] = value
    return env
