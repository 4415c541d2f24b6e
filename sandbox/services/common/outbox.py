"""Transactional outbox and its relay (seed 001's outbox, SPEC section 4).

A service writes its state change and the events it causes in one database transaction
(``add_events``).  The relay, a separate process, reads unsent rows in insertion order,
publishes them with pipelined confirms and marks them sent only after the broker has
confirmed them.  A crash anywhere therefore duplicates events (consumers de-duplicate by
``message_id``) and never loses one.

Waking the relay: a writer whose transaction added outbox rows rings the relay's
*doorbell* (one UDP datagram to ``OUTBOX_DOORBELL``, host:port) when it commits, and the
relay, which otherwise sleeps between passes, looks at once.  A lost datagram only
delays the rows until the relay's next idle pass (``IDLE_POLL_S``); without a doorbell
the relay polls every ``poll_interval_s``.

Ordering: the relay marks only the confirmed *prefix* of each batch as sent.  If message
k of a batch is not confirmed (connection lost), k and everything after it are published
again in order on the next pass, so every event reaches the broker after all events
written before it, at the price of possible duplicates of the later ones.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import select as select_module
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    select,
    update,
)

from sandbox.messaging.envelope import Envelope, OutgoingMessage

log = logging.getLogger(__name__)

DOORBELL_ENV = "OUTBOX_DOORBELL"
IDLE_POLL_S = 0.25  # a relay with a doorbell still looks this often
_WROTE = "outbox_rows_written"
_RING = "outbox_ring_due"


def doorbell_address(value: str | None = None) -> tuple[str, int] | None:
    """``host:port`` (default: ``OUTBOX_DOORBELL``) as an address, or None when unset."""
    value = os.environ.get(DOORBELL_ENV, "") if value is None else value
    if not value.strip():
        return None
    host, _, port = value.strip().rpartition(":")
    try:
        return (host or "127.0.0.1", int(port))
    except ValueError:
        raise ValueError(f"{DOORBELL_ENV}={value!r}: expected host:port") from None


_ring_socket: socket.socket | None = None


def _ringer() -> socket.socket:
    """One unconnected UDP socket per process for every ring."""
    global _ring_socket
    if _ring_socket is None:
        _ring_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _ring_socket.setblocking(False)
        atexit.register(_ring_socket.close)
    return _ring_socket


def ring_after_commits(engine: Engine, address: tuple[str, int]) -> None:
    """Ring the relay's doorbell once a transaction that added outbox rows has committed.

    SQLAlchemy's ``commit`` event fires *before* the database commits, so it only marks
    the connection; the ring goes out when the connection returns to the pool, after
    the commit (a relay woken earlier would find nothing and go back to sleep).
    """
    sock = _ringer()

    @event.listens_for(engine, "commit")
    def _committing(conn: Connection) -> None:
        if conn.info.pop(_WROTE, False):
            conn.info[_RING] = True

    @event.listens_for(engine, "rollback")
    def _forget(conn: Connection) -> None:
        conn.info.pop(_WROTE, None)

    @event.listens_for(engine.pool, "checkin")
    def _ring(_dbapi_connection: Any, record: Any) -> None:
        if record is not None and record.info.pop(_RING, False):
            with contextlib.suppress(OSError):  # a missed ring costs one idle pass
                sock.sendto(b"!", address)


class Doorbell:
    """The relay's side: a UDP socket that writers ring after committing outbox rows."""

    def __init__(self, host: str, port: int) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.setblocking(False)
        self.address: tuple[str, int] = self._sock.getsockname()[:2]

    def wait(self, timeout: float) -> bool:
        """Block until rung or ``timeout``; True when rung (all pending rings consumed)."""
        ready, _, _ = select_module.select([self._sock], [], [], timeout)
        rung = False
        while ready:
            try:
                self._sock.recv(64)
                rung = True
            except BlockingIOError:
                break
        return rung

    def ring(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendto(b"!", self.address)

    def close(self) -> None:
        self._sock.close()


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("routing_key", String(128), nullable=False),
        Column("aggregate_id", String(128), nullable=True, index=True),
        Column("body", Text, nullable=False),
        Column("envelope", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True, index=True),
        Column("publish_attempts", Integer, nullable=False, default=0),
    )


def add_events(
    conn: Connection, table: Table, messages: Sequence[OutgoingMessage], aggregate_id: str | None
) -> None:
    """Write events into the outbox inside the caller's transaction."""
    if not messages:
        return
    conn.info[_WROTE] = True
    conn.execute(
        table.insert(),
        [
            {
                "message_id": m.message_id,
                "routing_key": m.routing_key,
                "aggregate_id": aggregate_id,
                "body": m.body.decode(),
                "envelope": json.dumps(
                    {
                        "correlation_id": m.envelope.correlation_id,
                        "type": m.envelope.type,
                        "app_id": m.envelope.app_id,
                        "timestamp": m.envelope.timestamp,
                        "headers": dict(m.envelope.headers),
                    }
                ),
                "publish_attempts": 0,
            }
            for m in messages
        ],
    )


def row_to_message(row: Any) -> OutgoingMessage:
    envelope = json.loads(row.envelope)
    return OutgoingMessage(
        routing_key=row.routing_key,
        body=row.body.encode(),
        envelope=Envelope(
            message_id=row.message_id,
            correlation_id=envelope["correlation_id"],
            type=envelope["type"],
            app_id=envelope["app_id"],
            timestamp=envelope["timestamp"],
            headers=envelope.get("headers") or {},
        ),
    )


class BatchPublisher(Protocol):
    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> Sequence[Exception | None]: ...


@dataclass
class RelayStats:
    published: int = 0
    failed_batches: int = 0
    passes: int = 0


class OutboxRelay:
    """Publishes unsent outbox rows in order, marking them sent after the confirm."""

    def __init__(
        self,
        engine: Engine,
        table: Table,
        publisher: BatchPublisher,
        *,
        batch_size: int = 500,
        poll_interval_s: float = 0.02,
        confirm_timeout_s: float = 30.0,
        doorbell: Doorbell | None = None,
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self._engine = engine
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._confirm_timeout_s = confirm_timeout_s
        self._doorbell = doorbell
        self._idle_poll_s = idle_poll_s
        self._stopping = threading.Event()
        self.stats = RelayStats()

    def pending(self) -> int:
        with self._engine.connect() as conn:
            query = (
                select(func.count()).select_from(self._table).where(self._table.c.sent_at.is_(None))
            )
            return int(conn.execute(query).scalar_one())

    def run_once(self) -> int:
        """Publish one batch; return how many rows were confirmed and marked sent."""
        t = self._table
        self.stats.passes += 1
        # a plain read: no write lock, so polling never stalls the service's writers
        with self._engine.connect().execution_options(sqlite_deferred=True) as conn:
            rows = conn.execute(
                select(t).where(t.c.sent_at.is_(None)).order_by(t.c.id).limit(self._batch_size)
            ).all()
        if not rows:
            return 0
        messages = [row_to_message(row) for row in rows]
        errors = self._publisher.publish_many(messages, timeout=self._confirm_timeout_s)
        confirmed = 0
        for error in errors:
            if error is not None:
                break
            confirmed += 1
        now = datetime.now(UTC)
        with self._engine.begin() as conn:
            if confirmed:
                conn.execute(
                    update(t)
                    .where(t.c.id.in_([row.id for row in rows[:confirmed]]))
                    .values(sent_at=now, publish_attempts=t.c.publish_attempts + 1)
                )
            if confirmed < len(rows):
                conn.execute(
                    update(t)
                    .where(t.c.id == rows[confirmed].id)
                    .values(publish_attempts=t.c.publish_attempts + 1)
                )
        if confirmed < len(rows):
            self.stats.failed_batches += 1
            log.warning(
                "relay: %d of %d confirmed; %s not confirmed (%s), will publish again",
                confirmed,
                len(rows),
                rows[confirmed].message_id,
                errors[confirmed],
            )
        self.stats.published += confirmed
        return confirmed

    def run(self) -> None:
        """Relay until ``stop()``; idle passes wait ``poll_interval_s``, failures back off."""
        backoff = self._poll_interval_s
        while not self._stopping.is_set():
            try:
                published = self.run_once()
            except Exception:
                log.exception("relay pass failed")
                published = 0
                backoff = min(max(backoff * 2, 0.1), 5.0)
                self._stopping.wait(backoff)
                continue
            backoff = self._poll_interval_s
            if published < self._batch_size:
                self._idle()

    def _idle(self) -> None:
        if self._doorbell is None:
            self._stopping.wait(self._poll_interval_s)
            return
        if self._doorbell.wait(self._idle_poll_s) and not self._stopping.is_set():
            # rung, but the pass found nothing (a pass already running took the rows, or
            # a writer's connection rang early): look again briefly before sleeping
            for pause in (0.0, 0.005, 0.02, 0.05):
                self._stopping.wait(pause)
                if self.run_once():
                    return

    def stop(self) -> None:
        self._stopping.set()
        if self._doorbell is not None:
            self._doorbell.ring()
