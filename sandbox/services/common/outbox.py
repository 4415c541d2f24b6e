"""Transactional outbox and its relay (seed 001's outbox, SPEC section 4).

A service writes its state change and the events it causes in one database transaction
(``add_events``).  The relay, a separate process, reads unsent rows in insertion order,
publishes them with pipelined confirms and marks them sent only after the broker has
confirmed them.  A crash anywhere therefore duplicates events (consumers de-duplicate by
``message_id``) and never loses one.  Writers ring the relay's doorbell after committing
(``sandbox.services.common.doorbell``); without one the relay polls every
``poll_interval_s``.

Claims: a pass first *claims* the rows it will publish, in one write transaction: it
sets ``claimed_by`` to the relay's name and ``claimed_until`` to a lease, and takes only
rows that are unclaimed, whose lease ran out, or that are its own.  A row is not taken
while an earlier unsent row of the same aggregate is claimed by another relay, so
several relays on one outbox keep each aggregate's order.  A relay that dies leaves its
claims to run out; the same relay started again (same name) takes them back at once.

Ordering: the relay marks only the confirmed *prefix* of each batch as sent.  If message
k of a batch is not confirmed (connection lost), k and everything after it are published
again in order on the next pass, so every event reaches the broker after all events
written before it, at the price of possible duplicates of the later ones.

Marks: in ``run`` the sent mark of a pass's rows waits up to ``hold_marks_s`` for the next
pass, whose claim writes it in the same statement or transaction: at moderate rates a
pass carries one row, and the mark and the claim were each a write of their own.  A mark
no pass picks up in that time is written alone.  A relay that dies holding marks
publishes those rows again when it restarts (duplicates, as any crash between confirm
and mark; consumers de-duplicate them).

Parking: a row that can never be published must not hold back the rows behind it, for
every tenant, for ever.  A row that does not make an AMQP message (a property over
AMQP's 255-byte limit, a header of no AMQP type, a row no code could have written) is
*parked* at once: ``parked_at`` and ``park_reason`` are set and the relay moves on.  A
row the broker refuses (nack, or returned as unroutable) is retried, holding the rows
behind it, until it has been refused ``max_refusals`` times, and is then parked.  A
connection lost or a confirm that never came parks nothing: the row stays pending and is
published again when the broker is back.  Later rows of a parked row's aggregate still
go: pipelining has usually published them already by the time the broker refuses an
earlier one, and holding them would stop the aggregate until someone intervened.  The
relay's ``/health`` reports parked rows as unhealthy, with the latest reason; setting
``parked_at`` back to NULL publishes a row again (see the services' docs).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.schema import CreateColumn

from sandbox.messaging import NackedError, UnpublishableError, UnroutableError
from sandbox.messaging.envelope import Envelope, OutgoingMessage
from sandbox.services.common import db
from sandbox.services.common.doorbell import IDLE_POLL_S, Doorbell, note_written
from sandbox.services.common.driver import DriverConnection
from sandbox.services.common.relay_sql import DriverStatements, RelayStatements
from sandbox.services.common.times import utc

log = logging.getLogger(__name__)

DEFAULT_MAX_REFUSALS = 5
DEFAULT_LEASE_S = 60.0
DEFAULT_HOLD_MARKS_S = 0.1
PARK_REASON_MAX = 500
CLAIMANT_MAX = 64


def first_release_columns() -> list[Column[Any]]:
    """The outbox's columns as the first release created them."""
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("message_id", String(64), nullable=False, unique=True),
        Column("routing_key", String(128), nullable=False),
        Column("aggregate_id", String(128), nullable=True, index=True),
        Column("body", Text, nullable=False),
        Column("envelope", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("sent_at", DateTime(timezone=True), nullable=True, index=True),
        Column("publish_attempts", Integer, nullable=False, default=0),
    ]


def _later_columns() -> list[Column[Any]]:
    """The columns added since, which ``upgrade_outbox`` adds to an older table."""
    return [
        # nacks and returns so far; the row is parked when they reach max_refusals
        Column("refusals", Integer, nullable=False, server_default=text("0")),
        Column("parked_at", DateTime(timezone=True), nullable=True),
        Column("park_reason", Text, nullable=True),
        # the relay publishing the row now, and until when its claim holds
        Column("claimed_by", String(CLAIMANT_MAX), nullable=True),
        Column("claimed_until", DateTime(timezone=True), nullable=True),
    ]


_LATER_COLUMNS = tuple(column.name for column in _later_columns())


def outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """The outbox table ``name``; ``metadata.create_all`` also upgrades an older one."""
    table = Table(name, metadata, *first_release_columns(), *_later_columns())
    # Parked rows are a handful in a table that keeps every row it ever had: a partial
    # index.  (A plain one, where nearly every row is NULL, made SQLite's planner prefer
    # it to sent_at's for the unsent rows and read the whole table on every relay pass.)
    parked = table.c.parked_at.is_not(None)
    Index(f"ix_{name}_parked", table.c.parked_at, sqlite_where=parked, postgresql_where=parked)

    def _upgrade(_metadata: MetaData, connection: Connection, **_kw: Any) -> None:
        upgrade_outbox(connection, table)

    event.listen(metadata, "after_create", _upgrade)
    return table


def upgrade_outbox(conn: Connection, table: Table) -> None:
    """Add the columns and index an outbox created by an earlier version lacks."""
    present = {column["name"] for column in inspect(conn).get_columns(table.name)}
    name = conn.dialect.identifier_preparer.format_table(table)
    # SQLite has no ADD COLUMN IF NOT EXISTS; its create_all holds the write lock, so
    # processes starting together take turns.  PostgreSQL says IF NOT EXISTS.
    guard = " IF NOT EXISTS" if conn.dialect.name == "postgresql" else ""
    for column in _LATER_COLUMNS:
        if column not in present:
            ddl = CreateColumn(table.c[column]).compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {name} ADD COLUMN{guard} {ddl}"))
    for index in table.indexes:
        index.create(conn, checkfirst=True)
    # the whole-column index of earlier versions misled SQLite's planner (see above)
    old = conn.dialect.identifier_preparer.quote(f"ix_{table.name}_parked_at")
    conn.execute(text(f"DROP INDEX IF EXISTS {old}"))


def add_events(
    conn: Connection, table: Table, messages: Sequence[OutgoingMessage], aggregate_id: str | None
) -> None:
    """Write events into the outbox inside the caller's transaction."""
    if not messages:
        return
    note_written(conn)
    conn.execute(table.insert(), [row for _, row in event_rows(table, messages, aggregate_id)])


def event_rows(
    table: Table, messages: Sequence[OutgoingMessage], aggregate_id: str | None
) -> list[tuple[Table, dict[str, Any]]]:
    """The outbox rows of ``messages``, for ``db.write_together`` with other rows (whoever
    writes them calls ``note_written`` too, for the relay's doorbell)."""
    return [
        (
            table,
            {
                "message_id": m.message_id,
                "routing_key": m.routing_key,
                "aggregate_id": aggregate_id,
                "body": m.body.decode(),
                "envelope": m.envelope.to_json(),
                "publish_attempts": 0,
            },
        )
        for m in messages
    ]


def row_to_message(row: Any) -> OutgoingMessage:
    envelope = Envelope.from_json(row.message_id, row.envelope)
    return OutgoingMessage(row.routing_key, row.body.encode(), envelope)


def pending_count(conn: Connection, table: Table) -> int:
    """Rows waiting to be published (parked rows wait for a person, not the relay)."""
    query = (
        select(func.count())
        .select_from(table)
        .where(table.c.sent_at.is_(None), table.c.parked_at.is_(None))
    )
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True)
class Parked:
    """How many rows are parked, and the most recently parked one."""

    count: int
    latest: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "latest": self.latest}


def parked_rows(conn: Connection, table: Table) -> Parked:
    t = table
    parked = t.c.parked_at.is_not(None)
    count = int(conn.execute(select(func.count()).select_from(t).where(parked)).scalar_one())
    if not count:
        return Parked(0)
    row = conn.execute(
        select(t.c.id, t.c.message_id, t.c.routing_key, t.c.parked_at, t.c.park_reason)
        .where(parked)
        .order_by(t.c.parked_at.desc(), t.c.id.desc())
        .limit(1)
    ).one()
    latest = {
        "id": row.id,
        "message_id": row.message_id,
        "routing_key": row.routing_key,
        "parked_at": utc(row.parked_at).isoformat(),
        "reason": row.park_reason,
    }
    return Parked(count, latest)


class BatchPublisher(Protocol):
    def publish_many(
        self, messages: Sequence[OutgoingMessage], timeout: float = 30.0
    ) -> Sequence[Exception | None]: ...


@dataclass
class RelayStats:
    published: int = 0
    parked: int = 0
    failed_batches: int = 0
    passes: int = 0


@dataclass
class _Pass:
    """What one pass did to its rows, written back in one transaction."""

    sent: list[int] = field(default_factory=list)
    parked: dict[int, str] = field(default_factory=dict)
    attempted: list[int] = field(default_factory=list)
    refused: list[int] = field(default_factory=list)


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
        max_refusals: int = DEFAULT_MAX_REFUSALS,
        doorbell: Doorbell | None = None,
        idle_poll_s: float = IDLE_POLL_S,
        name: str = "relay",
        lease_s: float | None = None,
        hold_marks_s: float = DEFAULT_HOLD_MARKS_S,
    ) -> None:
        if not name or len(name) > CLAIMANT_MAX:
            raise ValueError(f"a relay's name has 1 to {CLAIMANT_MAX} characters: {name!r}")
        self._engine = engine
        self._table = table
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._confirm_timeout_s = confirm_timeout_s
        self._max_refusals = max(1, max_refusals)
        self._doorbell = doorbell
        self._idle_poll_s = idle_poll_s
        self._stopping = threading.Event()
        self.name = name
        # a claim must outlive a pass that waits the whole confirm timeout
        self._lease = timedelta(seconds=lease_s or max(DEFAULT_LEASE_S, 2 * confirm_timeout_s))
        self._statements = RelayStatements(table, name, batch_size)
        self._postgres = engine.dialect.name == "postgresql"
        # a pass's claim and marks run on a connection kept for them (``driver``)
        self._driver = DriverStatements(engine, self._statements)
        self._connection = DriverConnection(engine)
        # a held mark must be written long before the rows' claim runs out
        self._hold_marks_s = min(hold_marks_s, self._lease.total_seconds() / 4)
        # rows the broker confirmed whose sent mark waits for the next claim (``run``)
        self._held: list[int] = []
        self.stats = RelayStats()

    def pending(self) -> int:
        """Rows waiting to be published: unsent rows, less those confirmed whose mark
        this relay holds."""
        held = len(self._held)
        with db.reading(self._engine) as conn:
            return max(0, pending_count(conn, self._table) - held)

    def parked(self) -> Parked:
        with db.reading(self._engine) as conn:
            return parked_rows(conn, self._table)

    def run_once(self, *, look_first: bool = True, hold_marks: bool = False) -> int:
        """Publish one batch; return how many rows it settled (marked sent or parked).

        ``look_first``: read whether anything waits before claiming (an idle pass then
        costs one read and takes no write lock); a pass right after a ring skips it.
        ``hold_marks``: when every row is confirmed, keep their sent mark for the next
        pass's claim to write (``flush_marks`` writes it alone).
        """
        self.stats.passes += 1
        rows = self._claim(look_first)
        if not rows:
            return 0
        done = _Pass()
        built: list[tuple[Any, OutgoingMessage]] = []
        for row in rows:
            try:
                built.append((row, row_to_message(row)))
            except Exception as exc:  # no retry can mend the row itself
                done.parked[row.id] = f"the row does not make a message ({type(exc).__name__})"
        if built:
            messages = [message for _, message in built]
            errors = self._publisher.publish_many(messages, timeout=self._confirm_timeout_s)
            self._settle([row for row, _ in built], errors, done)
        self._write(done, hold_marks)
        for row in rows:
            if row.id in done.parked:
                log.error(
                    "relay: parked %s (%s): %s",
                    row.message_id,
                    row.routing_key,
                    done.parked[row.id],
                    extra={"fields": {"message_id": row.message_id, "outbox_id": row.id}},
                )
        self.stats.published += len(done.sent)
        self.stats.parked += len(done.parked)
        return len(done.sent) + len(done.parked)

    def _claim(self, look_first: bool) -> list[Any]:
        """Claim the next batch of publishable rows for this relay, in insertion order,
        writing the sent marks it holds on the way."""
        held, driver = self._held, self._driver
        if not held and look_first and not self._anything_pending():
            return []
        now = datetime.now(UTC)
        values = {"now": now, "until": now + self._lease}
        with self._connection.transaction() as cursor:
            if not held:
                rows = driver.claim.run(cursor, values)
            elif self._postgres:
                statement, marks = driver.mark_and_claim(held)
                rows = statement.run(cursor, {**values, **marks})
            else:
                statement, marks = driver.sent(held)
                statement.run(cursor, {**marks, "now": now})
                rows = driver.claim.run(cursor, values)
        self._held = []
        return sorted(rows, key=lambda row: row.id)

    def _anything_pending(self) -> bool:
        with self._connection.reading() as cursor:
            return bool(self._driver.any_pending.run(cursor, {}))

    def keeping_connection(self) -> AbstractContextManager[object]:
        """Passes inside keep one database connection between them, as ``run``'s do; a
        pass alone takes one from the pool and returns it."""
        return self._connection.keeping()

    def flush_marks(self) -> None:
        """Write the sent marks this relay holds."""
        if self._held:
            self._mark_sent(self._held)
            self._held = []

    def _mark_sent(self, ids: list[int]) -> None:
        statement, marks = self._driver.sent(ids)
        with self._connection.transaction() as cursor:
            statement.run(cursor, {**marks, "now": datetime.now(UTC)})

    def _settle(self, rows: Sequence[Any], errors: Sequence[Exception | None], done: _Pass) -> None:
        """Sort published rows by their results, in order, up to the first to retry."""
        for row, error in zip(rows, errors, strict=True):
            if error is None:
                done.sent.append(row.id)
                done.attempted.append(row.id)
                continue
            refused = isinstance(error, NackedError | UnroutableError)
            if refused:
                done.refused.append(row.id)
            if not isinstance(error, UnpublishableError):
                done.attempted.append(row.id)
            reason = self._park_reason(row, error, refused)
            if reason is None:
                self.stats.failed_batches += 1
                log.warning(
                    "relay: %d of %d confirmed; %s not confirmed (%s), will publish again",
                    len(done.sent),
                    len(rows),
                    row.message_id,
                    error,
                )
                return  # this row and every row after it go again next pass, in order
            done.parked[row.id] = reason

    def _park_reason(self, row: Any, error: Exception, refused: bool) -> str | None:
        """Why ``row`` is parked after ``error``, or None to publish it again."""
        if isinstance(error, UnpublishableError):
            return f"cannot be published: {error}"
        if refused and row.refusals + 1 >= self._max_refusals:
            return f"refused by the broker {row.refusals + 1} times, last: {error}"
        return None

    def _write(self, done: _Pass, hold_marks: bool) -> None:
        statements = self._statements
        now = datetime.now(UTC)
        sent = set(done.sent)
        others = [row_id for row_id in done.attempted if row_id not in sent]
        if done.sent and not (others or done.refused or done.parked):
            # the common pass: every row confirmed, one statement, or none yet (the claim
            # at the start of this pass wrote the marks held before it)
            if hold_marks:
                self._held = done.sent
                return
            self._mark_sent(done.sent)
            return
        with self._engine.begin() as conn:
            if done.sent:  # sent rows were attempted too: one statement for both
                conn.execute(statements.sent, {"ids": done.sent, "now": now})
            if others:
                conn.execute(statements.attempted, {"ids": others})
            if done.refused:
                conn.execute(statements.refused, {"ids": done.refused})
            for row_id, reason in done.parked.items():
                conn.execute(
                    statements.park,
                    {"row_id": row_id, "now": now, "reason": reason[:PARK_REASON_MAX]},
                )

    def run(self) -> None:
        """Relay until ``stop()``; idle passes wait ``poll_interval_s``, failures back off.
        Sent marks wait for the next pass up to ``hold_marks_s`` (see the module doc)."""
        backoff = self._poll_interval_s
        rung = False
        hold = self._hold_marks_s > 0
        with self.keeping_connection():
            try:
                while not self._stopping.is_set():
                    try:
                        settled = self.run_once(look_first=not rung, hold_marks=hold)
                        rung = settled >= self._batch_size or self._wait()
                    except Exception:
                        log.exception("relay pass failed")
                        backoff = min(max(backoff * 2, 0.1), 5.0)
                        self._stopping.wait(backoff)
                        continue
                    backoff = self._poll_interval_s
            finally:
                self._flush_on_stop()

    def _wait(self) -> bool:
        """Wait for the next pass; True when rung.  Held marks are written alone when no
        ring comes within ``hold_marks_s``."""
        if self._held and self._doorbell is not None:
            if self._doorbell.wait(self._hold_marks_s):
                return True
            self.flush_marks()
        return self._idle()

    def _idle(self) -> bool:
        """Wait for a ring (writers ring after their commit), or poll without a doorbell;
        True when rung."""
        if self._doorbell is None:
            self._stopping.wait(self._poll_interval_s)
            return False
        return self._doorbell.wait(self._idle_poll_s)

    def _flush_on_stop(self) -> None:
        try:
            self.flush_marks()
        except Exception as exc:
            log.warning(
                "relay: %d confirmed rows not marked sent (%s); they are published again "
                "when a relay next runs",
                len(self._held),
                exc,
            )

    def stop(self) -> None:
        self._stopping.set()
        if self._doorbell is not None:
            self._doorbell.ring()
