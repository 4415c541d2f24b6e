"""A cluster of private RabbitMQ nodes on this machine (``sandbox up --cluster N``).

Each node is a ``LocalNode`` with its own ports and data directory under one base
directory (``node-1`` .. ``node-N``); they share one Erlang cookie, kept beside them, so
that they, and ``rabbitmqctl`` run against any of them, may talk to each other.

How the cluster forms, and why this way (RabbitMQ 3.10):
- Node 1 boots alone first.  The others are told of it by ``classic_config`` peer
  discovery and join it on their first boot, in parallel.  Booting all N at once races,
  because a node may join node 1 as soon as node 1's tables exist, long before it has
  finished booting.  We saw both ways this goes wrong: the two seed the default user
  twice and node 1 dies with ``user_already_exists``; or the joiner misses the creation
  of vhost ``/`` and refuses every connection with "vhost '/' is down".
- Discovery only matters to a node with an empty data directory.  A node that was
  stopped or killed comes back with its data and rejoins the cluster it belongs to.
  When every node went down, they are started together: each waits for its peers.
- ``queue_leader_locator = balanced`` places each new quorum queue's leader on the node
  with the fewest leaders, so leaders spread over the cluster instead of all landing on
  the node the declaring client happened to connect to.  Quorum queues get a member on
  every node by default (their initial group size is the cluster size).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple
from pathlib import Path
from typing import Any

from sandbox.broker.admin import Admin, AdminError
from sandbox.broker.local import LocalNode, NodePorts, NodeStartError, OwnedBroker
from sandbox.waiting import WaitTimeout, wait_for

log = logging.getLogger(__name__)

COOKIE_FILE = "cookie"


class LocalCluster(OwnedBroker):
    """N private nodes joined into one cluster; controllable as a whole or node by node."""

    kind = "cluster"

    def __init__(
        self,
        base_dir: Path,
        size: int,
        *,
        server: str = "/usr/lib/rabbitmq/bin/rabbitmq-server",
        ctl: str = "/usr/lib/rabbitmq/bin/rabbitmqctl",
        start_timeout_s: float = 60.0,
        plugins: tuple[str, ...] = ("rabbitmq_management",),
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, not {size}")
        self.base_dir = base_dir.resolve()
        self.start_timeout_s = start_timeout_s
        cookie = self._cookie()
        dirs = [self.base_dir / f"node-{i}" for i in range(1, size + 1)]
        chosen = _distinct_ports([_saved_ports(d) for d in dirs])
        seed = f"sandbox-{chosen[0].amqp}@localhost"
        self.nodes: list[LocalNode] = []
        for index, (directory, node_ports) in enumerate(zip(dirs, chosen, strict=True)):
            config = ["queue_leader_locator = balanced"]
            if index > 0:
                config += [
                    "cluster_formation.peer_discovery_backend = classic_config",
                    f"cluster_formation.classic_config.nodes.1 = {seed}",
                ]
            self.nodes.append(
                LocalNode(
                    directory,
                    server=server,
                    ctl=ctl,
                    ports=node_ports,
                    start_timeout_s=start_timeout_s,
                    plugins=plugins,
                    config=config,
                    cookie=cookie,
                )
            )

    # -- addresses ---------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        """The nodes' names as the sandbox's control API knows them: broker-1 .. broker-N."""
        return [f"broker-{i}" for i in range(1, len(self.nodes) + 1)]

    def node(self, name: str) -> LocalNode:
        """The node called ``broker-<i>``; KeyError for any other name."""
        try:
            return self.nodes[self.names.index(name)]
        except ValueError:
            raise KeyError(name) from None

    def registered_since(self, moment: float) -> bool:
        """True once every running node wrote its quorum queue register after ``moment``
        (``LocalNode.registered_since``)."""
        return all(node.registered_since(moment) for node in self.nodes if node.running())

    @property
    def url(self) -> str:
        """Every node's AMQP URL, comma-separated: clients try them in order."""
        return self.url_for("/")

    def url_for(self, vhost: str) -> str:
        return ",".join(node.url_for(vhost) for node in self.nodes)

    @property
    def management_url(self) -> str:
        """The management API of the first running node (any node shows the whole cluster)."""
        running = [node for node in self.nodes if node.running()] or self.nodes
        return running[0].management_url

    def info(self) -> dict[str, Any]:
        nodes = []
        for name, node in zip(self.names, self.nodes, strict=True):
            status = "running" if node.running() else "down"
            nodes.append({"name": name, **node.info(), "status": status})
        down = [node for node in nodes if node["status"] != "running"]
        status = "ready" if not down else "stopped" if len(down) == len(nodes) else "degraded"
        return {
            "kind": self.kind,
            "status": status,
            "url": self.url,
            "management_url": self.management_url,
            "size": len(self.nodes),
            "data_dir": str(self.base_dir),
            "nodes": nodes,
        }

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> LocalCluster:
        """Start every node that is not running and wait until all N run as one cluster."""
        fresh = not any(_has_data(node) for node in self.nodes)
        waiting = [node for node in self.nodes if not node.running()]
        # The AMQP handshake is enough for each node: it proves node 1 has seeded its
        # default user before anyone joins, and the cluster's own view of who runs is
        # what ``wait_formed`` awaits.
        if fresh and waiting and waiting[0] is self.nodes[0]:
            self.nodes[0].start(await_startup=False)  # the seed the others join
            waiting = waiting[1:]
        _start_together(waiting)
        self.wait_formed()
        return self

    def stop(self) -> None:
        """Stop every node gracefully, in parallel."""
        _each(self.nodes, lambda node: node.stop())

    def kill(self) -> None:
        _each(self.nodes, lambda node: node.kill())

    def node_action(self, name: str, action: str) -> None:
        """kill, stop, start or restart one node; a started node waits to rejoin."""
        node = self.node(name)
        if action == "kill":
            node.kill()
        elif action == "stop":
            node.stop()
        elif action in ("start", "restart"):
            if action == "restart":
                node.stop()
            node.start(await_startup=False)
            self.wait_formed(expected={node.nodename})
        else:
            raise ValueError(action)

    # -- cluster state -----------------------------------------------------------------

    def running_nodes(self) -> list[str]:
        """Erlang names of the nodes the cluster reports as running.

        Asked of the management API: it answers from the same membership tables as
        ``rabbitmqctl cluster_status`` in milliseconds, where each rabbitmqctl call boots
        an Erlang VM (2 s and more on a busy 2-core machine).
        """
        errors = []
        for node in self.nodes:
            if not node.running():
                continue
            try:
                listed = Admin(node.management_url, timeout_s=5.0).nodes()
            except AdminError as exc:
                errors.append(str(exc))
                continue
            return sorted(str(entry["name"]) for entry in listed if entry.get("running"))
        raise NodeStartError("no node's management API answered: " + "; ".join(errors))

    def wait_formed(self, expected: Iterable[str] | None = None) -> list[str]:
        """Wait until the cluster reports ``expected`` (default: all our running nodes)."""
        want = set(expected or {node.nodename for node in self.nodes if node.running()})
        seen: list[str] = []

        def formed() -> bool:
            seen[:] = self.running_nodes()
            return want <= set(seen)

        try:
            wait_for(formed, timeout=self.start_timeout_s, interval=0.5, what="the cluster")
        except WaitTimeout as exc:
            raise NodeStartError(
                f"cluster did not form: expected {sorted(want)} running, saw {seen}; {exc}"
            ) from exc
        return seen

    # -- files -------------------------------------------------------------------------

    def _cookie(self) -> str:
        path = self.base_dir / COOKIE_FILE
        try:
            return path.read_text().strip()
        except OSError:
            pass
        self.base_dir.mkdir(parents=True, exist_ok=True)
        cookie = secrets.token_hex(20).upper()
        path.write_text(cookie)
        path.chmod(0o600)
        return cookie


def _saved_ports(directory: Path) -> NodePorts | None:
    """The ports a node had before (kept in its node.json), so a restart keeps them."""
    try:
        return NodePorts(**json.loads((directory / "node.json").read_text())["ports"])
    except (OSError, KeyError, TypeError, ValueError):
        return None


def _distinct_ports(known: list[NodePorts | None]) -> list[NodePorts]:
    """Keep the ports nodes already had; choose new ones that clash with no other node's."""
    used: set[int] = set()
    result = []
    for ports in known:
        while ports is None or set(astuple(ports)) & used:
            ports = NodePorts.choose()
        used |= set(astuple(ports))
        result.append(ports)
    return result


def _has_data(node: LocalNode) -> bool:
    mnesia = node.base_dir / "mnesia"
    return mnesia.exists() and any(mnesia.iterdir())


def _start_together(nodes: list[LocalNode]) -> None:
    """Start ``nodes`` at once; a node that exits while its peers boot starts again alone.

    RabbitMQ 3.10 can crash a node that syncs its feature flags with a peer still booting
    (``badmap`` in ``rabbit_feature_flags``), as after the whole cluster was killed; once
    the others run, the node starts and rejoins.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(nodes))) as pool:
        futures = [(node, pool.submit(node.start, await_startup=False)) for node in nodes]
    for node, future in futures:
        error = future.exception()
        if isinstance(error, NodeStartError):
            log.warning("%s exited while its peers started; starting it again", node.nodename)
            node.start(await_startup=False)
        elif error is not None:
            raise error


def _each(nodes: list[LocalNode], action: Callable[[LocalNode], object]) -> None:
    """Run ``action`` on every node at once; raise the first failure after all finished."""
    if not nodes:
        return
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = [pool.submit(action, node) for node in nodes]
    for future in futures:
        future.result()
