"""Broker provisioning: an external URL, a container, a private local node or a cluster."""

from sandbox.broker.admin import Admin, AdminError
from sandbox.broker.cluster import LocalCluster
from sandbox.broker.external import BrokerControlError, ExternalBroker
from sandbox.broker.local import LocalNode, NodePorts, NodeStartError
from sandbox.broker.provision import (
    Broker,
    BrokerUnavailable,
    ContainerBroker,
    docker_available,
    provision,
    provision_cluster,
)

__all__ = [
    "Admin",
    "AdminError",
    "Broker",
    "BrokerControlError",
    "BrokerUnavailable",
    "ContainerBroker",
    "ExternalBroker",
    "LocalCluster",
    "LocalNode",
    "NodePorts",
    "NodeStartError",
    "docker_available",
    "provision",
    "provision_cluster",
]
