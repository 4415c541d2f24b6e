"""Broker provisioning: an external URL, a container, or a private local node."""

from sandbox.broker.admin import Admin, AdminError
from sandbox.broker.local import LocalNode, NodePorts, NodeStartError
from sandbox.broker.provision import (
    Broker,
    BrokerControlError,
    BrokerUnavailable,
    ContainerBroker,
    ExternalBroker,
    docker_available,
    provision,
)

__all__ = [
    "Admin",
    "AdminError",
    "Broker",
    "BrokerControlError",
    "BrokerUnavailable",
    "ContainerBroker",
    "ExternalBroker",
    "LocalNode",
    "NodePorts",
    "NodeStartError",
    "docker_available",
    "provision",
]
