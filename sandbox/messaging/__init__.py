"""The messaging adapter: the only package that talks AMQP (through pika).

Everything else uses these names: ``Publisher`` to publish events with confirms,
``Consumer`` to consume with retries and dead-lettering, ``OutgoingMessage`` and
``IncomingMessage`` for the events themselves (the codec, ``sandbox.messaging.envelope``).

The names load on first use, so a process that only builds or reads messages (a web
worker writing its outbox) never imports pika.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_HOMES = {
    "BrokerConnectError": "connection",
    "connect": "connection",
    "declare_topology": "connection",
    "ensure_topology": "connection",
    "probe": "connection",
    "split_urls": "connection",
    "Consumer": "consumer",
    "ConsumerStats": "consumer",
    "PermanentError": "consumer",
    "Envelope": "envelope",
    "IncomingMessage": "envelope",
    "OutgoingMessage": "envelope",
    "new_id": "envelope",
    "NackedError": "publisher",
    "Publisher": "publisher",
    "PublishError": "publisher",
    "UnconfirmedError": "publisher",
    "UnpublishableError": "publisher",
    "UnroutableError": "publisher",
    "check_encodable": "publisher",
}

__all__ = [
    "BrokerConnectError",
    "Consumer",
    "ConsumerStats",
    "Envelope",
    "IncomingMessage",
    "NackedError",
    "OutgoingMessage",
    "PermanentError",
    "PublishError",
    "Publisher",
    "UnconfirmedError",
    "UnpublishableError",
    "UnroutableError",
    "check_encodable",
    "connect",
    "declare_topology",
    "ensure_topology",
    "new_id",
    "probe",
    "split_urls",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)


if TYPE_CHECKING:
    from sandbox.messaging.connection import (
        BrokerConnectError,
        connect,
        declare_topology,
        ensure_topology,
        probe,
        split_urls,
    )
    from sandbox.messaging.consumer import Consumer, ConsumerStats, PermanentError
    from sandbox.messaging.envelope import Envelope, IncomingMessage, OutgoingMessage, new_id
    from sandbox.messaging.publisher import (
        NackedError,
        Publisher,
        PublishError,
        UnconfirmedError,
        UnpublishableError,
        UnroutableError,
        check_encodable,
    )
