"""Database engines and schemas: SQLite by default, PostgreSQL through ``DATABASE_URL``.

SQLite is shared by a service's web process, its consumer and its relay, so it runs in
WAL mode: readers never block the writer, and ``reading`` opens a plain (deferred)
transaction that takes no lock.  Writers take SQLite's write lock at ``BEGIN IMMEDIATE``,
but first the file's ``WriteLock``: a thread lock and an ``flock`` beside the database,
so that waiting writers queue and wake as soon as the writer before them commits,
instead of SQLite's busy handler polling them with sleeps of up to 100 ms (under
concurrent load that polling, not the work, made up most of a request's time).  Every
service keeps its tables in one ``MetaData`` and creates them with ``create_schema``
when a process starts.
"""

from __future__ import annotations

import fcntl
import functools
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Row,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.sql.elements import ColumnElement

from sandbox.services.common.times import utc

T = TypeVar("T")


class Executes(Protocol):
    """A ``Connection``, or a ``driver.DriverSession``: what the write helpers use."""

    @property
    def dialect(self) -> Any: ...

    def execute(self, statement: Any, parameters: Any = None, /) -> Any: ...


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sqlite_url(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


POOL_SIZE = 32  # a web process runs up to PAYMENT_THREADS (16) request threads
PG_POOL_SIZE = 16  # each one a PostgreSQL server process: max_connections is 100
WRITE_LOCK_TIMEOUT_S = 30.0  # as long as SQLite's own busy timeout


class WriteLockTimeout(sqlite3.OperationalError):
    """Another writer held the database longer than ``WRITE_LOCK_TIMEOUT_S``."""


class WriteLock:
    """One writer at a time on a SQLite file, across this process's threads and processes.

    A thread lock orders this process's writers; an ``flock`` on ``<database>-writer.lock``
    orders the processes (the kernel drops it when a holder dies, so it never goes
    stale).  SQLite's own lock stays the rule; this only makes waiters queue instead of
    polling it.
    """

    _by_path: dict[str, WriteLock] = {}
    _registry = threading.Lock()

    def __init__(self, path: str) -> None:
        self._thread_lock = threading.Lock()
        self._fd = os.open(f"{path}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def for_file(cls, path: str) -> WriteLock:
        with cls._registry:
            lock = cls._by_path.get(path)
            if lock is None:
                lock = cls._by_path[path] = cls(path)
            return lock

    def acquire(self, timeout: float = WRITE_LOCK_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        if not self._thread_lock.acquire(timeout=timeout):
            raise WriteLockTimeout("database is locked (another writer in this process)")
        try:
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise WriteLockTimeout(
                            "database is locked (another process writes)"
                        ) from None
                    # another process writes; its transactions are short
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
        except BaseException:
            self._thread_lock.release()
            raise

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that lets go of its file's ``WriteLock`` when its transaction
    ends (commit, rollback or close), whoever ends it."""

    write_lock: WriteLock | None = None
    holding = False

    def take_write_lock(self) -> None:
        if self.write_lock is not None and not self.holding:
            self.write_lock.acquire()
            self.holding = True

    def let_go(self) -> None:
        if self.holding and self.write_lock is not None:
            self.holding = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.let_go()


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created first."""
    url = normalise_url(url)
    prefix = "sqlite:///"
    path = None
    if url.startswith(prefix) and url != prefix + ":memory:":
        path = url[len(prefix) :]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("sqlite"):
        # as many pooled connections as a process has threads: a connection closed on
        # return and opened again costs more than the whole transaction
        pool = {"pool_size": POOL_SIZE, "max_overflow": POOL_SIZE} if path else {}
        engine = create_engine(
            url,
            **pool,
            connect_args={
                "timeout": 30,
                "check_same_thread": False,
                "factory": _LockingConnection,
            },
        )
        write_lock = WriteLock.for_file(str(Path(path).resolve())) if path else None

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.write_lock = write_lock
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # Take the write lock at BEGIN: two read-then-write transactions in different
            # processes would otherwise deadlock on the upgrade and one would fail.
            # Connections marked sqlite_deferred=True only read, and take no lock.
            if conn.get_execution_options().get("sqlite_deferred"):
                conn.exec_driver_sql("BEGIN")
                return
            dbapi_connection = conn.connection.dbapi_connection
            dbapi_connection.take_write_lock()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                dbapi_connection.let_go()
                raise

        # pysqlite's own transaction handling would issue a plain BEGIN first.
        @event.listens_for(engine, "connect", insert=True)
        def _no_autobegin(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        _doorbell(engine)
        return engine
    # Connections kept for as many threads as a web process runs (PAYMENT_THREADS): an
    # overflow connection is closed on return, and a new PostgreSQL connection forks a
    # server process.  A process opens only as many as it uses at once.  The connection
    # returned last is handed out first: the few busy ones have their statements prepared
    # (psycopg prepares a statement at its fifth use on a connection) and their server
    # processes warm, and the rest sit idle instead of each being pinged in turn.
    engine = create_engine(
        url, pool_size=PG_POOL_SIZE, max_overflow=PG_POOL_SIZE, pool_use_lifo=True
    )
    # Several rows into one table (a transaction's timeline entries, a batch of events) as
    # one INSERT ... VALUES (...), (...) statement, as SQLAlchemy already does for inserts
    # with RETURNING, instead of psycopg's executemany: a pipeline of one statement per
    # row, each parsed and executed by the server on its own.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    _ping_when_idle(engine)
    _doorbell(engine)
    return engine


# A pooled connection unused for longer than this is pinged before it is handed out.
IDLE_PING_S = 5.0


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only when it sat idle a while.

    SQLAlchemy's ``pool_pre_ping`` pings at every checkout: a round trip per transaction,
    about as many as the transactions themselves.  A server restarted while a connection
    sat in the pool is caught here; one that goes away between two quick uses fails that
    transaction, and SQLAlchemy then drops every pooled connection, as it does for any
    disconnect (the consumers retry, the web answers 503).
    """

    @event.listens_for(engine.pool, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < IDLE_PING_S:
            return
        try:
            # in autocommit, as SQLAlchemy's own ping: a ping inside a transaction would
            # leave one open, and the connection could not then be put in autocommit
            # (``reading``) before use
            dbapi_connection.autocommit = True
            try:
                dbapi_connection.execute(";")
            finally:
                dbapi_connection.autocommit = False
        except Exception as exc:
            # the pool discards this connection and hands out a new one
            raise DisconnectionError(str(exc)) from exc

    @event.listens_for(engine.pool, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info["returned_at"] = time.monotonic()


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only: on SQLite a deferred transaction, which takes no lock
    and never waits for a writer (WAL); on PostgreSQL autocommit, so each statement reads
    its own snapshot with no BEGIN and ROLLBACK round trips around it."""
    if engine.dialect.name == "postgresql":
        with _autocommit(engine) as conn:
            yield conn
        return
    with engine.connect().execution_options(sqlite_deferred=True) as conn:
        yield conn


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for a single write statement, which is atomic on its own: on
    PostgreSQL in autocommit, which spares the BEGIN and COMMIT round trips around it; on
    SQLite a transaction that takes the write lock, as ``engine.begin()``."""
    if engine.dialect.name == "postgresql":
        with _autocommit(engine) as conn:
            yield conn
            # a no-op for the database, but SQLAlchemy's commit event fires: the relay's
            # doorbell rings for a statement that wrote outbox rows
            conn.commit()
        return
    with engine.begin() as conn:
        yield conn


def _autocommit(engine: Engine) -> Connection:
    """A PostgreSQL connection in autocommit: each statement its own transaction."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def _doorbell(engine: Engine) -> None:
    """Wake the outbox relay after commits that wrote events (``OUTBOX_DOORBELL``)."""
    from sandbox.services.common.doorbell import doorbell_addresses, ring_after_commits

    addresses = doorbell_addresses()
    if addresses:
        ring_after_commits(engine, addresses)


def create_schema(engine: Engine, metadata: MetaData) -> None:
    """Create the missing tables; safe when several processes of a service start at once.

    SQLite's ``BEGIN IMMEDIATE`` makes the processes take turns; on PostgreSQL a
    transaction-scoped advisory lock, keyed by the tables' names, does the same.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(",".join(sorted(metadata.tables)).encode())
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        metadata.create_all(conn, checkfirst=True)


def insert_if_new(conn: Executes, table: Table, values: dict[str, Any]) -> bool:
    """Insert ``values`` into ``table``; False, and nothing written, when the row would
    break a unique key.  One statement (``INSERT ... ON CONFLICT DO NOTHING``): no check
    that races the insert, and no savepoint to keep a PostgreSQL transaction usable."""
    return conn.execute(_insert_if_new(table, conn.dialect.name), values).first() is not None


# ``write_if``'s guard binds its values under this prefix: a placeholder named after a
# column of a table that a statement updates would become a SET value of that column.
GUARD = "guard_"


def guard_params(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` under the names a guard binds them by (``GUARD``)."""
    return {GUARD + name: value for name, value in values.items()}


@functools.cache
def new_row(table: Table, names: tuple[str, ...], dialect: str) -> Any:
    """``insert_if_new``'s statement for the columns ``names``, as ``write_if``'s guard
    (its values from ``guard_params``)."""
    values = {n: bindparam(GUARD + n, type_=table.c[n].type) for n in names}
    return _insert_if_new(table, dialect).values(values)


@functools.cache
def _insert_if_new(table: Table, dialect: str) -> Any:
    # built once per table: SQLAlchemy reuses its compiled form, and building a statement
    # costs more than running it; RETURNING says whether a row went in
    key = next(iter(table.primary_key.columns))
    return insert_for(dialect)(table).on_conflict_do_nothing().returning(key)


def insert_for(dialect: str) -> Any:
    """The INSERT construct of ``dialect``, the one with ``ON CONFLICT`` clauses."""
    return postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert


@dataclass(frozen=True)
class Write:
    """One row written, whose outcome nobody reads: inserted into ``table``, or, with
    ``key`` (column -> value), the row with that key updated with ``values``."""

    table: Table
    values: Mapping[str, Any]
    key: Mapping[str, Any] | None = None


def write_together(conn: Executes, writes: Sequence[Write]) -> None:
    """Make ``writes``: the inserts into one table with the same columns as one multi-row
    INSERT, in their order, at the place of the first; each update on its own.  On
    PostgreSQL one statement, every part but the last in its ``WITH`` clause: one round
    trip, and atomic on its own, so that in ``one_statement`` the rows commit together
    with no transaction around them.  Writes go to different rows: PostgreSQL runs a
    statement's parts on one snapshot, in no promised order."""
    groups = _grouped(writes)
    if conn.dialect.name != "postgresql":
        for write, rows in groups:
            if write.key is None:
                conn.execute(_insert(write.table), [dict(w.values) for w in rows])
            else:
                names = (tuple(write.values), tuple(write.key))
                conn.execute(_update(write.table, *names), _update_params(write))
        return
    conn.execute(_together(_shape(groups)), _values(groups))


def write_if(
    conn: Executes, guard: Any, params: Mapping[str, Any], writes: Sequence[Write]
) -> bool:
    """``guard`` (an INSERT or UPDATE with RETURNING, run with ``params``: its placeholders
    named ``GUARD...``) and, only when it wrote a row, ``writes`` (as ``write_together``);
    whether it wrote.  On PostgreSQL one statement: the guard in a ``WITH`` clause that
    every write selects from, so that a guard that writes nothing writes nothing else."""
    if conn.dialect.name != "postgresql":
        if conn.execute(guard, dict(params)).first() is None:
            return False
        write_together(conn, writes)
        return True
    groups = _grouped(writes)
    values = {**params, **_values(groups)}
    return conn.execute(_guarded_together(guard, _shape(groups)), values).first() is not None


def _grouped(writes: Sequence[Write]) -> list[tuple[Write, list[Write]]]:
    """The writes as (first, all of its group): inserts grouped by table and columns,
    in the order they came; an update is a group of its own."""
    groups: dict[Any, list[Write]] = {}
    for n, w in enumerate(writes):
        shape = (w.table, tuple(w.values)) if w.key is None else n
        groups.setdefault(shape, []).append(w)
    return [(rows[0], rows) for rows in groups.values()]


Shape = tuple[tuple[Table, tuple[str, ...], tuple[str, ...], int], ...]


def _shape(groups: list[tuple[Write, list[Write]]]) -> Shape:
    """Each group's table, columns, key columns and number of rows: what the statement
    that writes them is built from (once per shape)."""
    return tuple((w.table, tuple(w.values), tuple(w.key or ()), len(rows)) for w, rows in groups)


def _values(groups: list[tuple[Write, list[Write]]]) -> dict[str, Any]:
    """The groups' values, under the placeholder names ``_parts`` gives them."""
    values: dict[str, Any] = {}
    for i, (_, rows) in enumerate(groups):
        for j, w in enumerate(rows):
            values |= {f"r{i}_{j}_{name}": value for name, value in w.values.items()}
            values |= {f"r{i}_key_{name}": value for name, value in (w.key or {}).items()}
    return values


@functools.cache
def _insert(table: Table) -> Any:
    return table.insert()


@functools.cache
def _update(table: Table, names: tuple[str, ...], key: tuple[str, ...]) -> Any:
    # the key's placeholders are named apart from the columns, whose names carry the
    # values written
    where = [table.c[k] == bindparam(f"key_{k}") for k in key]
    return table.update().where(*where).values({n: bindparam(n) for n in names})


def _update_params(write: Write) -> dict[str, Any]:
    return {**write.values, **{f"key_{k}": v for k, v in (write.key or {}).items()}}


@functools.cache
def _together(shape: Shape) -> Any:
    # built once per shape, as ``_insert_if_new``
    *first, statement = _parts(shape)
    for i, part in enumerate(first):
        statement = statement.add_cte(part.cte(f"w{i}"))
    return statement


@functools.cache
def _guarded_together(guard: Any, shape: Shape) -> Any:
    # built once per guard and shape, as ``_together``
    applied = guard.cte("guard")
    statement = select(*applied.c)
    for i, part in enumerate(_parts(shape, applied)):
        statement = statement.add_cte(part.cte(f"w{i}"))
    return statement


def _parts(shape: Shape, guard: Any = None) -> list[Any]:
    """The INSERT and UPDATE statements of ``shape``; with ``guard`` (a CTE), each writes
    only when the guard returned a row."""
    parts: list[Any] = []
    for i, (table, names, key, count) in enumerate(shape):

        def value(j: int, name: str, table: Table = table, i: int = i) -> Any:
            return bindparam(f"r{i}_{j}_{name}", type_=table.c[name].type)

        if key:
            where = [table.c[k] == bindparam(f"r{i}_key_{k}", type_=table.c[k].type) for k in key]
            if guard is not None:
                where.append(select(guard).exists())
            parts.append(table.update().where(*where).values({n: value(0, n) for n in names}))
        elif guard is None and count == 1:
            parts.append(table.insert().values({n: value(0, n) for n in names}))
        else:
            # rows as SELECTs, not a multi-row VALUES: SQLAlchemy caches the compiled form
            # of neither a multi-row VALUES nor a statement that holds one
            selects = [select(*(value(j, n) for n in names)) for j in range(count)]
            if guard is not None:
                selects = [row.select_from(guard) for row in selects]
            source = selects[0] if count == 1 else union_all(*selects)
            parts.append(table.insert().from_select(list(names), source))
    return parts


def from_row(cls: type[T], row: Any, **values: Any) -> T:
    """The dataclass ``cls`` from a row: each field from its column, unless in ``values``.

    Times come back aware (SQLite's naive ones are UTC, as written).
    """
    columns = row._mapping
    found = {
        f.name: columns[f.name]
        for f in fields(cls)  # type: ignore[arg-type]
        if f.name in columns and f.name not in values
    }
    for name, value in found.items():
        if isinstance(value, datetime):
            found[name] = utc(value)
    return cls(**found, **values)


def to_row(record: Any, **values: Any) -> dict[str, Any]:
    """A dataclass's fields as column values, ``values`` added or replacing them."""
    return {f.name: getattr(record, f.name) for f in fields(record)} | values


def tenant_rows(table: Table, tenant_id: str, **equal: Any) -> list[ColumnElement[bool]]:
    """The tenant's rows whose columns equal every value given that is not None."""
    return [table.c.tenant_id == tenant_id] + [
        table.c[name] == value for name, value in equal.items() if value is not None
    ]


def page(
    conn: Connection,
    table: Table,
    where: list[ColumnElement[bool]],
    order_by: list[Any],
    *,
    limit: int,
    offset: int,
) -> tuple[list[Row[Any]], int]:
    """One page of the rows matching ``where``, in ``order_by`` order, and how many match."""
    query = select(table).where(*where).order_by(*order_by).limit(limit).offset(offset)
    rows = list(conn.execute(query).all())
    total = conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
    return rows, int(total)


def newest_first(
    engine: Engine, table: Table, tenant_id: str, number: int, *, limit: int, status: str | None
) -> tuple[list[Row[Any]], int]:
    """Page ``number`` (from 1) of the tenant's rows, those in ``status`` when it is given,
    newest first, and how many match."""
    with reading(engine) as conn:
        return page(
            conn,
            table,
            tenant_rows(table, tenant_id, status=status),
            [table.c.created_at.desc(), table.c.id.desc()],
            limit=limit,
            offset=(number - 1) * limit,
        )
