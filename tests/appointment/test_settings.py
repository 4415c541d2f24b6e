"""The appointment service's settings: defaults, overrides and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.services.appointment.settings import AppointmentSettings
from sandbox.settings import SettingsError


def test_defaults_use_port_8002_and_a_sqlite_file_in_the_state_dir(tmp_path: Path) -> None:
    settings = AppointmentSettings.from_env({"SANDBOX_STATE_DIR": str(tmp_path)})
    assert settings.port == 8002
    assert settings.database_url == f"sqlite:///{tmp_path / 'appointment.db'}"
    assert settings.default_tenant == "default"
    assert settings.broker.payment_queue == "payment_events"


def test_service_database_url_wins_over_the_shared_one() -> None:
    env = {
        "DATABASE_URL": "postgresql://shared/db",
        "APPOINTMENT_DATABASE_URL": "postgresql://own/db",
    }
    assert AppointmentSettings.from_env(env).database_url == "postgresql://own/db"
    del env["APPOINTMENT_DATABASE_URL"]
    assert AppointmentSettings.from_env(env).database_url == "postgresql://shared/db"


def test_every_port_can_be_overridden() -> None:
    settings = AppointmentSettings.from_env(
        {
            "APPOINTMENT_PORT": "9002",
            "APPOINTMENT_CONSUMER_HEALTH_PORT": "9012",
            "APPOINTMENT_RELAY_HEALTH_PORT": "9022",
            "RABBITMQ_RETRY_DELAYS_MS": "10,20",
        }
    )
    assert (settings.port, settings.consumer_health_port, settings.relay_health_port) == (
        9002,
        9012,
        9022,
    )
    assert settings.broker.retry_delays_ms == (10, 20)


def test_a_bad_port_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="APPOINTMENT_PORT"):
        AppointmentSettings.from_env({"APPOINTMENT_PORT": "eighty"})


def test_the_consumer_handles_one_payment_event_at_a_time_unless_told_otherwise() -> None:
    assert AppointmentSettings.from_env({}).consumer_concurrency == 1
    settings = AppointmentSettings.from_env({"APPOINTMENT_CONSUMER_CONCURRENCY": "8"})
    assert settings.consumer_concurrency == 8
