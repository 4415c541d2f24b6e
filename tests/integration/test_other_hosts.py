"""The sandbox across hosts: a broker node in a network namespace of its own, with its own
address, and the services in this namespace reaching it over that address.

A namespace and a veth pair stand in for a second machine: the node listens only on the
namespace's address (nothing answers on this host's loopback), and the sandbox's own
processes bind the host's end of the pair (``SANDBOX_HOST``).  The test skips, saying
why, where namespaces cannot be made (not root, no ``ip``, no permission).
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sandbox.broker.local import LocalNode
from sandbox.pytest_plugin import running_sandbox
from sandbox.scenario.flow import Flow
from sandbox.scenario.runner import discover

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Namespace:
    name: str
    host_address: str  # this host's end of the veth pair
    address: str  # the namespace's end


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def namespace() -> Iterator[Namespace]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's `ip`")
    tag = uuid.uuid4().hex[:6]
    subnet = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"
    made = Namespace(f"sandbox-{tag}", f"{subnet}.1", f"{subnet}.2")
    outer, inner = f"vsb{tag}", f"vns{tag}"
    steps = [
        ("netns", "add", made.name),
        ("link", "add", outer, "type", "veth", "peer", "name", inner),
        ("link", "set", inner, "netns", made.name),
        ("addr", "add", f"{made.host_address}/24", "dev", outer),
        ("link", "set", outer, "up"),
        ("-n", made.name, "addr", "add", f"{made.address}/24", "dev", inner),
        ("-n", made.name, "link", "set", inner, "up"),
        ("-n", made.name, "link", "set", "lo", "up"),
    ]
    try:
        for step in steps:
            done = _ip(*step)
            if done.returncode:
                pytest.skip(f"cannot make a network namespace: ip {' '.join(step)}: {done.stderr}")
        yield made
    finally:
        _ip("link", "del", outer)
        _ip("netns", "del", made.name)


@pytest.fixture(scope="module")
def remote_node(
    namespace: Namespace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalNode]:
    node = LocalNode(
        tmp_path_factory.mktemp("remote-broker"),
        host=namespace.address,
        launcher=("ip", "netns", "exec", namespace.name),
    )
    node.start()
    try:
        yield node
    finally:
        node.destroy()


def test_the_node_answers_only_on_its_own_address(remote_node, namespace):
    assert urlsplit(remote_node.url).hostname == namespace.address
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", remote_node.ports.amqp), timeout=1).close()
    socket.create_connection((namespace.address, remote_node.ports.amqp), timeout=5).close()


def test_a_happy_path_passes_with_the_broker_on_another_address(remote_node, namespace, tmp_path):
    env = {"RABBITMQ_URL": remote_node.url, "SANDBOX_HOST": namespace.host_address}
    with running_sandbox(tmp_path / "sandbox", env=env) as client:
        state = client.state()
        assert urlsplit(state["broker"]["url"]).hostname == namespace.address
        endpoints = [c["health_url"] for c in state["components"].values()]
        assert all(urlsplit(url).hostname == namespace.host_address for url in endpoints)
        with Flow(state, client, "other-hosts") as flow:
            discover()["happy-path"].run(flow)
            assert not flow.tap.violations()


def test_nothing_of_the_sandbox_listens_on_loopback_when_told_another_host(tmp_path: Path):
    # the plan alone: every bind and dial of every process names SANDBOX_HOST
    from sandbox.control import stack

    ports = stack.choose_ports(prefer=False, scale={"payment": 2})
    keys = stack.new_secrets()
    plan = stack.plan(
        state_dir=tmp_path,
        broker_url="amqp://guest:guest@10.0.0.9:5672/",
        ports=ports,
        keys=keys,
        scale={"payment": 2},
        host="10.0.0.5",
    )
    for component in plan:
        text = " ".join([*component.args, *component.env.values(), component.health_url or ""])
        assert "127.0.0.1" not in text and "localhost" not in text, component.name
