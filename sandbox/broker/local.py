"""A private RabbitMQ node started from the local ``rabbitmq-server`` binary.

The node lives entirely in a directory the sandbox owns: data (mnesia), logs, config,
enabled plugins and the Erlang cookie (``HOME``), on free ports chosen once and kept in
``node.json`` so that a stop, kill or restart brings it back on the same ports with the
same data, which is what broker-restart scenarios need.

Facts behind the details (Debian bookworm, RabbitMQ 3.10):
- ``/usr/sbin/rabbitmq-server`` switches to the ``rabbitmq`` user when run as root, which
  then cannot write our directory, so we run ``/usr/lib/rabbitmq/bin/rabbitmq-server``.
- That script stays in front of the Erlang VM and forwards signals unless it believes it
  runs under systemd; with ``RUNNING_UNDER_SYSTEMD`` set it execs the VM, so the process
  we start *is* the node and SIGKILL kills the node, not a wrapper.
- Setting both ``RABBITMQ_NODE_PORT`` and a ``listeners.tcp`` key starts two listeners
  on one port and the node dies with ``eaddrinuse``; the listener is set by env only.
- The Erlang distribution port must be free too; the default (AMQP port + 20000) clashes
  with the machine's own broker, so it is chosen like the others.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from mirakuru import Executor
from mirakuru.exceptions import AlreadyRunning, ProcessExitedWithError, TimeoutExpired

import sandbox.spawned  # noqa: F401  (mirakuru's exit hook, made exact)
from sandbox.ports import random_port

USER = "guest"
PASSWORD = "guest"
HOST = "127.0.0.1"
# Erlang VM flags of a private node (``SANDBOX_BROKER_ERL_ARGS`` replaces them).  The node
# shares the machine with a dozen sandbox processes, so its schedulers sleep as soon as
# they run out of work instead of spinning first (0.6 ms less broker CPU per card flow at
# 8 flows/s); see docs/load-testing.md, which also measures ``+S 1:1``.
ERL_ARGS_ENV = "SANDBOX_BROKER_ERL_ARGS"
ERL_SCHEDULER_ARGS = "+sbwt none +sbwtdcpu none +sbwtdio none"


class GuestAddresses(ABC):
    """The URLs of a broker that lets the guest user in: AMQP (per vhost) and management."""

    @abstractmethod
    def _listens_on(self) -> tuple[str, int, int]:
        """The host, the AMQP port and the management port."""

    @property
    def url(self) -> str:
        return self.url_for("/")

    def url_for(self, vhost: str) -> str:
        host, amqp, _ = self._listens_on()
        return f"amqp://{USER}:{PASSWORD}@{host}:{amqp}/{quote(vhost, safe='')}"

    @property
    def management_url(self) -> str:
        host, _, management = self._listens_on()
        return f"http://{host}:{management}"


class NodeStartError(RuntimeError):
    """The private node did not come up; the message carries the end of its log."""


@dataclass(frozen=True)
class NodePorts:
    amqp: int
    management: int
    dist: int

    @classmethod
    def choose(cls) -> NodePorts:
        chosen: list[int] = []
        while len(chosen) < 3:
            port = random_port()
            if port not in chosen:
                chosen.append(port)
        return cls(*chosen)


class _NodeExecutor(Executor):
    """mirakuru executor whose readiness is a real AMQP handshake."""

    def __init__(self, command: list[str], url: str, amqp_port: int, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._url = url
        self._amqp_port = amqp_port

    def pre_start_check(self) -> bool:
        # Something already listening on our port means a node we did not start (nor
        # could the node bind it). A plain connect: pika loads only once the node runs.
        host = urlsplit(self._url).hostname or HOST
        try:
            with socket.create_connection((host, self._amqp_port), timeout=0.5):
                return True
        except OSError:
            return False

    def after_start_check(self) -> bool:
        from sandbox.messaging import BrokerConnectError, probe

        try:
            probe(self._url, timeout=1.0)
        except BrokerConnectError:
            return False
        return True


class OwnedBroker(ABC):
    """A broker the sandbox runs from a directory of its own: restart, close and destroy
    follow from its start, stop and kill."""

    base_dir: Path

    @abstractmethod
    def start(self) -> OwnedBroker: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def kill(self) -> None: ...

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()

    def destroy(self) -> None:
        """Kill and remove the data directory."""
        self.kill()
        shutil.rmtree(self.base_dir, ignore_errors=True)


class LocalNode(GuestAddresses, OwnedBroker):
    """One private RabbitMQ node with its own ports and data directory."""

    kind = "local"

    def __init__(
        self,
        base_dir: Path,
        *,
        server: str = "/usr/lib/rabbitmq/bin/rabbitmq-server",
        ctl: str = "/usr/lib/rabbitmq/bin/rabbitmqctl",
        ports: NodePorts | None = None,
        start_timeout_s: float = 60.0,
        plugins: tuple[str, ...] = ("rabbitmq_management",),
        config: Sequence[str] = (),
        cookie: str | None = None,
        host: str = HOST,
        launcher: Sequence[str] = (),
    ) -> None:
        self.base_dir = base_dir.resolve()
        # where the node listens for AMQP and HTTP; its Erlang distribution (rabbitmqctl,
        # clustering) stays on the loopback of wherever it runs
        self.host = host
        # a command the node and rabbitmqctl run through, e.g. ("ip", "netns", "exec", "ns")
        # to run it in a network namespace; it must exec the command, keeping its pid
        self.launcher = tuple(launcher)
        self.server = server
        self.ctl_path = ctl
        self.start_timeout_s = start_timeout_s
        self.plugins = plugins
        self.config = tuple(config)  # extra rabbitmq.conf lines (a cluster's peers, ...)
        self.cookie = cookie  # nodes of one cluster must share their Erlang cookie
        self.ports = ports or self._load_ports() or NodePorts.choose()
        self.nodename = f"sandbox-{self.ports.amqp}@localhost"
        self._executor: _NodeExecutor | None = None

    # -- addresses ---------------------------------------------------------------------

    def _listens_on(self) -> tuple[str, int, int]:
        return self.host, self.ports.amqp, self.ports.management

    @property
    def log_file(self) -> Path:
        return self.base_dir / "log" / f"{self.nodename}.log"

    @property
    def quorum_registry(self) -> Path:
        """The node's register of its quorum queues' Raft servers (Ra's ``names.dets``).

        The node writes a new queue's entry to this file about a second after the
        declaration, when the register has been idle that long: a node killed before
        then restarts without that queue's server, and the queue, still declared,
        refuses every message. ``registered_since`` says when that window is over.
        """
        return self.base_dir / "mnesia" / self.nodename / "quorum" / self.nodename / "names.dets"

    def registered_since(self, moment: float) -> bool:
        """True once the quorum queue register was written to disk after ``moment``
        (a ``time.time()``): every queue declared before it survives a kill."""
        try:
            return self.quorum_registry.stat().st_mtime > moment
        except OSError:
            return False

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "url": self.url,
            "management_url": self.management_url,
            "nodename": self.nodename,
            "ports": asdict(self.ports),
            "data_dir": str(self.base_dir),
            "pid": self.pid,
        }

    @property
    def pid(self) -> int | None:
        executor = self._executor
        if executor is not None and executor.process is not None and executor.running():
            return int(executor.process.pid)
        return None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self, *, await_startup: bool = True) -> LocalNode:
        """Start the node and return once it accepts AMQP and reports itself booted.

        ``await_startup=False`` settles for the AMQP handshake (the client listener is
        the last thing a node starts) and skips a ``rabbitmqctl`` call, which boots an
        Erlang VM of its own: seconds on a busy machine, for each node of a cluster.
        """
        if not Path(self.server).exists():
            raise FileNotFoundError(f"rabbitmq-server not found at {self.server}")
        self._write_files()
        executor = _NodeExecutor(
            [*self.launcher, self.server],
            self.url,
            self.ports.amqp,
            envvars=self._environment(),
            timeout=self.start_timeout_s,
            sleep=0.2,
            cwd=str(self.base_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            executor.start()
        except AlreadyRunning as exc:
            raise NodeStartError(
                f"port {self.ports.amqp} is taken: something listens there (another node?)"
            ) from exc
        except (ProcessExitedWithError, TimeoutExpired) as exc:
            raise NodeStartError(
                f"{self.nodename} did not start: {exc}\n{self.log_tail()}"
            ) from exc
        self._executor = executor
        if await_startup:
            # The node's own startup check: every boot step finished, not just the listener.
            self.ctl("await_startup", "--timeout", str(int(self.start_timeout_s)))
        return self

    def stop(self) -> None:
        """Stop gracefully (SIGTERM: the node closes connections and syncs its data)."""
        # take the executor first: a shutdown racing a failed boot must stop it only once
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.stop()

    def kill(self) -> None:
        """SIGKILL the node: no goodbye to clients, no clean shutdown of its data."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.kill()

    def running(self) -> bool:
        return self._executor is not None and self._executor.running()

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run rabbitmqctl against this node and return its output."""
        result = subprocess.run(
            [*self.launcher, self.ctl_path, "-n", self.nodename, *args],
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise NodeStartError(
                f"rabbitmqctl {' '.join(args)} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return f"(no log at {self.log_file})"
        return "\n".join(text[-lines:])

    # -- files -------------------------------------------------------------------------

    def _load_ports(self) -> NodePorts | None:
        try:
            data = json.loads((self.base_dir / "node.json").read_text())
            return NodePorts(**data["ports"])
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def _write_files(self) -> None:
        for sub in ("mnesia", "log", "home"):
            (self.base_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.base_dir / "node.json").write_text(
            json.dumps({"ports": asdict(self.ports), "nodename": self.nodename}, indent=2)
        )
        (self.base_dir / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"management.tcp.port = {self.ports.management}",
                    f"management.tcp.ip = {self.host}",
                    # guest may only log in over loopback, by default: the node listening
                    # on another address is there to be reached from elsewhere
                    *([] if self.host == HOST else ["loopback_users.guest = false"]),
                    "log.console = false",
                    "log.file.level = info",
                    # The sandbox's data directory may sit on a nearly full disk in CI;
                    # the default alarm threshold would block publishers there.
                    "disk_free_limit.absolute = 20MB",
                    *self.config,
                    "",
                ]
            )
        )
        plugins = ",".join(self.plugins)
        (self.base_dir / "enabled_plugins").write_text(f"[{plugins}].\n")
        # An empty env file keeps the machine's /etc/rabbitmq/rabbitmq-env.conf out.
        (self.base_dir / "rabbitmq-env.conf").write_text("")
        if self.cookie is not None:
            # Erlang refuses a cookie file that others can read; rabbitmqctl finds it too,
            # since it runs with the same HOME.
            cookie_file = self.base_dir / "home" / ".erlang.cookie"
            cookie_file.unlink(missing_ok=True)
            cookie_file.write_text(self.cookie)
            cookie_file.chmod(0o400)

    def _environment(self) -> dict[str, str]:
        base = self.base_dir
        return {
            "HOME": str(base / "home"),
            "RABBITMQ_NODENAME": self.nodename,
            "RABBITMQ_NODE_IP_ADDRESS": self.host,
            "RABBITMQ_NODE_PORT": str(self.ports.amqp),
            "RABBITMQ_DIST_PORT": str(self.ports.dist),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_PID_FILE": str(base / "node.pid"),
            "ERL_EPMD_ADDRESS": HOST,
            # Keep Erlang distribution on loopback like everything else the sandbox opens.
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                "-kernel inet_dist_use_interface {127,0,0,1} "
                + os.environ.get(ERL_ARGS_ENV, ERL_SCHEDULER_ARGS)
            ),
            "RUNNING_UNDER_SYSTEMD": "true",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }
