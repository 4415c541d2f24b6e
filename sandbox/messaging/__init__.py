"""The messaging adapter: the only package that talks AMQP (through pika).

Everything else uses these names: ``Publisher`` to publish events with confirms,
``Consumer`` to consume with retries and dead-lettering, ``OutgoingMessage`` and
``IncomingMessage`` for the events themselves.
"""

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
