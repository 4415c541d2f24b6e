"""Reading a mock's settings: one frozen dataclass, one prefix of environment variables.

Each field of a mock's settings is read from ``<PREFIX><FIELD NAME IN CAPITALS>``
(``MOCK_SMTP_`` + ``smtp_port`` is ``MOCK_SMTP_SMTP_PORT``); an unset or empty variable
keeps the field's default.  The readers and ``SettingsError`` are the sandbox's own
(``sandbox.settings``), so a mock refuses a bad value in the same words as a service.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, TypeVar, get_type_hints

from sandbox.settings import SettingsError, env_flag, env_integer, env_number

__all__ = [
    "SettingsError",
    "check_log_level",
    "check_port",
    "env_flag",
    "env_integer",
    "env_list",
    "env_number",
    "env_text",
    "read_env",
]

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def env_text(env: Mapping[str, str], name: str, default: str) -> str:
    """A text variable; unset or empty means ``default``."""
    return env.get(name) or default


def env_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated list; blanks around and between items are dropped."""
    raw = env.get(name) or ""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def check_port(name: str, value: int) -> None:
    """Refuse a port outside 0-65535 (0: any free port)."""
    if not 0 <= value <= 65535:
        raise SettingsError(name, str(value), "a port between 0 and 65535")


def check_log_level(name: str, value: str) -> None:
    """Refuse a name that is not one of the logging module's levels."""
    if value not in LOG_LEVELS:
        raise SettingsError(name, value, " or ".join(LOG_LEVELS))


def read_env(cls: type[T], prefix: str, env: Mapping[str, str] | None = None) -> T:
    """Build ``cls`` from ``<prefix><FIELD>`` variables (text and integer fields)."""
    env = os.environ if env is None else env
    hints = get_type_hints(cls)
    given: dict[str, Any] = {}
    for field in fields(cls):  # type: ignore[arg-type]
        if not field.init:
            continue
        name = prefix + field.name.upper()
        if hints[field.name] is int:
            raw = env.get(name)
            if raw is not None and raw.strip() != "":
                given[field.name] = env_integer(env, name, 0, minimum=-(2**63))
        elif env.get(name):
            given[field.name] = env[name]
    return cls(**given)
