"""Helpers for the tests of the shared service machinery."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, Table

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage
from sandbox.services.common import driver
from sandbox.services.common.db import make_engine
from sandbox.services.common.outbox import add_events, outbox_table


def new_outbox(url: str) -> tuple[Engine, Table]:
    """An engine on ``url`` and its outbox table, created."""
    engine = make_engine(url)
    metadata = MetaData()
    table = outbox_table(metadata)
    metadata.create_all(engine)
    return engine, table


def write_events(
    engine: Engine, table: Table, events: Sequence[OutgoingMessage], aggregate_id: str = "agg"
) -> None:
    """Commit ``events`` to the outbox ``table`` as one aggregate's, as a service does."""
    with engine.begin() as conn:
        add_events(conn, table, events, aggregate_id=aggregate_id)


def numbered_event(n: int) -> OutgoingMessage:
    """The ``n``th of a run of ``payment.completed`` events, each of its own payment."""
    return OutgoingMessage.event(
        "payment.completed",
        example_body("payment.completed", paymentId=f"pay_{n}"),
        producer="payment-service",
        correlation_id=f"corr-{n}",
    )


def write_numbered_events(
    engine: Engine, table: Table, count: int, aggregate_id: str = "agg"
) -> list[OutgoingMessage]:
    """Commit events 0 to ``count - 1`` to the outbox ``table`` as one aggregate's."""
    events = [numbered_event(n) for n in range(count)]
    write_events(engine, table, events, aggregate_id)
    return events


@dataclass(frozen=True)
class Ran:
    """One statement run on the driver: its SQL, its values and how it ran (on PostgreSQL
    in ``autocommit`` or in a ``transaction``, on SQLite holding the ``write lock`` in a
    transaction or with ``no lock``)."""

    sql: str
    values: list[Any]
    how: str

    @property
    def verb(self) -> str:
        return self.sql.split()[0]


def driver_statements(monkeypatch: pytest.MonkeyPatch) -> list[list[Ran]]:
    """Every statement the stores run on the driver (``driver.DriverEngine``) from now on,
    grouped by the use (transaction, one statement or read) it ran in, in order; the
    last group is the one still open."""
    uses: list[list[Ran]] = [[]]

    def how(cursor: Any) -> str:
        dbapi = cursor.connection
        if hasattr(dbapi, "autocommit"):
            return "autocommit" if dbapi.autocommit else "transaction"
        return "write lock" if dbapi.in_transaction and dbapi.holding else "no lock"

    def note(statement: driver.DriverStatement, cursor: Any, rows: list[dict[str, Any]]) -> None:
        values = [value for row in rows for value in row.values()]
        uses[-1].append(Ran(" ".join(statement.sql.split()), values, how(cursor)))

    plain_run, plain_many = driver.DriverStatement.run, driver.DriverStatement.run_many
    plain_use = driver.DriverEngine._use

    def run(statement: driver.DriverStatement, cursor: Any, values: dict[str, Any]) -> Any:
        note(statement, cursor, [values])
        return plain_run(statement, cursor, values)

    def run_many(statement: driver.DriverStatement, cursor: Any, rows: Any) -> Any:
        note(statement, cursor, rows)
        return plain_many(statement, cursor, rows)

    @contextmanager
    def use(engine: driver.DriverEngine, kind: str) -> Iterator[driver.DriverSession]:
        with plain_use(engine, kind) as session:
            yield session
        uses.append([])

    monkeypatch.setattr(driver.DriverStatement, "run", run)
    monkeypatch.setattr(driver.DriverStatement, "run_many", run_many)
    monkeypatch.setattr(driver.DriverEngine, "_use", use)
    return uses
