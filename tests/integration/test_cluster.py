"""``sandbox up --cluster 3``: three private nodes, one cluster, failover without loss.

One cluster is booted for the module (30 to 60 s on a busy two-core machine) and shared
by the tests in file order; the last one takes it down and checks the process table.
Run with ``-s`` to see the measured boot, failover and rejoin times.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from sandbox.broker import Admin, LocalNode
from sandbox.control.state import StateFile, SupervisorClient
from sandbox.messaging import IncomingMessage, NackedError, OutgoingMessage, Publisher
from sandbox.settings import BrokerSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

from .consumers import running_consumer
from .test_lifecycle import describe, processes_of, sandbox

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NODES = 3


@dataclass
class Cluster:
    state_dir: Path
    up_output: str
    boot_s: float

    @property
    def client(self) -> SupervisorClient:
        return SupervisorClient(self.state_dir)

    def nodes(self) -> list[dict[str, Any]]:
        return self.client.broker_nodes()

    def ctl(self, *args: str) -> str:
        """rabbitmqctl against a node the supervisor reports running, as an operator would."""
        node = next(n for n in self.nodes() if n["status"] == "running")
        return LocalNode(Path(node["data_dir"])).ctl(*args)

    def queues(self) -> list[dict[str, Any]]:
        fields = ("name", "type", "leader", "members", "online")
        return list(json.loads(self.ctl("list_queues", *fields, "--formatter", "json")))

    def running_nodes(self) -> set[str]:
        return set(json.loads(self.ctl("cluster_status", "--formatter", "json"))["running_nodes"])


def test_cluster_size_must_be_a_node_count(tmp_path):
    result = sandbox(tmp_path / "sbx", "up", "--cluster", "0")
    assert result.returncode == 2
    assert "node count" in result.stderr


def test_cluster_refuses_a_broker_given_by_rabbitmq_url(tmp_path):
    given_broker = {"RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:1/"}
    result = sandbox(tmp_path / "sbx", "up", "--cluster", "3", timeout=60, env=given_broker)
    assert result.returncode == 2
    assert "unset it" in result.stderr
    assert not (tmp_path / "sbx").exists(), "nothing should have been started"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state_dir = tmp_path_factory.mktemp("cluster") / "sbx"
    began = time.monotonic()
    # the smallest sandbox around the cluster: the nodes and one mock
    result = sandbox(state_dir, "up", "--cluster", str(NODES), "--only", "smtp", "--random-ports")
    boot_s = time.monotonic() - began
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        yield Cluster(state_dir, result.stdout, boot_s)
    finally:
        sandbox(state_dir, "down")
        for proc in processes_of(state_dir):
            proc.kill()


def test_up_with_cluster_3_forms_one_cluster_with_every_quorum_queue_on_every_node(cluster):
    print(f"\n`sandbox up --cluster 3 --only smtp` took {cluster.boot_s:.1f} s")
    nodes = cluster.nodes()
    names = {n["nodename"] for n in nodes}
    assert [n["name"] for n in nodes] == ["broker-1", "broker-2", "broker-3"]
    assert len(names) == NODES
    for name in ("broker-1", "broker-2", "broker-3"):
        assert name in cluster.up_output
    assert cluster.running_nodes() == names

    quorum = [q for q in cluster.queues() if q["type"] == "quorum"]
    assert len(quorum) == len(build(BrokerSettings()).declarations())
    for queue in quorum:
        assert set(queue["members"]) == names, queue
        assert set(queue["online"]) == names, queue
    leaders = Counter(q["leader"] for q in quorum)
    assert set(leaders) == names, f"leaders not spread over the nodes: {leaders}"

    # every component gets every node, each in its own order
    smtp = psutil.Process(cluster.client.state()["components"]["smtp"]["pid"])
    urls = smtp.environ()["RABBITMQ_URL"].split(",")
    assert set(urls) == {n["url"] for n in nodes}
    status = sandbox(cluster.state_dir, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert all(f"{name} " in status.stdout for name in ("broker-1", "broker-2", "broker-3"))


@dataclass
class Stamps:
    """Message ids and when each was first seen; shared between threads."""

    seen: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def mark(self, message_id: str, moment: float) -> None:
        with self.lock:
            self.seen.setdefault(message_id, moment)

    def ids(self) -> set[str]:
        with self.lock:
            return set(self.seen)

    def first_after(self, moment: float) -> float | None:
        with self.lock:
            later = [t for t in self.seen.values() if t > moment]
        return min(later) if later else None


@dataclass
class Traffic:
    """Publishes until stopped, republishing (same message ids) what was not confirmed."""

    connect: Callable[[], Publisher]
    publisher: Publisher | None = None
    confirmed: Stamps = field(default_factory=Stamps)  # message id -> confirm time
    attempted: set[str] = field(default_factory=set)
    republished_batches: int = 0
    reopened: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        serial = 0
        pending: list[OutgoingMessage] = []
        while not self.stop.is_set() or pending:
            if not pending:
                pending = [_event(serial + i) for i in range(10)]
                serial += 10
            self.attempted.update(m.message_id for m in pending)
            publisher = self.publisher or self.connect()
            self.publisher = publisher
            errors = publisher.publish_many(pending, timeout=10)
            now = time.monotonic()
            for message, error in zip(pending, errors, strict=True):
                if error is None:
                    self.confirmed.mark(message.message_id, now)
            pending = [m for m, e in zip(pending, errors, strict=True) if e is not None]
            self.republished_batches += bool(pending)
            if any(isinstance(e, NackedError) for e in errors):
                # RabbitMQ 3.10: a channel that first publishes to a quorum queue while the
                # queue's record still names the killed leader asks that dead node for its
                # version, gets nodedown and rejects every publish to that queue for as
                # long as the channel lives.  A fresh channel reads the new leader.
                self.reopened += 1
                self.publisher = None
                publisher.close()
            self.stop.wait(0.05)  # pacing (about 200 msg/s), not waiting for anything
        if self.publisher is not None:
            self.publisher.close()
            self.publisher = None

    def count(self) -> int:
        return len(self.confirmed.ids())


@dataclass
class Deduplicating:
    """A handler that processes each message id once, as the services' consumers do."""

    processed: Stamps = field(default_factory=Stamps)
    deliveries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, message: IncomingMessage) -> None:
        key = str(message.message_id)
        with self.lock:
            self.deliveries[key] += 1
        self.processed.mark(key, time.monotonic())


def _event(n: int) -> OutgoingMessage:
    return OutgoingMessage.event(
        "payment.completed",
        {"type": "PAYMENT_COMPLETED", "paymentId": f"pay_cluster_{n}"},
        producer="payment-service",
    )


def _connection_nodes(admin: Admin, names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for connection in admin.connections():
        name = (connection.get("client_properties") or {}).get("connection_name")
        if name in names:
            found[name] = connection["node"]
    return found


def test_sigkill_of_the_leader_node_loses_nothing_and_clients_fail_over(cluster):
    nodes = cluster.nodes()
    leader = next(q["leader"] for q in cluster.queues() if q["name"] == "payment_events")
    victim = next(n for n in nodes if n["nodename"] == leader)
    survivor = next(n for n in nodes if n is not victim)
    # the clients' first choice is the leader's node, so one kill takes both away
    urls = ",".join([victim["url"], *(n["url"] for n in nodes if n is not victim)])
    topology = build(BrokerSettings(reconnect_max_s=1.0))
    handler = Deduplicating()
    consumed = handler.processed
    admin = Admin(survivor["management_url"])
    names = ("test-service", "cluster-test-publisher")

    def connect() -> Publisher:
        return Publisher(
            urls, topology.exchange.name, reconnect_max_s=1.0, name="cluster-test-publisher"
        ).start()

    traffic = Traffic(connect, connect())
    thread = threading.Thread(target=traffic.run, name="traffic", daemon=True)
    try:
        with running_consumer(
            urls, topology, "payment_events", handler, reconnect_max_s=1.0
        ) as consumer:
            wait_for(
                lambda: set(_connection_nodes(admin, names).values()) == {leader},
                timeout=20,
                what=f"publisher and consumer connected to the leader's node {leader}",
                seen=lambda: _connection_nodes(admin, names),
            )
            thread.start()
            wait_for(
                lambda: traffic.count() >= 200 and consumed.ids() >= traffic.confirmed.ids(),
                timeout=30,
                what="200 messages confirmed and consumed before the kill",
                seen=lambda: (traffic.count(), len(consumed.ids())),
            )

            killed_at = time.monotonic()
            cluster.client.kill(victim["name"])
            assert not psutil.pid_exists(victim["pid"]), "the killed node's VM still runs"
            at_kill = traffic.count()
            wait_for(
                lambda: traffic.count() >= at_kill + 200,
                timeout=60,
                what="200 more messages confirmed after the kill",
                seen=lambda: (traffic.count() - at_kill, traffic.reopened),
            )
            published_again_s = traffic.confirmed.first_after(killed_at)
            consumed_again_s = consumed.first_after(killed_at)

            def failed_over() -> dict[str, str] | None:
                found = _connection_nodes(admin, names)
                return found if len(found) == 2 and leader not in found.values() else None

            moved = wait_for(
                failed_over,
                timeout=30,
                what="publisher and consumer reconnected to surviving nodes",
                seen=lambda: _connection_nodes(admin, names),
            )

            traffic.stop.set()
            thread.join(60)
            assert not thread.is_alive(), "the publishing thread did not finish"
            confirmed = traffic.confirmed.ids()
            wait_for(
                lambda: consumed.ids() >= confirmed,
                timeout=60,
                what="every confirmed message consumed",
                seen=lambda: len(confirmed - consumed.ids()),
            )
            assert consumer.stats.reconnects >= 1
    finally:
        traffic.stop.set()
        if thread.is_alive():
            thread.join(30)
        if traffic.publisher is not None:
            traffic.publisher.close()

    # no loss and nothing the test did not publish; copies (redeliveries after the kill,
    # republished unconfirmed batches) are counted and de-duplicated by message id
    assert consumed.ids() == confirmed == traffic.attempted
    duplicates = sum(n - 1 for n in handler.deliveries.values())
    assert published_again_s is not None and consumed_again_s is not None
    print(
        f"\n{len(confirmed)} messages, {at_kill} confirmed before the kill of "
        f"{victim['name']} ({leader}); publisher confirmed again after "
        f"{published_again_s - killed_at:.2f} s, consumer received again after "
        f"{consumed_again_s - killed_at:.2f} s; {duplicates} duplicate deliveries "
        f"(de-duplicated by message id), {traffic.republished_batches} batch(es) republished, "
        f"publisher reopened {traffic.reopened} time(s) after nacks; clients now on {moved}"
    )

    status = sandbox(cluster.state_dir, "status")
    assert status.returncode == 1, "a node is down: status must say so"
    assert re.search(rf"{victim['name']}\s+node\s+down", status.stdout), status.stdout

    # the killed node comes back with its data and rejoins
    began = time.monotonic()
    cluster.client.restart(victim["name"])
    names_all = {n["nodename"] for n in nodes}
    wait_for(
        lambda: cluster.running_nodes() == names_all,
        timeout=60,
        what=f"{victim['name']} back in the cluster",
        seen=lambda: cluster.running_nodes(),
    )
    wait_for(
        lambda: all(
            set(q["online"]) == names_all for q in cluster.queues() if q["type"] == "quorum"
        ),
        timeout=60,
        what="every quorum queue with all members online again",
        seen=lambda: [(q["name"], q["online"]) for q in cluster.queues()],
    )
    print(f"{victim['name']} restarted and rejoined in {time.monotonic() - began:.1f} s")
    assert cluster.client.state()["broker"]["status"] == "ready"


def _our_node_processes(nodenames: set[str]) -> list[psutil.Process]:
    """Every process of our nodes: the VMs and their helpers (erl_child_setup, ...)."""
    found = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("RABBITMQ_NODENAME") in nodenames:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_down_stops_every_node_and_leaves_no_process_behind(cluster):
    nodenames = {n["nodename"] for n in cluster.nodes()}
    assert len(_our_node_processes(nodenames)) >= NODES

    result = sandbox(cluster.state_dir, "down")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no process left" in result.stdout
    wait_for(
        lambda: processes_of(cluster.state_dir) == [] and _our_node_processes(nodenames) == [],
        timeout=15,
        what="no process of this sandbox or its nodes in the process table",
        seen=lambda: describe(processes_of(cluster.state_dir) + _our_node_processes(nodenames)),
    )
    # the nodes are gone from the shared epmd too (which we never stop)
    epmd = subprocess.run(["epmd", "-names"], capture_output=True, text=True, check=False)
    registered = {line.split()[1] for line in epmd.stdout.splitlines() if line.startswith("name ")}
    assert not registered & {name.split("@")[0] for name in nodenames}, epmd.stdout
    assert not StateFile(cluster.state_dir).path.exists()
