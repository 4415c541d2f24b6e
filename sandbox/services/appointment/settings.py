"""The appointment service's settings, read from the environment once per process.

Everything it is told is the shared ``ServiceSettings`` under ``APPOINTMENT_*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from sandbox.services.common.settings import ServiceSettings


@dataclass(frozen=True)
class AppointmentSettings(ServiceSettings):
    """Where the appointment service listens, stores and finds the broker."""

    PREFIX: ClassVar[str] = "APPOINTMENT"

    port: int = 8002
    consumer_health_port: int = 8012
    relay_health_port: int = 8022
