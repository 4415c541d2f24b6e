"""Hot statements run on the database driver's own connection, compiled by SQLAlchemy once.

SQLAlchemy runs a statement whose compiled form it has cached for about as long again as
the database takes: a pool checkout and return, a ``Connection`` and its transaction,
events, the execution context, the result.  SQLAlchemy stays the one place the SQL is
written (and compiled, once per dialect and set of values); ``DriverStatement`` runs the
compiled form on a DBAPI cursor, with SQLAlchemy's conversions of values and results.

- The outbox relay's claim and marks run on a connection ``DriverConnection`` keeps from
  the engine's pool between passes: the relay's thread spends about 0.33 ms of CPU on a
  pass where it spent 0.5-0.6 on SQLite and 0.7-0.9 on PostgreSQL
  (``benchmarks/relay_pass.py``).
- The stores (payment, appointment, notifier) run what every request and event runs
  through ``DriverEngine``: ``begin``, ``one_statement`` and ``reading`` with the
  transactions, locks, errors and doorbell rings of ``engine.begin()``,
  ``db.one_statement`` and ``db.reading``, on a connection taken from the pool for the
  one use.  Pages with filters, built per call, stay on SQLAlchemy, which caches them by
  their shape.

A list of ids is a few fixed-size lists of parameters (``listed``) instead of an
expanding ``IN``, which SQLAlchemy compiles again for every length; a statement with an
expanding parameter is refused.  A statement built per call still runs, compiled again
each time, and the log names it.
"""

from __future__ import annotations

import logging
import time
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, Integer, bindparam
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import BindParameter, ClauseElement

from sandbox.services.common.db import IDLE_PING_S
from sandbox.services.common.doorbell import committed, forget_written

log = logging.getLogger(__name__)


def listed(name: str, count: int) -> list[BindParameter[int]]:
    """``count`` parameters ``name_0``, ``name_1``, ... for a list of ids in ``IN``.

    Not one expanding parameter: its ``IN`` is compiled again for every length.  Nor
    one array (PostgreSQL's ``= ANY``): for an array of unknown length PostgreSQL's
    generic plan guessed ten rows and, while the table's statistics still counted few
    rows, marked a row sent by reading the whole outbox.  ``listed_values`` pads a list
    to the next power of two, so a few sizes serve every list.
    """
    return [bindparam(f"{name}_{i}", type_=Integer) for i in range(count)]


def listed_values(name: str, ids: Sequence[int]) -> dict[str, int]:
    """``ids`` (at least one) as the values of ``listed(name, count)``, padded with the
    last id to ``count``, the next power of two."""
    count = 1 << (len(ids) - 1).bit_length()
    padded = [*ids, *[ids[-1]] * (count - len(ids))]
    return {f"{name}_{i}": row_id for i, row_id in enumerate(padded)}


class DriverStatement:
    """``statement`` compiled once for ``engine``'s dialect and run on a DBAPI cursor."""

    def __init__(
        self,
        engine: Engine,
        statement: ClauseElement,
        column_keys: Sequence[str] | None = None,
        *,
        many: bool = False,
    ) -> None:
        dialect = engine.dialect
        # ``column_keys``: the names of the values an INSERT or UPDATE is run with, as
        # SQLAlchemy compiles it for them (a column left out takes its default)
        compiled: Any = statement.compile(
            dialect=dialect,
            column_keys=list(column_keys) if column_keys is not None else None,
            for_executemany=many,
        )
        if "POSTCOMPILE" in compiled.string:
            raise ValueError("an expanding parameter is compiled at each run: use listed()")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("a column default computed in Python needs SQLAlchemy to run it")
        self._compiled, self._dialect = compiled, dialect
        self.sql = compiled.string
        # the literals' values (a column's default among them); the parameters passed to
        # ``run`` are the rest (``_check=False``: those have no value yet)
        given = compiled.construct_params(_check=False)
        static = {
            name: given[name] for bind, name in compiled.bind_names.items() if not bind.required
        }
        self._positions = compiled.positiontup  # None when the driver takes names
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._processors[name] = process
                if static.get(name) is not None:  # a literal: processed once, here
                    static[name] = process(static[name])
        self._static = static
        self._row: Any = None  # a namedtuple of the result's columns, made at first use
        self._results: list[Callable[[Any], Any] | None] = []

    def _params(self, values: dict[str, Any]) -> Any:
        params = {**self._static, **values}
        for name, value in values.items():
            process = self._processors.get(name)
            if process is not None and value is not None:
                params[name] = process(value)
        if self._positions is None:
            return params
        return [params[name] for name in self._positions]

    def run(self, cursor: Any, values: dict[str, Any]) -> list[Any]:
        """Execute with ``values``; the rows it returned (as named tuples), if any."""
        cursor.execute(self.sql, self._params(values))
        if cursor.description is None:
            return []
        if self._row is None:
            self._row = _row_type(cursor.description)
            self._results = self._result_processors(cursor.description)
        results = self._results
        if not results:
            return [self._row(*row) for row in cursor.fetchall()]
        return [self._row(*_converted(results, row)) for row in cursor.fetchall()]

    def run_many(self, cursor: Any, rows: Sequence[dict[str, Any]]) -> None:
        """Execute once for each of ``rows`` (the DBAPI's ``executemany``)."""
        cursor.executemany(self.sql, [self._params(values) for values in rows])

    def _result_processors(self, description: Any) -> list[Callable[[Any], Any] | None]:
        """The result column types' conversions (SQLite's times are text, for one), by
        position; empty when no column needs one."""
        # ``_result_columns``: the compiler's record of the columns it selected, in order
        # (what SQLAlchemy's own result reads them by)
        columns = getattr(self._compiled, "_result_columns", None) or []
        if len(columns) != len(description):  # not the columns compiled: left as they come
            return []
        processors = []
        for column, described in zip(columns, description, strict=True):
            kind = column[3].dialect_impl(self._dialect)
            processors.append(kind.result_processor(self._dialect, described[1]))
        return processors if any(p is not None for p in processors) else []


class DriverConnection:
    """One connection of ``engine``'s pool, kept between uses, for ``DriverStatement``s.

    Each use takes the connection from the pool and returns it, except inside
    ``keeping()``, where uses share one.  A kept connection that sat unused longer than
    the pool's idle ping (``db.IDLE_PING_S``) goes back to the pool and the next use
    checks one out, pinged as any other.  A failure inside a cursor's block discards the
    connection (the database may have gone away): the next use takes a fresh one.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._kept: Any = None  # SQLAlchemy's pooled-connection proxy
        self._used_at = 0.0
        self._keep = False

    @contextmanager
    def keeping(self) -> Iterator[DriverConnection]:
        """Uses inside share one connection, returned to the pool at the end."""
        self._keep = True
        try:
            yield self
        finally:
            self._keep = False
            self.close()

    def _connection(self) -> Any:
        if self._kept is not None and time.monotonic() - self._used_at > IDLE_PING_S:
            self.close()
        if self._kept is None:
            kept: Any = self._engine.raw_connection()
            if not self._sqlite:
                kept.dbapi_connection.autocommit = True
            self._kept = kept
        return self._kept

    def transaction(self) -> AbstractContextManager[Any]:
        """A cursor in a transaction that writes: on SQLite the file's write lock and
        ``BEGIN IMMEDIATE``, committed at the end; on PostgreSQL autocommit, which suits
        one statement (atomic on its own)."""
        return self._cursor(write=True)

    def reading(self) -> AbstractContextManager[Any]:
        """A cursor for one read, each statement its own transaction: on SQLite it takes
        no lock (WAL), on PostgreSQL it reads its own snapshot."""
        return self._cursor(write=False)

    @contextmanager
    def _cursor(self, *, write: bool) -> Iterator[Any]:
        kept = self._connection()
        dbapi = kept.dbapi_connection
        locking = write and self._sqlite
        try:
            cursor = dbapi.cursor()
            if locking:
                _begin_writing(dbapi, cursor)
            yield cursor
            if locking:
                dbapi.commit()  # lets go of the write lock
            cursor.close()
        except BaseException:
            self._kept = None
            kept.invalidate()  # closed (on SQLite letting go of the write lock), not reused
            raise
        self._used_at = time.monotonic()
        if not self._keep:
            self.close()

    def close(self) -> None:
        """Return the kept connection to the pool."""
        kept, self._kept = self._kept, None
        if kept is not None:
            _give_back(kept, autocommit=not self._sqlite)


def _begin_writing(dbapi: Any, cursor: Any) -> None:
    """SQLite: the file's ``WriteLock``, then ``BEGIN IMMEDIATE``, as ``db.make_engine``'s
    ``begin`` listener does for SQLAlchemy's connections (a caller whose block fails rolls
    back or closes the connection, which lets go of the lock)."""
    dbapi.take_write_lock()
    cursor.execute("BEGIN IMMEDIATE")


def _give_back(pooled: Any, *, autocommit: bool) -> None:
    """Return a pooled connection, out of autocommit if it was put in it (PostgreSQL), as
    the pool's other users expect it; one that cannot be reset is discarded."""
    if autocommit and pooled.dbapi_connection is not None:
        try:
            pooled.dbapi_connection.autocommit = False
        except Exception:
            pooled.invalidate()
    pooled.close()


def _converted(processors: list[Callable[[Any], Any] | None], row: Any) -> Iterator[Any]:
    for process, value in zip(processors, row, strict=True):
        yield value if process is None or value is None else process(value)


def _row_type(description: Any) -> Any:
    """A named tuple of the described columns that also reads as a mapping
    (``row._mapping``, as SQLAlchemy's rows do, for ``db.from_row``)."""
    plain: Any = namedtuple("Row", [d[0] for d in description], rename=True)  # type: ignore[misc]
    return type("Row", (plain,), {"__slots__": (), "_mapping": property(plain._asdict)})


class DriverRows:
    """A statement's rows, read as SQLAlchemy's ``Result`` is: ``first``, ``one``,
    ``all``, ``scalar``, ``scalar_one``, iteration, ``rowcount``."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise LookupError(f"expected one row, the statement returned {len(self._rows)}")
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]


class DriverSession:
    """What the stores use of SQLAlchemy's ``Connection`` (``execute``, ``dialect``,
    ``info``), on one DBAPI cursor.  A statement runs in its compiled form, made at its
    first run: statements must be built once (module constants, ``functools.cache``)."""

    def __init__(self, driver: DriverEngine, cursor: Any, info: dict[Any, Any]) -> None:
        self._driver = driver
        self._cursor = cursor
        self.dialect = driver.dialect
        self.info = info  # the pooled connection's, as ``Connection.info`` is

    def execute(self, statement: Any, parameters: Any = None) -> DriverRows:
        """Run ``statement`` with ``parameters``: a dict, or a list of dicts for one
        execution each (their rows are not returned)."""
        driver = self._driver
        try:
            if isinstance(parameters, list):
                many = driver.compiled(statement, parameters[0], many=True)
                many.run_many(self._cursor, parameters)
                return DriverRows([], self._cursor.rowcount)
            values = parameters or {}
            rows = driver.compiled(statement, values, many=False).run(self._cursor, values)
            return DriverRows(rows, self._cursor.rowcount)
        except driver.dbapi_error as exc:
            raise driver.translate(statement, exc) from exc


_BEGIN, _ONE_STATEMENT, _READING = "begin", "one statement", "reading"


class DriverEngine:
    """``engine.begin()``, ``db.one_statement`` and ``db.reading`` on the driver: each use
    takes a connection from the engine's pool and returns it at the end, with the same
    transactions and locks as those (SQLite: the write lock and ``BEGIN IMMEDIATE`` for
    writes, a deferred ``BEGIN`` for reads; PostgreSQL: a transaction for ``begin``,
    autocommit otherwise) and the outbox's doorbell rung after a commit that wrote events
    (``doorbell.note_written``).  A failure rolls the transaction back; a connection that
    cannot be rolled back or reset is discarded.

    For the statements a flow runs on every event and request, built once: SQLAlchemy's
    per-execution work (a ``Connection``, its transaction and events, the execution
    context, the result) costs about as much as the database's.  A statement built per
    call (a page with filters) belongs on the engine, where SQLAlchemy caches it by its
    shape."""

    # compiled statements kept, at most: more means a statement built per call
    MAX_STATEMENTS = 512

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self._sqlite = engine.dialect.name == "sqlite"
        self._compiled: dict[tuple[int, tuple[str, ...], bool], tuple[Any, DriverStatement]] = {}
        self.dbapi_error: type[Exception] = engine.dialect.loaded_dbapi.Error

    def compiled(self, statement: Any, keys: Iterable[str], *, many: bool) -> DriverStatement:
        """``statement`` compiled for values named ``keys`` (as SQLAlchemy compiles an
        INSERT or UPDATE for the values it is run with)."""
        key = (id(statement), tuple(sorted(keys)), many)
        found = self._compiled.get(key)
        if found is not None and found[0] is statement:
            return found[1]
        made = DriverStatement(self.engine, statement, key[1], many=many)
        if len(self._compiled) >= self.MAX_STATEMENTS:
            # a statement built per call would grow this without end; the service goes
            # on, compiling again, and the log says which statement to build once
            log.warning(
                "driver: %d compiled statements, forgotten; one is built per call "
                "(build it once, or run it through SQLAlchemy), the last: %.120s",
                len(self._compiled),
                made.sql,
            )
            self._compiled.clear()
        # the statement is kept with its compiled form: its id is not reused while here
        self._compiled[key] = (statement, made)
        return made

    def translate(self, statement: Any, error: Exception) -> Exception:
        """The driver's ``error`` as SQLAlchemy raises it (``IntegrityError``,
        ``OperationalError``, ...), which callers and the web layer know; never with the
        parameters, which may hold what must not reach a log."""
        return DBAPIError.instance(
            str(statement), None, error, self.dbapi_error, hide_parameters=True
        )

    @contextmanager
    def _translated(self, statement: str) -> Iterator[None]:
        try:
            yield
        except self.dbapi_error as exc:
            raise self.translate(statement, exc) from exc

    def begin(self) -> AbstractContextManager[DriverSession]:
        """A transaction, committed at the end (``engine.begin()``)."""
        return self._use(_BEGIN)

    def one_statement(self) -> AbstractContextManager[DriverSession]:
        """For one write statement (``db.one_statement``): on PostgreSQL in autocommit."""
        return self._use(_ONE_STATEMENT)

    def reading(self) -> AbstractContextManager[DriverSession]:
        """For reads only (``db.reading``): on SQLite no lock, on PostgreSQL autocommit."""
        return self._use(_READING)

    @contextmanager
    def _use(self, kind: str) -> Iterator[DriverSession]:
        pooled: Any = self.engine.raw_connection()
        dbapi = pooled.dbapi_connection
        autocommit = not self._sqlite and kind != _BEGIN
        try:
            if autocommit:
                dbapi.autocommit = True
            cursor = dbapi.cursor()
            if self._sqlite:
                with self._translated("BEGIN"):  # a lock's timeout is an OperationalError
                    if kind == _READING:
                        cursor.execute("BEGIN")  # deferred: no lock
                    else:
                        _begin_writing(dbapi, cursor)
            yield DriverSession(self, cursor, pooled.info)
            if not autocommit:
                with self._translated("COMMIT"):
                    dbapi.commit()  # on SQLite also lets go of the write lock
            committed(pooled.info)
            cursor.close()
        except BaseException:
            forget_written(pooled.info)
            try:
                dbapi.rollback()  # on SQLite also lets go of the write lock
            except Exception:
                pooled.invalidate()  # closed, not reused; the pool forgets it
            raise
        finally:
            _give_back(pooled, autocommit=autocommit)  # rings the doorbell if due
