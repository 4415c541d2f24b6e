"""Entrypoints: ``python -m sandbox.services.notifier web|consumer|relay``.

- ``web``: ``/health`` and ``GET /notifications`` under gunicorn on ``NOTIFIER_PORT``
  (default 8004).
- ``consumer``: consumes ``appointment_notifications`` and ``notifier_payment_events``,
  sends emails and merchant callbacks; ``GET /health`` on
  ``NOTIFIER_CONSUMER_HEALTH_PORT`` (default 8014).
- ``relay``: publishes ``notification.*`` from the outbox; ``GET /health`` on
  ``NOTIFIER_RELAY_HEALTH_PORT`` (default 8024).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sandbox.services.common.runner import (
    broker_url,
    consume,
    open_engine,
    run_relay,
    service_main,
)
from sandbox.services.common.serve import serve
from sandbox.services.notifier import storage
from sandbox.services.notifier.api import create_app
from sandbox.services.notifier.handlers import Notifier, handle_event
from sandbox.services.notifier.mailer import SmtpMailer
from sandbox.services.notifier.merchant import MerchantClient
from sandbox.services.notifier.rendering import EmailRenderer
from sandbox.services.notifier.settings import NotifierSettings
from sandbox.services.notifier.storage import NotifierStore
from sandbox.topology import NOTIFIER_SERVICE, build


def web(settings: NotifierSettings) -> None:
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)  # once, before the fork; workers build their own engine
    engine.dispose()  # no pooled connection may be inherited by the forked workers
    serve(
        lambda: create_app(settings),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        threads=settings.threads,
        name=NOTIFIER_SERVICE,
    )


def build_notifier(settings: NotifierSettings, store: NotifierStore) -> Notifier:
    """The real ports: SMTP, the merchant endpoint (when configured), the templates."""
    merchant = settings.merchant
    client = None
    if merchant.url and merchant.secret:
        client = MerchantClient(merchant.url, merchant.secret, merchant.timeout_s)
    return Notifier(
        store=store,
        mailer=SmtpMailer(settings.smtp),
        renderer=EmailRenderer(),
        merchant=client,
        sender=settings.smtp.from_address,
        sender_domain=settings.smtp.sender_domain,
        support_email=settings.support_email,
        max_attempts=build(settings.broker).max_attempts,
    )


def consumer(settings: NotifierSettings) -> None:
    url = broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)
    notifier = build_notifier(settings, NotifierStore(engine))
    broker = settings.broker
    consume(
        service=NOTIFIER_SERVICE,
        url=url,
        broker=broker,
        queues=[broker.notification_queue, broker.notifier_payment_queue],
        handle=lambda message: handle_event(notifier, message),
        engine=engine,
        health_host=settings.host,
        health_port=settings.consumer_health_port,
    )


def relay(settings: NotifierSettings) -> None:
    broker_url(settings.broker)  # refuse to start without a broker, before any I/O
    engine = open_engine(settings.database_url)
    storage.create_schema(engine)
    run_relay(
        service=NOTIFIER_SERVICE,
        engine=engine,
        outbox=storage.outbox_rows,
        broker=settings.broker,
        health_host=settings.host,
        health_port=settings.relay_health_port,
    )


COMMANDS = {"web": web, "consumer": consumer, "relay": relay}


def main(argv: Sequence[str] | None = None) -> int:
    return service_main(NOTIFIER_SERVICE, COMMANDS, NotifierSettings.from_env, argv)


if __name__ == "__main__":
    sys.exit(main())
