"""What each consumed event owes: the emails and merchant callbacks of
``contracts/notifications.yaml``, one table for the notifier that sends them and the
reconciliation that checks they were delivered."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.contracts.files import ContractLoadError, bundled_contracts_dir, load_yaml
from sandbox.topology import topic_matches

NOTIFICATIONS_FILE = "notifications.yaml"
EMAIL = "email"
WEBHOOK = "webhook"


@dataclass(frozen=True)
class Owed:
    emails: Mapping[str, str]  # routing key -> email template
    callback_template: str
    callback_pattern: str  # topic pattern of the events owed a merchant callback

    def channels_for(self, routing_key: str, merchant_configured: bool) -> list[tuple[str, str]]:
        """(channel, template) pairs an event with ``routing_key`` is owed, in sending order."""
        owed = []
        if routing_key in self.emails:
            owed.append((EMAIL, self.emails[routing_key]))
        if merchant_configured and topic_matches(self.callback_pattern, routing_key):
            owed.append((WEBHOOK, self.callback_template))
        return owed


def read_owed(path: Path) -> Owed:
    data = load_yaml(path)
    try:
        emails = data["emails"]
        callback = data["merchant_callback"]
        owed = Owed(
            emails={str(k): str(v) for k, v in emails.items()},
            callback_template=str(callback["template"]),
            callback_pattern=str(callback["routing_keys"]),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ContractLoadError(
            f"expected `emails` and `merchant_callback`: {exc!r}", path
        ) from exc
    return owed


@functools.cache
def owed() -> Owed:
    """The table the sandbox ships with."""
    return read_owed(bundled_contracts_dir() / NOTIFICATIONS_FILE)


def channels_for(routing_key: str, merchant_configured: bool) -> list[tuple[str, str]]:
    return owed().channels_for(routing_key, merchant_configured)
