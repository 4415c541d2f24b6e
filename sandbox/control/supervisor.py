"""The supervisor: one long-lived process that owns every process of a running sandbox.

``sandbox up`` starts it detached; it provisions the broker, declares the topology,
starts the mocks and services in order, writes ``.sandbox/state.json`` as things come
up, restarts any process that dies (as an orchestrator would), and stops everything on
SIGTERM or ``POST /shutdown``.  Scenarios and fault plans control processes through its
small HTTP API (kill, stop, start, restart a component or the broker), so that the one
process that started something is the one that restarts it.

It records each process it starts with its start time and command line (see
``sandbox.control.ownership``), so that nothing later signals a pid that has since been reused.
The control API (``sandbox.control.control_api``) answers only requests bearing the token
it generates at start and keeps in the owner-only state file (``Authorization: Bearer
<token>``); every refusal is in the services' error shape.

With ``--cluster N`` the broker is N private nodes joined into one cluster; the API
then also knows each node as ``broker-1`` .. ``broker-N``, and every component gets the
nodes' URLs in its own rotated order, so that connections spread over the cluster and
fail over to the next node when theirs goes away.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sandbox.broker.local import LocalNode, NodeStartError
from sandbox.broker.provision import Broker, BrokerUnavailable, chosen
from sandbox.broker.provision import start as start_broker
from sandbox.control import stack
from sandbox.control.ownership import fingerprint
from sandbox.control.process import ManagedProcess, ProcessStartError
from sandbox.control.state import StateFile
from sandbox.settings import SERVICE_PORTS, START_GATE_VARIABLE, SandboxSettings
from sandbox.topology import build
from sandbox.waiting import WaitTimeout, wait_for

if TYPE_CHECKING:
    from sandbox.broker.cluster import LocalCluster

log = logging.getLogger("sandbox.control.supervisor")

MONITOR_INTERVAL_S = 0.25
# a node writes its quorum queue register about a second after the last declaration
TOPOLOGY_DURABLE_TIMEOUT_S = 10.0


class Supervisor:
    def __init__(
        self,
        settings: SandboxSettings,
        only: set[str] | None = None,
        profile: str = "dev",
        random_ports: bool = False,
        cluster: int = 1,
        scale: dict[str, int] | None = None,
    ) -> None:
        self.settings = settings
        self.scale = scale or {}
        self.only = only
        self.profile = profile
        self.random_ports = random_ports
        self.cluster = cluster
        self.state_dir = settings.state_dir
        self.state = StateFile(self.state_dir)
        self.broker: Broker | None = None
        self.processes: dict[str, ManagedProcess] = {}
        self.components: dict[str, stack.Component] = {}
        self.held: set[str] = set()  # stopped on purpose: do not restart
        self.restarts: dict[str, int] = {}
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.control_url = ""
        self.token = secrets.token_urlsafe(32)
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="boot")
        self.topology_declared_at: float | None = None  # time.time() of the boot's declaration

    # -- boot --------------------------------------------------------------------------

    def boot(self) -> None:
        me = fingerprint(os.getpid())
        self.state.write(
            status="starting", profile=self.profile, scale=self.scale, supervisor=me, components={}
        )
        self.state.update(step="broker: starting")
        began = time.monotonic()
        self.gate.unlink(missing_ok=True)
        broker = chosen(
            replace(self.settings, state_dir=self.state_dir),
            self.cluster,
            "broker",
            own_vhost=f"sandbox-{secrets.token_hex(4)}",
        )
        # A container's ports and URL are known once it runs; so is an external broker's
        # vhost (its own one is created as it starts).
        if broker.kind in ("container", "external"):
            self.broker = start_broker(broker)
            # recorded at once: a vhost made on someone else's broker must be found by
            # `down` even if this process dies before the rest is up
            self.state.update(broker={**self._broker_info(), "status": "starting"})
            broker_ready: Future[Broker] | None = None
        else:
            self.broker = broker
            broker_ready = self._pool.submit(start_broker, broker)
        # what only the rest of the boot needs loads while a local broker boots
        from sandbox.control.control_api import serve_control_api
        from sandbox.messaging import ensure_topology

        self.control_url = serve_control_api(self)
        self.state.update(supervisor={**me, "control_url": self.control_url, "token": self.token})
        ports = stack.choose_ports(
            taken=set(self._broker_ports()),
            prefer=not self.random_ports,
            scale=self.scale,
            host=self.settings.host,
        )
        self.state.update(ports_replaced=self._replaced(ports))
        keys = stack.new_secrets()
        # Kept for tests and tools that sign as the provider or the notifier do; the
        # processes themselves get them through their environment, never their argv.
        self.state.update(ports=ports, secrets=keys)
        (self.state_dir / "data").mkdir(parents=True, exist_ok=True)
        planned = [
            stack.with_rotated_broker_urls(component, index)
            for index, component in enumerate(
                stack.plan(
                    state_dir=self.state_dir,
                    broker_url=self.broker.url,
                    ports=ports,
                    keys=keys,
                    extra_env=stack.PROFILES[self.profile],
                    environ=os.environ,
                    scale=self.scale,
                    host=self.settings.host,
                )
            )
            if self.only is None or {component.name, component.process} & self.only
        ]
        # The mocks and the web processes need no broker to start: they boot beside it,
        # all at once. The consumers and relays follow while it still boots: they load
        # and open their databases, then wait at the start gate (SANDBOX_START_GATE)
        # until the topology is declared, and connect.
        self._start_all([c for c in planned if c.kind != "worker"])
        workers = [
            self._pool.submit(self._start, c, gated=True) for c in planned if c.kind == "worker"
        ]
        if broker_ready is not None:
            broker_ready.result()
        # Only once the cluster has formed: a quorum queue's members are chosen among the
        # cluster's nodes when it is declared; a node that joins later holds no replica.
        ensure_topology(self.broker.url, build(self.settings.broker))
        self.topology_declared_at = time.time()
        self.gate.parent.mkdir(parents=True, exist_ok=True)
        self.gate.touch()
        self.state.update(
            broker={
                **self._broker_info(),
                "ready_s": round(time.monotonic() - began, 1),
                "status": "ready",
            },
            step="broker: ready",
        )
        for started in workers:
            started.result()
        self.state.update(status="ready", step="ready")

    @property
    def gate(self) -> Path:
        """The file whose existence lets the workers connect: the topology is declared."""
        return self.state_dir / "run" / "topology-declared"

    def _replaced(self, ports: dict[str, int]) -> dict[str, dict[str, int]]:
        """The usual ports that were taken, of the components this sandbox starts: what
        ``up`` reports, since a client configured with the usual port would miss them."""
        if self.random_ports:
            return {}
        return {
            key: {"preferred": preferred, "port": ports[key]}
            for key, preferred in SERVICE_PORTS.items()
            if ports.get(key) != preferred
            and (self.only is None or stack.PORT_OWNERS.get(key, key) in self.only)
        }

    def _start_all(self, components: list[stack.Component]) -> None:
        """Start ``components`` at once; return when every one is ready (or raise)."""
        for started in [self._pool.submit(self._start, c) for c in components]:
            started.result()

    def _broker_info(self, base: dict[str, Any] | None = None) -> dict[str, Any]:
        """The broker's info with each of its processes fingerprinted."""
        assert self.broker is not None
        info = {**(base or {}), **self.broker.info()}
        if info.get("pid"):
            info.update(fingerprint(info["pid"]))
        info["nodes"] = [
            {**node, **fingerprint(node.get("pid"))} if node.get("pid") else node
            for node in info.get("nodes") or []
        ]
        if not info["nodes"]:
            del info["nodes"]
        return info

    def _broker_ports(self) -> list[int]:
        info = self.broker.info() if self.broker else {}
        nodes = info.get("nodes") or [info]
        return [port for node in nodes for port in (node.get("ports") or {}).values()]

    def _start(self, component: stack.Component, gated: bool = False) -> None:
        """Start ``component`` and record it ready; ``gated``: it waits at the start gate
        first, so its start may last as long as the broker's."""
        self.state.update(step=f"{component.name}: starting")
        timeout_s = 60.0
        env = dict(component.env)
        if gated:
            env[START_GATE_VARIABLE] = str(self.gate)
            timeout_s += self.settings.broker_start_timeout_s * max(self.cluster, 1)
        process = ManagedProcess.python_module(
            component.name,
            component.module,
            *component.args,
            log_file=self.state_dir / "logs" / f"{component.name}.log",
            env=env,
            health_url=component.health_url,
            ready=None,
            start_timeout_s=timeout_s,
        )
        with self.lock:
            if self.stopping.is_set():
                raise ProcessStartError(f"{component.name} not started: the sandbox stops")
            self.components[component.name] = component
            self.processes[component.name] = process
            process.spawn()  # under the lock: a shutdown now stops it too
        # a gated worker is probed only once the gate is open: before, it cannot be ready
        process.wait_ready(self.gate.exists if gated else None)
        self._record(component.name, "ready")

    def _record(self, name: str, status: str) -> None:
        component = self.components[name]
        process = self.processes[name]
        entry = {
            "status": status,
            **fingerprint(process.pid),
            "kind": component.kind,
            "endpoint": component.endpoint,
            "health_url": component.health_url,
            "log": str(process.log_file),
            "restarts": self.restarts.get(name, 0),
            "command": [component.module, *component.args],
        }
        if component.process and component.process != name:
            entry["replica_of"] = component.process
        if component.database:
            entry["database"] = component.database
        self.state.set_component(name, entry)

    # -- monitoring --------------------------------------------------------------------

    def monitor(self) -> None:
        """Restart any component that died and was not stopped on purpose."""
        while not self.stopping.wait(MONITOR_INTERVAL_S):
            with self.lock:
                dead = [
                    name
                    for name, process in self.processes.items()
                    if name not in self.held and not process.running()
                ]
            for name in dead:
                if self.stopping.is_set():
                    return
                log.warning("%s died; restarting", name)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._record(name, "restarting")
                try:
                    with self.lock:
                        self.processes[name].kill()  # reap what is left of the group
                        self.processes[name].start()
                    self._record(name, "ready")
                except Exception as exc:  # the supervisor must outlive any one process
                    log.error("%s failed to restart (will try again): %s", name, exc)
                    self._record(name, "failed")
                    self.stopping.wait(1.0)

    # -- control -----------------------------------------------------------------------

    def component_action(self, name: str, action: str) -> dict[str, Any]:
        if name == "broker":
            return self.broker_action(action)
        cluster = self._cluster()
        if cluster is not None and name in cluster.names:
            return self.node_action(name, action)
        with self.lock:
            process = self.processes.get(name)
            if process is None:
                raise KeyError(name)
            if action == "kill":
                process.kill()  # the monitor brings it back, as a crash would be
            elif action == "stop":
                self.held.add(name)
                process.stop()
                self._record(name, "stopped")
            elif action == "start":
                self.held.discard(name)
                process.start()
                self._record(name, "ready")
            elif action == "restart":
                process.restart()
                self._record(name, "ready")
            else:
                raise ValueError(action)
        return {"name": name, "action": action, "pid": process.pid}

    def component_names(self) -> list[str]:
        """Every name ``component_action`` knows: the broker, its nodes, the processes (by
        name: they start side by side, in no fixed order)."""
        cluster = self._cluster()
        nodes = cluster.names if cluster is not None else []
        return ["broker", *nodes, *sorted(self.processes)]

    def _cluster(self) -> LocalCluster | None:
        """The broker when it is a cluster of private nodes (loaded only then)."""
        if self.broker is None or self.broker.kind != "cluster":
            return None
        from sandbox.broker.cluster import LocalCluster

        return self.broker if isinstance(self.broker, LocalCluster) else None

    def _await_durable_topology(self) -> None:
        """Hold a kill, stop or restart of the broker until the quorum queues this boot
        declared are in the node's register on disk, about a second after the declaration
        (``LocalNode.quorum_registry``): a node killed sooner loses the newest queue."""
        declared = self.topology_declared_at
        broker = self.broker if isinstance(self.broker, LocalNode) else self._cluster()
        if declared is None or broker is None:
            return
        if self.settings.broker.queue_type == "quorum":
            try:
                wait_for(
                    lambda: broker.registered_since(declared),
                    timeout=TOPOLOGY_DURABLE_TIMEOUT_S,
                    what="the broker's quorum queue register written to disk",
                )
            except WaitTimeout as exc:
                log.warning("%s; acting on the broker anyway", exc)
        self.topology_declared_at = None  # written once, it stays

    def broker_action(self, action: str) -> dict[str, Any]:
        broker = self.broker
        if broker is None:
            raise KeyError("broker")
        if action != "start":
            self._await_durable_topology()
        if action == "kill":
            broker.kill()
        elif action == "stop":
            broker.stop()
        elif action == "start":
            broker.start()
        elif action == "restart":
            broker.restart()
        else:
            raise ValueError(action)
        status = "ready" if action in ("start", "restart") else "stopped"
        self.state.update(broker={**self._broker_info(), "status": status})
        return {"name": "broker", "action": action}

    def node_action(self, name: str, action: str) -> dict[str, Any]:
        """Kill, stop, start or restart one node of the cluster; a started one rejoins."""
        cluster = self._cluster()
        if cluster is None:
            raise KeyError(name)
        if action not in ("kill", "stop", "start", "restart"):
            raise ValueError(action)
        if action != "start":
            self._await_durable_topology()
        # a killed or stopped node stays down (as the single broker does) until started
        cluster.node_action(name, action)
        # the cluster's own status: ready, degraded (some nodes down) or stopped
        self.state.update(broker=self._broker_info(self.state.read().get("broker", {})))
        return {"name": name, "action": action, "pid": cluster.node(name).pid}

    def shutdown(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.state.update(status="stopping", step="stopping")
        with self.lock:
            for name in reversed(list(self.processes)):
                try:
                    self.processes[name].stop()
                except Exception:
                    log.exception("stopping %s", name)
                    self.processes[name].kill()
                self._record(name, "stopped")
        from sandbox.broker.external import ExternalBroker

        if isinstance(self.broker, ExternalBroker):
            try:  # someone else's: only what the sandbox made on it goes (its vhost)
                self.broker.close()
            except Exception:
                log.exception("deleting the sandbox's vhost on the external broker")
        elif self.broker is not None:
            try:
                self.broker.stop()
            except Exception:
                log.exception("stopping the broker")
                self.broker.kill()
        self.state.update(status="stopped", step="stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description="run a sandbox in the foreground")
    parser.add_argument("--state-dir", default=".sandbox")
    parser.add_argument("--only", help="comma-separated components to start (default: all)")
    parser.add_argument("--profile", choices=sorted(stack.PROFILES), default="dev")
    parser.add_argument(
        "--random-ports", action="store_true", help="free random ports, none of the usual"
    )
    parser.add_argument("--cluster", type=int, default=1, help="broker nodes (default 1)")
    parser.add_argument(
        "--scale", action="append", default=[], metavar="NAME=N", help="replicas of a process"
    )
    args = parser.parse_args()
    try:
        scale = stack.parse_scale(args.scale)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pika").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    settings = replace(SandboxSettings.from_env(), state_dir=Path(args.state_dir).resolve())
    only = {name.strip() for name in args.only.split(",")} if args.only else None
    supervisor = Supervisor(
        settings,
        only=only,
        profile=args.profile,
        random_ports=args.random_ports,
        cluster=args.cluster,
        scale=scale,
    )

    def on_signal(_signum: int, _frame: Any) -> None:
        supervisor.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        supervisor.boot()
    except Exception as exc:
        log.exception("sandbox failed to start")
        # ``up`` exits 3 (no broker) rather than 1 when the broker was what failed
        from sandbox.messaging import BrokerConnectError

        no_broker = isinstance(exc, (BrokerUnavailable, BrokerConnectError, NodeStartError))
        failed = {"status": "failed", "error": str(exc), "failure": "broker" if no_broker else ""}
        supervisor.state.update(**failed)
        supervisor.stopping.clear()
        supervisor.shutdown()
        supervisor.state.update(**failed)
        raise SystemExit(1) from exc
    supervisor.monitor()
    supervisor.stopping.clear()
    supervisor.shutdown()


if __name__ == "__main__":
    main()


__all__ = ["Supervisor", "json", "main"]
