"""Find or start a RabbitMQ broker, in the order of SPEC section 6.

1. ``RABBITMQ_URL`` if set: a broker someone else runs (the sandbox cannot restart it).
2. A RabbitMQ container through testcontainers when a Docker engine answers.
3. A private node from the local ``rabbitmq-server`` binary (the default here).
4. Otherwise a ``BrokerUnavailable`` error that names the three ways to get a broker.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from sandbox.broker.local import GuestAddresses, LocalNode
from sandbox.settings import SandboxSettings

# A cluster, an external broker and the AMQP handshake are loaded when asked for: a
# private node starts before them (it checks its handshake only once it runs).


class BrokerUnavailable(RuntimeError):
    """No broker could be found or started."""


class Broker(Protocol):
    kind: str

    @property
    def url(self) -> str: ...

    @property
    def management_url(self) -> str | None: ...

    def url_for(self, vhost: str) -> str: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...

    def kill(self) -> None: ...

    def restart(self) -> None: ...

    def close(self) -> None: ...

    def info(self) -> dict[str, Any]: ...


class ContainerBroker(GuestAddresses):
    """A RabbitMQ management container started through testcontainers."""

    kind = "container"

    def __init__(self, image: str) -> None:
        from testcontainers.rabbitmq import RabbitMqContainer

        self._container = RabbitMqContainer(image)
        self._host = "127.0.0.1"
        self._port = 5672
        self._mgmt_port = 15672

    def start(self) -> ContainerBroker:
        self._container.with_exposed_ports(5672, 15672)
        self._container.start()  # readiness: testcontainers waits for an AMQP connection
        self._host = self._container.get_container_host_ip()
        self._port = int(self._container.get_exposed_port(5672))
        self._mgmt_port = int(self._container.get_exposed_port(15672))
        from sandbox.messaging import probe

        probe(self.url, timeout=5.0)
        return self

    def _listens_on(self) -> tuple[str, int, int]:
        return self._host, self._port, self._mgmt_port

    def stop(self) -> None:
        self._container.get_wrapped_container().stop()

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()

    def restart(self) -> None:
        self._container.get_wrapped_container().restart()

    def close(self) -> None:
        self._container.stop()

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url, "management_url": self.management_url}


def docker_available(timeout_s: float = 2.0) -> bool:
    """True when a Docker engine answers ``GET /_ping`` (an installed client is not enough)."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            if not Path(path).exists():
                return False
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: Any = path
        elif host.startswith("tcp://"):
            parts = urlsplit(host)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (parts.hostname or "127.0.0.1", parts.port or 2375)
        else:
            return False
        with sock:
            sock.settimeout(timeout_s)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
        return reply.startswith(b"HTTP/1.") and b" 200 " in reply
    except OSError:
        return False


def rabbitmq_server_binary(settings: SandboxSettings) -> str | None:
    """The rabbitmq-server to run: the configured one, else the one on PATH."""
    if settings.rabbitmq_server:
        return settings.rabbitmq_server
    found = shutil.which("rabbitmq-server")
    if found is None:
        return None
    # The Debian wrapper on PATH drops to the rabbitmq user; run the script it wraps.
    direct = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    return str(direct) if direct.exists() else found


UNAVAILABLE_HELP = """no RabbitMQ broker available. Get one in any of these three ways:
  1. point the sandbox at a running broker: export RABBITMQ_URL=amqp://guest:guest@HOST:5672/
  2. start a Docker engine (the sandbox then runs {image} through testcontainers)
  3. install RabbitMQ locally so that rabbitmq-server is on PATH
     (Debian/Ubuntu: apt-get install rabbitmq-server); the sandbox starts a private node"""


def chosen(
    settings: SandboxSettings, size: int = 1, name: str = "broker", *, own_vhost: str | None = None
) -> Broker:
    """The broker ``provision_cluster`` would start, chosen and configured but not started:
    its ports are known (``info()``) before it boots, so other processes can start
    beside it without taking them.  Sources in SPEC order: ``RABBITMQ_URL``, a container,
    a private node (``size`` > 1: a cluster of private nodes).  ``own_vhost``: the vhost
    to work in on a broker given by a URL that names none (``sandbox.broker.external``)."""
    url = settings.broker.url
    if size > 1 and url:
        raise BrokerUnavailable(
            f"--cluster {size} starts private nodes, but RABBITMQ_URL is set; unset it, or "
            "drop --cluster to use the broker it names"
        )
    if url:
        from sandbox.broker.external import ExternalBroker

        return ExternalBroker(url, settings.broker.management_url, own_vhost=own_vhost)
    if size == 1 and docker_available():
        return ContainerBroker(settings.rabbitmq_image)
    server = rabbitmq_server_binary(settings)
    if server is None:
        if size > 1:
            raise BrokerUnavailable(
                f"--cluster {size} needs rabbitmq-server installed locally "
                "(Debian/Ubuntu: apt-get install rabbitmq-server)"
            )
        raise BrokerUnavailable(UNAVAILABLE_HELP.format(image=settings.rabbitmq_image))
    ctl = str(Path(server).with_name("rabbitmqctl"))
    timeout = settings.broker_start_timeout_s
    if size == 1:
        return LocalNode(
            settings.state_dir / name,
            server=server,
            ctl=ctl,
            start_timeout_s=timeout,
            host=settings.host,
        )
    from sandbox.broker.cluster import LocalCluster

    return LocalCluster(
        settings.state_dir / name, size, server=server, ctl=ctl, start_timeout_s=timeout
    )


def start(broker: Broker) -> Broker:
    """Start a chosen broker; an external one that does not answer is ``BrokerUnavailable``,
    and no node of a half-formed cluster outlives a failed start."""
    try:
        started: Broker = broker.start()
        return started
    except BaseException as exc:
        from sandbox.messaging import BrokerConnectError

        if isinstance(exc, BrokerConnectError):
            url = broker.info().get("url")
            raise BrokerUnavailable(f"RABBITMQ_URL={url} does not answer: {exc}") from exc
        if broker.kind == "cluster":
            broker.kill()
        raise


def provision(settings: SandboxSettings, name: str = "broker") -> Broker:
    """Return a started broker, trying the sources in SPEC order."""
    return start(chosen(settings, 1, name))


def provision_cluster(settings: SandboxSettings, size: int, name: str = "broker") -> Broker:
    """Start ``size`` private nodes joined into one cluster; one node is ``provision()``.

    A cluster is always made of local nodes, the only kind the sandbox can kill and
    restart one at a time; a broker given by ``RABBITMQ_URL`` is someone else's.
    """
    return start(chosen(settings, size, name))
