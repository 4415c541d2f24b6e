"""Typed reads of service settings from the environment, with errors that name the variable.

Each service's ``settings.py`` builds its frozen settings object with these helpers in
its ``from_env()``; nothing else reads the environment.  The rules match
``sandbox.settings``: an unset or empty variable means the default, a bad value raises
``SettingsError`` naming the variable and what it expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sandbox.settings import SettingsError

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name) or default


def optional_text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


def integer(
    env: Mapping[str, str], name: str, default: int, minimum: int = 0, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, raw, "an integer") from None
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
        raise SettingsError(name, raw, f"an integer {bounds}")
    return value


def port(env: Mapping[str, str], name: str, default: int) -> int:
    return integer(env, name, default, minimum=0, maximum=65535)


def number(env: Mapping[str, str], name: str, default: float, minimum: float = 0.0) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, raw, "a number") from None
    if value < minimum:
        raise SettingsError(name, raw, f"a number >= {minimum:g}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise SettingsError(name, raw, "true or false")


def state_dir(env: Mapping[str, str]) -> Path:
    return Path(env.get("SANDBOX_STATE_DIR") or ".sandbox").resolve()


def database_url(env: Mapping[str, str], service: str) -> str:
    """``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL``, else SQLite in the state dir.

    Tables are prefixed with the service name, so one shared ``DATABASE_URL`` works.
    """
    specific = env.get(f"{service.upper()}_DATABASE_URL")
    if specific:
        return specific
    shared = env.get("DATABASE_URL")
    if shared:
        return shared
    return f"sqlite:///{state_dir(env) / f'{service}.db'}"
