"""The registry's lookups agree with SPEC section 3, and loading is cached and lazy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.contracts import ContractLoadError, ContractRegistry, default_contracts_dir
from tests.contracts.helpers import REPO_CONTRACTS, edit_yaml

SPEC_TABLE = {
    "payment.created": ("PAYMENT_CREATED", "payment-service"),
    "payment.completed": ("PAYMENT_COMPLETED", "payment-service"),
    "payment.failed": ("PAYMENT_FAILED", "payment-service"),
    "payment.refunded": ("PAYMENT_REFUNDED", "payment-service"),
    "payment.cancelled": ("PAYMENT_CANCELLED", "payment-service"),
    "appointment.created": ("APPOINTMENT_CREATED", "appointment-service"),
    "appointment.confirmed": ("APPOINTMENT_CONFIRMED", "appointment-service"),
    "appointment.cancelled": ("APPOINTMENT_CANCELLED", "appointment-service"),
    "notification.sent": ("NOTIFICATION_SENT", "notifier-service"),
    "notification.failed": ("NOTIFICATION_FAILED", "notifier-service"),
}


def test_routing_keys_are_exactly_those_of_the_spec(registry: ContractRegistry) -> None:
    assert set(registry.routing_keys()) == set(SPEC_TABLE)


@pytest.mark.parametrize(("routing_key", "expected"), SPEC_TABLE.items())
def test_type_and_producer_follow_the_spec_table(
    registry: ContractRegistry, routing_key: str, expected: tuple[str, str]
) -> None:
    event_type, producer = expected
    assert registry.type_for(routing_key) == event_type
    assert registry.routing_key_for_type(event_type) == routing_key
    assert registry.producer_for(routing_key) == producer


def test_payment_events_reach_the_appointment_service_and_the_notifier(
    registry: ContractRegistry,
) -> None:
    assert registry.consumers_of("payment.refunded") == ("appointment-service", "notifier-service")


def test_appointment_events_reach_only_the_notifier(registry: ContractRegistry) -> None:
    assert registry.consumers_of("appointment.cancelled") == ("notifier-service",)


def test_notification_events_have_no_consuming_service(registry: ContractRegistry) -> None:
    assert registry.consumers_of("notification.sent") == ()


def test_schema_for_returns_a_copy_the_caller_may_change(registry: ContractRegistry) -> None:
    registry.schema_for("payment.completed")["required"].clear()
    assert "paymentId" in registry.schema_for("payment.completed")["required"]


def test_bundled_schema_has_no_references_left(registry: ContractRegistry) -> None:
    assert "$ref" not in str(registry.bundled_schema("payment.failed"))


def test_loading_the_same_directory_twice_returns_the_cached_registry() -> None:
    assert ContractRegistry.load(REPO_CONTRACTS) is ContractRegistry.load(REPO_CONTRACTS / ".")


def test_default_directory_is_the_repository_contracts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_CONTRACTS_DIR", raising=False)
    assert default_contracts_dir().resolve() == REPO_CONTRACTS


def test_environment_overrides_the_default_directory(
    monkeypatch: pytest.MonkeyPatch, contracts_copy: Path
) -> None:
    monkeypatch.setenv("SANDBOX_CONTRACTS_DIR", str(contracts_copy))
    assert ContractRegistry.load().contracts_dir == contracts_copy.resolve()


def test_a_missing_directory_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(ContractLoadError, match="does not exist"):
        ContractRegistry.load(tmp_path / "nowhere")


def test_a_routing_key_without_producer_is_a_load_error(contracts_copy: Path) -> None:
    def drop_sender(doc: dict) -> None:
        del doc["operations"]["paymentService_sendPaymentFailed"]

    edit_yaml(contracts_copy / "asyncapi.yaml", drop_sender)
    with pytest.raises(ContractLoadError, match=r"payment\.failed"):
        ContractRegistry.load(contracts_copy)


def test_importing_the_package_reads_no_contract_file(tmp_path: Path) -> None:
    env = {**os.environ, "SANDBOX_CONTRACTS_DIR": str(tmp_path / "absent")}
    code = "import sandbox.contracts, sys; assert 'faker' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
