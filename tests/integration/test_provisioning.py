"""Broker provisioning order and its errors (SPEC section 6)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sandbox.broker import (
    BrokerControlError,
    BrokerUnavailable,
    ExternalBroker,
    LocalNode,
    NodePorts,
    NodeStartError,
    docker_available,
    provision,
)
from sandbox.settings import BrokerSettings, SandboxSettings

pytestmark = pytest.mark.integration


def test_without_url_docker_or_rabbitmq_server_the_error_names_three_ways(tmp_path, monkeypatch):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    settings = SandboxSettings(state_dir=tmp_path / "state", broker=BrokerSettings(url=None))

    with pytest.raises(BrokerUnavailable) as caught:
        provision(settings)

    message = str(caught.value)
    assert "RABBITMQ_URL" in message
    assert "Docker" in message
    assert "rabbitmq-server" in message and "apt-get install rabbitmq-server" in message
    assert not (tmp_path / "state" / "broker").exists(), "nothing should have been started"


def test_rabbitmq_url_that_does_not_answer_is_a_clear_error(tmp_path):
    settings = SandboxSettings(
        state_dir=tmp_path, broker=BrokerSettings(url="amqp://guest:guest@127.0.0.1:1/")
    )
    with pytest.raises(BrokerUnavailable, match=r"RABBITMQ_URL=amqp://guest:guest@127.0.0.1:1/"):
        provision(settings)


def test_rabbitmq_url_wins_over_starting_a_node(tmp_path, sandbox_broker):
    settings = SandboxSettings(state_dir=tmp_path, broker=BrokerSettings(url=sandbox_broker.url))
    broker = provision(settings)
    assert isinstance(broker, ExternalBroker)
    assert broker.url == sandbox_broker.url
    assert not any(tmp_path.iterdir()), "no private node should have been started"


def test_external_broker_refuses_restart_with_an_explanation(sandbox_broker):
    broker = ExternalBroker(sandbox_broker.url)
    with pytest.raises(BrokerControlError, match="unset RABBITMQ_URL"):
        broker.restart()


def test_private_node_is_the_default_without_url_and_docker(
    sandbox_broker, sandbox_settings, tmp_path_factory
):
    if sandbox_settings.broker.url or docker_available():
        pytest.skip("this run has RABBITMQ_URL or a Docker engine")
    assert sandbox_broker.kind == "local"
    info = sandbox_broker.info()
    # the session's own node, or its sandbox's: either way in this session's temp dir
    assert Path(info["data_dir"]).is_relative_to(tmp_path_factory.getbasetemp())
    assert info["ports"]["amqp"] != 5672, "must not reuse the machine's own broker port"


def test_a_private_node_refuses_an_amqp_port_something_listens_on(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        chosen = NodePorts.choose()
        node = LocalNode(tmp_path / "node", ports=NodePorts(port, chosen.management, chosen.dist))
        with pytest.raises(NodeStartError, match=f"port {port} is taken"):
            node.start()
        assert node.pid is None
