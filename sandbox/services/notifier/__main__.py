"""``python -m sandbox.services.notifier web|consumer|relay`` (``common.main``).

- ``web``: ``/health`` and ``GET /notifications`` under gunicorn on ``NOTIFIER_PORT``
  (default 8004);
- ``consumer``: consumes ``appointment_notifications`` and ``notifier_payment_events``,
  sends emails and merchant callbacks; ``GET /health`` on
  ``NOTIFIER_CONSUMER_HEALTH_PORT`` (default 8014);
- ``relay``: publishes ``notification.*`` from the outbox; ``GET /health`` on
  ``NOTIFIER_RELAY_HEALTH_PORT`` (default 8024).
"""

from __future__ import annotations

import atexit
import sys
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from sandbox.services.common import main as common
from sandbox.services.notifier import storage
from sandbox.services.notifier.settings import NotifierSettings
from sandbox.topology import NOTIFIER_SERVICE, build

if TYPE_CHECKING:
    from sandbox.services.notifier.handlers import Notifier
    from sandbox.services.notifier.smtp import SmtpMailer


def build_notifier(
    settings: NotifierSettings, store: storage.NotifierStore, mailer: SmtpMailer
) -> Notifier:
    """The real ports: SMTP, the merchant endpoint (when configured), the templates."""
    # imported here: only the consumer sends, so the web process and the relay start
    # without the templates, the HTTP client and the mailer
    from sandbox.services.notifier.handlers import Notifier
    from sandbox.services.notifier.merchant import MerchantClient
    from sandbox.services.notifier.rendering import EmailRenderer

    merchant = settings.merchant
    client = None
    if merchant.url and merchant.secret:
        client = MerchantClient(merchant.url, merchant.secret, merchant.timeout_s)
    return Notifier(
        store=store,
        mailer=mailer,
        renderer=EmailRenderer(),
        merchant=client,
        sender=settings.smtp.from_address,
        sender_domain=settings.smtp.sender_domain,
        support_email=settings.support_email,
        max_attempts=build(settings.broker).max_attempts,
    )


def consumer(settings: NotifierSettings, engine: Engine) -> common.Consumption:
    from sandbox.services.notifier.handlers import handle_event
    from sandbox.services.notifier.smtp import SmtpMailer

    mailer = SmtpMailer(settings.smtp)
    # The shared runner has no stop hook: the kept SMTP connections get their QUIT when
    # the process exits after its consumer stopped.
    atexit.register(mailer.close)
    notifier = build_notifier(settings, storage.NotifierStore(engine), mailer)
    broker = settings.broker
    return common.Consumption(
        [broker.notification_queue, broker.notifier_payment_queue],
        lambda message: handle_event(notifier, message),
    )


SERVICE = common.Service(
    NOTIFIER_SERVICE, NotifierSettings, storage.metadata, "sandbox.services.notifier.api", consumer
)
main = SERVICE.main

if __name__ == "__main__":
    sys.exit(main())
