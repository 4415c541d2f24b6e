"""Storage of request bookkeeping: Idempotency-Key records and received webhook ids.

An idempotency record is claimed before a request runs and finished with its response;
a gateway failure turns it into ``retry`` so that the same key re-attempts the same
payment.  Webhook events are recorded by provider event id in the same transaction as
the change they cause, which makes a redelivered event a no-op.

Statements are built once, with ``bindparam`` placeholders, as in ``storage`` (and their
UPDATEs' WHERE placeholders are named ``match_<column>`` for the same reason).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, delete, select, update

from sandbox.services.common import db
from sandbox.services.common.driver import DriverEngine
from sandbox.services.payment import model, tables
from sandbox.services.payment.storage import Tx

NEW = "new"  # first use: run the request
REPLAY = "replay"  # finished before: send the stored response
MISMATCH = "mismatch"  # same key, different request
BUSY = "busy"  # the first request with this key is still running
RESUME = "resume"  # the first attempt hit a gateway error: re-attempt resource_id

_I = tables.idempotency
_W = tables.webhook_events

# Built once (see the module doc): their compiled form is reused.
_KEY_LOCKED = (
    select(_I)
    .where(_I.c.tenant_id == bindparam("tenant_id"), _I.c.key == bindparam("key"))
    .with_for_update()  # a row lock on PostgreSQL
)
_KEY_RESOURCE = select(_I.c.resource_id).where(
    _I.c.tenant_id == bindparam("tenant_id"), _I.c.key == bindparam("key")
)
_UPDATE_KEY = update(_I).where(
    _I.c.tenant_id == bindparam("match_tenant_id"), _I.c.key == bindparam("match_key")
)
_RESUME_KEY = _UPDATE_KEY.values(state="in_progress", updated_at=bindparam("updated_at"))
_RETRY_KEY = _UPDATE_KEY.values(state="retry", updated_at=bindparam("updated_at"))
_DELETE_KEY = delete(_I).where(
    _I.c.tenant_id == bindparam("tenant_id"), _I.c.key == bindparam("key")
)

_WEBHOOK_SEEN = select(_W.c.event_id).where(_W.c.event_id == bindparam("event_id"))


def _matching(tenant_id: str, key: str) -> dict[str, str]:
    """The WHERE parameters of ``_UPDATE_KEY``'s statements."""
    return {"match_tenant_id": tenant_id, "match_key": key}


@dataclass(frozen=True)
class Claim:
    kind: str
    status_code: int | None = None
    response: dict[str, Any] | None = None
    resource_id: str | None = None


class RequestStore:
    """Idempotency keys and provider webhooks seen, on the database driver
    (``driver.DriverEngine``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._driver = DriverEngine(engine)

    def claim(self, tenant_id: str, key: str, fingerprint: str, *, stale_after_s: float) -> Claim:
        """Decide what a request with this Idempotency-Key does (see the module doc)."""
        for _ in range(3):
            now = model.now()
            first_use = {
                "tenant_id": tenant_id,
                "key": key,
                "fingerprint": fingerprint,
                "state": "in_progress",
                "created_at": now,
                "updated_at": now,
            }
            # the common case in one statement: a key never used before
            with self._driver.one_statement() as conn:
                if db.insert_if_new(conn, _I, first_use):
                    return Claim(NEW)
            claim = self._claim_used(tenant_id, key, fingerprint, stale_after_s)
            if claim is not None:
                return claim
            # released between the two statements: try the first use again
        return Claim(BUSY)

    def _claim_used(
        self, tenant_id: str, key: str, fingerprint: str, stale_after_s: float
    ) -> Claim | None:
        """What a request does with a key used before; None when the key is gone."""
        now = model.now()
        with self._driver.begin() as conn:
            row = conn.execute(_KEY_LOCKED, {"tenant_id": tenant_id, "key": key}).first()
            if row is None:
                return None
            if row.fingerprint != fingerprint:
                return Claim(MISMATCH)
            if row.state == "done":
                return Claim(REPLAY, row.status_code, json.loads(row.response))
            updated = row.updated_at
            if updated.tzinfo is None:
                updated = updated.replace(tzinfo=now.tzinfo)
            if row.state == "in_progress" and now - updated < timedelta(seconds=stale_after_s):
                return Claim(BUSY)
            # a retry after a gateway error, or a first attempt that died mid-way
            conn.execute(_RESUME_KEY, {**_matching(tenant_id, key), "updated_at": now})
            return Claim(RESUME, resource_id=row.resource_id)

    def finish(self, tenant_id: str, key: str, status_code: int, response: dict[str, Any]) -> None:
        with self._driver.one_statement() as conn:
            db.write_together(conn, [_answer(tenant_id, key, status_code, response)])

    def webhook_seen(self, event_id: str) -> bool:
        """Whether a provider event id was recorded before (its delivery was handled)."""
        with self._driver.reading() as conn:
            row = conn.execute(_WEBHOOK_SEEN, {"event_id": event_id}).first()
        return row is not None

    def release(self, tenant_id: str, key: str) -> None:
        """Not stored for replay: the next request with the key runs again."""
        with self._driver.begin() as conn:
            row = conn.execute(_KEY_RESOURCE, {"tenant_id": tenant_id, "key": key}).first()
            if row is not None and row.resource_id is not None:
                retry = {**_matching(tenant_id, key), "updated_at": model.now()}
                conn.execute(_RETRY_KEY, retry)
            else:
                conn.execute(_DELETE_KEY, {"tenant_id": tenant_id, "key": key})


def _answer(tenant_id: str, key: str, status_code: int, response: dict[str, Any]) -> db.Write:
    """The key's record finished with the request's answer, for replay."""
    answer = {
        "state": "done",
        "status_code": status_code,
        "response": json.dumps(response, sort_keys=True),
        "updated_at": model.now(),
    }
    return db.Write(_I, answer, key={"tenant_id": tenant_id, "key": key})


def finish_idempotency(
    tx: Tx, tenant_id: str, key: str, status_code: int, response: dict[str, Any]
) -> None:
    """Store a request's answer for replay in that transaction (``RequestStore.finish``
    does it on its own)."""
    tx.write(_answer(tenant_id, key, status_code, response))


def link_idempotency(tx: Tx, tenant_id: str, key: str, resource_id: str) -> None:
    """Tie a key to the payment or refund its request created, in that transaction."""
    link = {"resource_id": resource_id, "updated_at": model.now()}
    tx.write(db.Write(_I, link, key={"tenant_id": tenant_id, "key": key}))


def record_webhook(tx: Tx, event_id: str, event_type: str) -> bool:
    """Record a provider event id; False when it was recorded before (a redelivery)."""
    row = {
        "event_id": event_id,
        "type": event_type,
        "outcome": "received",
        "received_at": model.now(),
    }
    return db.insert_if_new(tx.conn, _W, row)


def webhook_outcome(tx: Tx, event_id: str, payment_id: str | None, outcome: str) -> None:
    """What the delivery of provider event ``event_id`` did, in that transaction."""
    outcome_of = {"payment_id": payment_id, "outcome": outcome}
    tx.write(db.Write(_W, outcome_of, key={"event_id": event_id}))
