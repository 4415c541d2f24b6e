"""Typed reads of service settings from the environment, with errors that name the variable.

Each service's ``settings.py`` builds its frozen settings object with these helpers in
its ``from_env()``; nothing else reads the environment.  The rules match
``sandbox.settings``: an unset or empty variable means the default, a bad value raises
``SettingsError`` naming the variable and what it expects.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sandbox.settings import env_flag, env_integer, env_number


def text(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(name) or default


def optional_text(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name) or None


integer = env_integer
number = env_number
flag = env_flag


# Request bodies past this size are refused with 413 (``<SERVICE>_MAX_BODY_BYTES``).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def max_body_bytes(env: Mapping[str, str], service: str) -> int:
    """``<SERVICE>_MAX_BODY_BYTES``: the largest request body the web process reads."""
    name = f"{service.upper()}_MAX_BODY_BYTES"
    return integer(env, name, DEFAULT_MAX_BODY_BYTES, minimum=1024)


def port(env: Mapping[str, str], name: str, default: int) -> int:
    return integer(env, name, default, minimum=0, maximum=65535)


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
