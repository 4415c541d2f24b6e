"""The outbox relay's doorbell: writers ring it when a transaction with events commits.

A writer whose transaction added outbox rows (``note_written``) sends one UDP datagram to
``OUTBOX_DOORBELL`` (host:port, or several, comma-separated, one per relay replica)
once it has committed, and each relay, which otherwise
sleeps between passes, looks at once.  A lost datagram only delays the rows until the
relay's next idle pass (``IDLE_POLL_S``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select as select_module
import socket
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event

DOORBELL_ENV = "OUTBOX_DOORBELL"
IDLE_POLL_S = 0.25  # a relay with a doorbell still looks this often
_WROTE = "outbox_rows_written"
_RING = "outbox_ring_due"


def doorbell_addresses(value: str | None = None) -> list[tuple[str, int]]:
    """``host:port[,host:port...]`` (default: ``OUTBOX_DOORBELL``) as addresses, one per
    relay of the outbox; empty when unset."""
    value = os.environ.get(DOORBELL_ENV, "") if value is None else value
    addresses = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        host, _, port = part.rpartition(":")
        try:
            addresses.append((host or "127.0.0.1", int(port)))
        except ValueError:
            raise ValueError(f"{DOORBELL_ENV}={value!r}: expected host:port[,...]") from None
    return addresses


def own_doorbell(port: int, value: str | None = None) -> tuple[str, int] | None:
    """The relay's own doorbell among ``OUTBOX_DOORBELL``'s: the one on its health port
    ``port``, else the first; None when unset."""
    addresses = doorbell_addresses(value)
    mine = [address for address in addresses if address[1] == port]
    return (mine or addresses)[0] if addresses else None


_ring_socket: socket.socket | None = None


def _ringer() -> socket.socket:
    """One unconnected UDP socket per process for every ring."""
    global _ring_socket
    if _ring_socket is None:
        _ring_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _ring_socket.setblocking(False)
        atexit.register(_ring_socket.close)
    return _ring_socket


def ring_after_commits(engine: Engine, addresses: list[tuple[str, int]]) -> None:
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
            for address in addresses:
                with contextlib.suppress(OSError):  # a missed ring costs one idle pass
                    sock.sendto(b"!", address)


def committed(info: dict[Any, Any]) -> None:
    """A pooled connection's transaction committed outside SQLAlchemy's events
    (``driver.DriverEngine``): ring when it goes back to the pool, if it wrote events."""
    if info.pop(_WROTE, False):
        info[_RING] = True


def forget_written(info: dict[Any, Any]) -> None:
    """A pooled connection's transaction rolled back: nothing to ring for."""
    info.pop(_WROTE, None)


class _Pooled(Protocol):
    """A ``Connection``, or a ``driver.DriverSession``: the pooled connection's ``info``."""

    @property
    def info(self) -> dict[Any, Any]: ...


def note_written(conn: _Pooled) -> None:
    """Mark ``conn``'s transaction as one that added outbox rows (rings when committed)."""
    conn.info[_WROTE] = True


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
