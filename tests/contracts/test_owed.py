"""The table of what each event owes (contracts/notifications.yaml) against the events
the catalog knows and the templates the notifier can render."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.contracts import ContractRegistry
from sandbox.contracts.files import ContractLoadError
from sandbox.contracts.owed import EMAIL, WEBHOOK, owed, read_owed
from sandbox.services.notifier.rendering import TEMPLATES


def test_every_owed_email_is_a_known_event_with_a_template() -> None:
    table = owed()
    known = set(ContractRegistry.load().routing_keys())
    assert set(table.emails) <= known
    assert set(table.emails.values()) == set(TEMPLATES)


@pytest.mark.parametrize(
    ("routing_key", "merchant", "expected"),
    [
        ("payment.completed", True, [(EMAIL, "payment_succeeded"), (WEBHOOK, "merchant_callback")]),
        ("payment.completed", False, [(EMAIL, "payment_succeeded")]),
        ("payment.created", True, [(WEBHOOK, "merchant_callback")]),
        ("payment.created", False, []),
        ("appointment.confirmed", True, [(EMAIL, "appointment_confirmed")]),
        ("appointment.created", True, []),
        ("notification.sent", True, []),
    ],
)
def test_channels_for_follows_the_table(
    routing_key: str, merchant: bool, expected: list[tuple[str, str]]
) -> None:
    assert owed().channels_for(routing_key, merchant) == expected


def test_a_table_without_its_sections_is_refused_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notifications.yaml"
    path.write_text("emails: {}\n", encoding="utf-8")
    with pytest.raises(ContractLoadError, match="merchant_callback") as caught:
        read_owed(path)
    assert str(path) in str(caught.value)
