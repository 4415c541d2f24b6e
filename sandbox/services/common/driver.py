"""Hot statements run on the database driver's own connection, compiled by SQLAlchemy once.

SQLAlchemy runs a statement whose compiled form it has cached for about as long again as
the database takes: a pool checkout and return, a ``Connection`` and its transaction,
events, the execution context, the result.  An outbox relay pass at moderate rates is a
claim and a mark, one row each, several times a flow; on the driver, the relay's thread
spends about 0.33 ms of CPU on a pass where it spent 0.5-0.6 on SQLite and 0.7-0.9 on
PostgreSQL (``benchmarks/relay_pass.py``).  ``DriverStatement`` keeps SQLAlchemy as the
one place the SQL is written (and compiled, once per dialect) and runs it on a DBAPI
cursor of a connection ``DriverConnection`` keeps from the engine's pool.  Only the relay
uses it: everything else goes through SQLAlchemy as before.

A list of ids is a few fixed-size lists of parameters (``listed``) instead of an
expanding ``IN``, which SQLAlchemy compiles again for every length.
"""

from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from sqlalchemy import Engine, Integer, bindparam
from sqlalchemy.sql.elements import BindParameter, ClauseElement

from sandbox.services.common.db import IDLE_PING_S


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

    def __init__(self, engine: Engine, statement: ClauseElement) -> None:
        dialect = engine.dialect
        compiled: Any = statement.compile(dialect=dialect)  # an SQLCompiler
        self.sql = compiled.string
        # every parameter's value, literals included; the ones passed to ``run`` replace
        # theirs (``_check=False``: the required ones have no value yet)
        static = compiled.construct_params(_check=False)
        self._positions = compiled.positiontup  # None when the driver takes names
        self._processors: dict[str, Callable[[Any], Any]] = {}
        for bind, name in compiled.bind_names.items():
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                self._processors[name] = process
                if static[name] is not None:  # a literal: processed once, here
                    static[name] = process(static[name])
        self._static = static
        self._row: Any = None  # a namedtuple of the result's columns, made at first use

    def run(self, cursor: Any, values: dict[str, Any]) -> list[Any]:
        """Execute with ``values``; the rows it returned (as named tuples), if any."""
        params = {**self._static, **values}
        for name, value in values.items():
            process = self._processors.get(name)
            if process is not None and value is not None:
                params[name] = process(value)
        if self._positions is None:
            cursor.execute(self.sql, params)
        else:
            cursor.execute(self.sql, [params[name] for name in self._positions])
        if cursor.description is None:
            return []
        if self._row is None:
            self._row = namedtuple("Row", [d[0] for d in cursor.description])  # type: ignore[misc]
        return [self._row(*row) for row in cursor.fetchall()]


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
                dbapi.take_write_lock()
                cursor.execute("BEGIN IMMEDIATE")
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
            if not self._sqlite:  # as the pool's other users expect it
                kept.dbapi_connection.autocommit = False
            kept.close()
