"""The appointment service's settings, read from the environment once per process.

Everything it is told is the shared ``ServiceSettings`` under ``APPOINTMENT_*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sandbox.services.common.settings import ServiceSettings
from sandbox.settings import SERVICE_PORTS


@dataclass(frozen=True)
class AppointmentSettings(ServiceSettings):
    """Where the appointment service listens, stores and finds the broker."""

    PREFIX: ClassVar[str] = "APPOINTMENT"

    port: int = SERVICE_PORTS["appointment"]
    consumer_health_port: int = SERVICE_PORTS["appointment-consumer"]
    relay_health_port: int = SERVICE_PORTS["appointment-relay"]
