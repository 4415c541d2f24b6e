"""Broker provisioning: an external URL, a container, a private local node or a cluster.

A cluster, an external broker and the management API client are imported when first
asked for: the supervisor starts a private node before it loads what they need (requests
above all), so the node boots that much sooner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.broker.local import LocalNode, NodePorts, NodeStartError
from sandbox.broker.provision import (
    Broker,
    BrokerUnavailable,
    ContainerBroker,
    docker_available,
    provision,
    provision_cluster,
)
from sandbox.lazy import lazy_names

if TYPE_CHECKING:
    from sandbox.broker.admin import Admin, AdminError
    from sandbox.broker.cluster import LocalCluster
    from sandbox.broker.external import BrokerControlError, ExternalBroker

_LAZY = {
    "Admin": "admin",
    "AdminError": "admin",
    "LocalCluster": "cluster",
    "BrokerControlError": "external",
    "ExternalBroker": "external",
}

__getattr__ = lazy_names(__name__, _LAZY)


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
