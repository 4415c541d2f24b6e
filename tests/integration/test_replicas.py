"""``sandbox up --scale NAME=N``: replicas of web, consumer and relay processes.

One sandbox (profile ``load``) runs two payment web processes, three payment relays on
one outbox and two notifier consumers.  The tests read its status as a user would,
spread connections over the web replicas, and drive a load while a fault plan
SIGKILLs one relay replica and one consumer replica.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.control import stack
from sandbox.pytest_plugin import running_sandbox
from tests.integration.cli_support import sandbox
from tests.load.support import sandbox_load

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCALE = {"payment": 2, "payment-relay": 3, "notifier-consumer": 2}
REPLICAS = {
    "payment": ["payment", "payment-2"],
    "payment-relay": ["payment-relay", "payment-relay-2", "payment-relay-3"],
    "notifier-consumer": ["notifier-consumer", "notifier-consumer-2"],
}
KILLS = """\
name: replica-kills
description: one payment relay replica and one notifier consumer replica SIGKILLed
faults:
  - {at: 3s, action: kill, target: payment-relay-2}
  - {at: 6s, action: kill, target: notifier-consumer-2}
"""


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state_dir = tmp_path_factory.mktemp("replicas")
    with running_sandbox(state_dir, profile="load", scale=SCALE):
        yield state_dir


def status(state_dir: Path) -> dict:
    done = sandbox(state_dir, "status", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def answering_pid(url: str) -> int:
    # a new connection each time: the kernel picks a listener per connection
    return int(requests.get(url, timeout=5, headers={"Connection": "close"}).json()["pid"])


def test_status_lists_every_replica_under_its_process_name(state_dir):
    components = status(state_dir)["components"]
    for process, names in REPLICAS.items():
        found = sorted(name for name in components if name.startswith(process))
        assert [n for n in found if process in (n, stack.replica_of(n))] == sorted(names)
        for name in names[1:]:
            assert components[name]["replica_of"] == process, components[name]
    pids = [entry["pid"] for entry in components.values()]
    assert len(pids) == len(set(pids)), pids
    assert all(entry["health"] == 200 for entry in components.values()), components
    table = sandbox(state_dir, "status").stdout
    for names in REPLICAS.values():
        for name in names:
            assert re.search(rf"^{re.escape(name)}\s", table, re.M), table


def test_web_replicas_share_the_services_port(state_dir):
    components = status(state_dir)["components"]
    own = {answering_pid(components[name]["health_url"]) for name in REPLICAS["payment"]}
    endpoint = components["payment"]["endpoint"]
    shared = {answering_pid(f"{endpoint}/health") for _ in range(40)}
    assert len(own) == 2 and shared == own, (own, shared)


def test_replicas_killed_mid_load_lose_and_duplicate_nothing(state_dir, tmp_path):
    plan = tmp_path / "replica-kills.yaml"
    plan.write_text(KILLS)
    out = tmp_path / "load"
    done = sandbox_load(
        state_dir,
        out,
        *("--users", "20", "--spawn-rate", "20", "--duration", "12s", "--flows-per-s", "10"),
        *("--faults", str(plan), "--settle", "60"),
    )
    report = f"exit {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    for target in ("payment-relay-2", "notifier-consumer-2"):
        assert re.search(rf"ok\s+kill {target}", done.stdout), report
    assert re.search(r"^\s+lost\s+0$", done.stdout, re.M), report
    assert re.search(r"^\s+duplicated\s+0", done.stdout, re.M), report
    assert json.loads((out / "summary.json").read_text())["flows_completed"] >= 60, report
    # the relays shared the outbox, and each payment's events went out in the order
    # they were written (a later row is claimed only once the earlier ones were sent)
    with sqlite3.connect(state_dir / "data" / "payment.db") as db:
        rows = db.execute(
            "SELECT aggregate_id, id, sent_at, claimed_by FROM payment_outbox ORDER BY id"
        ).fetchall()
    assert rows and all(sent_at for _, _, sent_at, _ in rows), "unsent outbox rows"
    assert len({claimed_by for *_, claimed_by in rows}) >= 2, "one relay did all the work"
    sent: dict[str, list[str]] = defaultdict(list)
    for aggregate, _, sent_at, _ in rows:
        sent[aggregate].append(sent_at)
    assert all(times == sorted(times) for times in sent.values())
