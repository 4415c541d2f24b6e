"""The outbox relay's SQL (``outbox.OutboxRelay``), built once per relay.

SQLAlchemy reuses a statement's compiled form, and building a statement costs more than
running it; so a relay makes its claim, marks and park statements when it starts and
passes values when they run.  The claim is where several relays on one outbox agree
(see ``outbox``'s module doc on claims).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import DateTime, Engine, Table, Update, and_, bindparam, or_, select, update
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from sandbox.services.common.driver import DriverStatement, listed, listed_values

# what a pass reads of a claimed row
CLAIMED = ("id", "message_id", "routing_key", "body", "envelope", "refusals")


class RelayStatements:
    """The statements of the relay ``name`` over ``table``, taking ``batch_size`` rows."""

    def __init__(self, table: Table, name: str, batch_size: int) -> None:
        t = table
        now = bindparam("now", type_=DateTime(timezone=True))
        ids: BindParameter[Any] = bindparam("ids", expanding=True)
        publishable = and_(t.c.sent_at.is_(None), t.c.parked_at.is_(None))
        free = or_(t.c.claimed_until.is_(None), t.c.claimed_until < now, t.c.claimed_by == name)
        earlier = t.alias("earlier")
        # an earlier row of the same aggregate, unsent and claimed by another relay
        held_back = (
            select(earlier.c.id)
            .where(
                earlier.c.aggregate_id == t.c.aggregate_id,
                earlier.c.id < t.c.id,
                earlier.c.sent_at.is_(None),
                earlier.c.parked_at.is_(None),
                earlier.c.claimed_until >= now,
                earlier.c.claimed_by != name,
            )
            .exists()
        )

        def claiming(*others: ColumnElement[bool]) -> Update:
            """The claim of the next batch: its rows' ids, then the rows themselves, both
            passing over rows that match ``others``."""
            batch = (
                select(t.c.id)
                .where(publishable, free, ~held_back, *others)
                .order_by(t.c.id)
                .limit(batch_size)
                .scalar_subquery()
            )
            # ``free`` again outside: PostgreSQL waits for a row another transaction holds
            # and then re-checks it, so two relays never both take a row.  (Not SKIP
            # LOCKED: a row locked by a relay that just died would be skipped while a later
            # row of its aggregate went out first.)
            return (
                update(t)
                .where(t.c.id.in_(batch), publishable, free, *others)
                .values(claimed_by=name, claimed_until=bindparam("until"))
                .returning(*(t.c[column] for column in CLAIMED))
            )

        def marking(rows: BindParameter[Any] | list[BindParameter[int]]) -> Update:
            return (
                update(t)
                .where(t.c.id.in_(rows))
                .values(sent_at=now, publish_attempts=t.c.publish_attempts + 1)
            )

        self._table, self._claiming, self._marking = t, claiming, marking
        self.claim = claiming()
        self.sent = marking(ids)
        self.any_pending = select(t.c.id).where(publishable).limit(1)
        self.attempted = (
            update(t).where(t.c.id.in_(ids)).values(publish_attempts=t.c.publish_attempts + 1)
        )
        self.refused = update(t).where(t.c.id.in_(ids)).values(refusals=t.c.refusals + 1)
        self.park = (
            update(t)
            .where(t.c.id == bindparam("row_id"))
            .values(parked_at=now, park_reason=bindparam("reason"))
        )

    def sent_of(self, count: int) -> Update:
        """``sent`` for ``count`` ids, passed one by one (``driver.listed``)."""
        return self._marking(listed("ids", count))

    def mark_and_claim_of(self, count: int) -> Update:
        """The sent mark of ``count`` rows confirmed in an earlier pass (the held ids,
        passed one by one) and this pass's claim, in one statement (PostgreSQL; SQLite
        runs ``sent`` then ``claim`` in one transaction).  The claim reads the table as it
        was before the mark, so it passes over the rows being marked by id."""
        held = listed("held", count)
        others = self._table.c.id.not_in(held)
        return self._claiming(others).add_cte(self._marking(held).cte("marked"))


class DriverStatements:
    """A relay pass's claim and marks, compiled for one engine (``driver``): the marks
    once per size of their list of ids (``driver.listed``)."""

    def __init__(self, engine: Engine, statements: RelayStatements) -> None:
        self._engine = engine
        self._statements = statements
        self.claim = DriverStatement(engine, statements.claim)
        self.any_pending = DriverStatement(engine, statements.any_pending)
        self._sent: dict[int, DriverStatement] = {}
        self._mark_and_claim: dict[int, DriverStatement] = {}

    def sent(self, ids: Sequence[int]) -> tuple[DriverStatement, dict[str, int]]:
        """The sent mark of ``ids``, and the values naming them."""
        return self._sized(self._sent, self._statements.sent_of, "ids", ids)

    def mark_and_claim(self, held: Sequence[int]) -> tuple[DriverStatement, dict[str, int]]:
        """The sent mark of ``held`` and the next claim as one statement (PostgreSQL), and
        the values naming the ids."""
        return self._sized(self._mark_and_claim, self._statements.mark_and_claim_of, "held", held)

    def _sized(
        self,
        made: dict[int, DriverStatement],
        make: Callable[[int], Update],
        name: str,
        ids: Sequence[int],
    ) -> tuple[DriverStatement, dict[str, int]]:
        values = listed_values(name, ids)
        statement = made.get(len(values))
        if statement is None:
            statement = made[len(values)] = DriverStatement(self._engine, make(len(values)))
        return statement, values
