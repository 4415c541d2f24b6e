"""SQLite writers queue on the file's WriteLock; readers never wait for them.

Real SQLite files, real threads and a second real process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, select

from sandbox.services.common import db
from sandbox.waiting import wait_for

metadata = MetaData()
rows = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("writer", String(32), nullable=False),
)


@pytest.fixture
def database(tmp_path: Path) -> tuple[str, Engine]:
    url = db.sqlite_url(tmp_path / "writers.db")
    engine = db.make_engine(url)
    db.create_schema(engine, metadata)
    yield url, engine
    engine.dispose()


def count(engine: Engine) -> int:
    with db.reading(engine) as conn:
        return int(conn.execute(select(func.count()).select_from(rows)).scalar_one())


def test_concurrent_writer_threads_all_commit(database: tuple[str, Engine]) -> None:
    _, engine = database
    errors: list[BaseException] = []

    def write(name: str) -> None:
        try:
            for _ in range(40):
                with engine.begin() as conn:
                    conn.execute(rows.insert().values(writer=name))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert count(engine) == 8 * 40


def test_a_reader_does_not_wait_for_an_open_write_transaction(
    database: tuple[str, Engine],
) -> None:
    _, engine = database
    with engine.begin() as conn:
        conn.execute(rows.insert().values(writer="before"))
    holding = threading.Event()
    release = threading.Event()

    def writer() -> None:
        with engine.begin() as conn:
            conn.execute(rows.insert().values(writer="held"))
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        # the write transaction is still open: a read sees the committed row at once
        assert count(engine) == 1
        assert thread.is_alive()
    finally:
        release.set()
        thread.join(30)
    assert count(engine) == 2


def test_a_failed_transaction_lets_go_of_the_lock(database: tuple[str, Engine]) -> None:
    _, engine = database
    with pytest.raises(RuntimeError), engine.begin() as conn:
        conn.execute(rows.insert().values(writer="rolled back"))
        raise RuntimeError("handler failed")
    lock = db.WriteLock.for_file(str(Path(engine.url.database or "").resolve()))
    lock.acquire(timeout=1.0)  # free at once: nobody holds it
    lock.release()
    with engine.begin() as conn:
        conn.execute(rows.insert().values(writer="after"))
    assert count(engine) == 1


HOLDER = """
import signal, sys
from sqlalchemy import text
from sandbox.services.common import db
engine = db.make_engine(sys.argv[1])
with engine.begin() as conn:
    conn.execute(text("INSERT INTO rows (writer) VALUES ('other process')"))
    print("holding", flush=True)
    signal.pause()  # holds the write transaction until the test kills this process
"""


def test_a_writer_in_another_process_is_waited_for_and_a_dead_one_released(
    database: tuple[str, Engine],
) -> None:
    url, engine = database
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        done = threading.Event()

        def write() -> None:
            with engine.begin() as conn:
                conn.execute(rows.insert().values(writer="here"))
            done.set()

        thread = threading.Thread(target=write)
        thread.start()
        # the other process holds the write lock: our writer waits
        assert not done.wait(0.5)
        began = time.monotonic()
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # the kernel dropped the dead holder's flock; SQLite rolled its transaction back
        wait_for(done.is_set, timeout=10, what="the waiting writer to commit")
        thread.join(10)
        assert time.monotonic() - began < 10
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    with db.reading(engine) as conn:
        writers = [r.writer for r in conn.execute(select(rows.c.writer))]
    assert writers == ["here"]
