"""The state file is owner-only from its first byte, and what commands print is masked."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.control.stack import masked_url
from sandbox.control.state import StateFile, masked


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """umask 000: a file not created owner-only would be world-writable."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_file_is_created_owner_only_in_an_owner_only_directory(tmp_path, permissive_umask):
    state = StateFile(tmp_path / "new" / ".sandbox")

    state.write(status="starting", secrets={"webhook_secret": "whsec_x"})

    assert mode(state.path) == 0o600
    assert mode(state.state_dir) == 0o700
    assert state.read()["secrets"] == {"webhook_secret": "whsec_x"}


def test_an_existing_open_state_directory_is_closed_to_others(tmp_path, permissive_umask):
    directory = tmp_path / ".sandbox"
    directory.mkdir(mode=0o755)
    (directory / "state.json").write_text("{}")
    (directory / "state.json").chmod(0o644)
    state = StateFile(directory)

    state.update(status="ready")

    assert mode(directory) == 0o700
    assert mode(state.path) == 0o600


def test_state_file_is_never_seen_half_written(tmp_path):
    state = StateFile(tmp_path)
    state.write(components={})
    seen: list[dict[str, object]] = []
    done = threading.Event()

    def read_until_done() -> None:
        while not done.is_set():
            seen.append(state.read())

    reader = threading.Thread(target=read_until_done)
    reader.start()
    for n in range(200):
        state.set_component(f"c{n}", {"pid": n})
    done.set()
    reader.join(timeout=10)

    assert seen and all("components" in s for s in seen)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]  # no temp file left


def test_masked_hides_secrets_at_any_depth_and_keeps_everything_else():
    state = {
        "supervisor": {"pid": 7, "token": "t0ken", "control_url": "http://127.0.0.1:1"},
        "secrets": {"webhook_secret": "whsec_1", "merchant_secret": "m"},
        "components": {"payment": {"env": {"PROVIDER_API_KEY": "sk_1", "PORT": "8003"}}},
        "broker": {"nodes": [{"password": "p", "url": "amqp://h"}]},
    }

    shown = masked(state)

    assert shown == {
        "supervisor": {"pid": 7, "token": "***", "control_url": "http://127.0.0.1:1"},
        "secrets": "***",
        "components": {"payment": {"env": {"PROVIDER_API_KEY": "***", "PORT": "8003"}}},
        "broker": {"nodes": [{"password": "***", "url": "amqp://h"}]},
    }
    assert state["supervisor"]["token"] == "t0ken"  # the state itself is untouched


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://postgres:s3cret@127.0.0.1:5432/db",
            "postgresql://postgres:***@127.0.0.1:5432/db",
        ),
        (
            "postgresql+psycopg://u:p%40ss@db.internal/pay?sslmode=require",
            "postgresql+psycopg://u:***@db.internal/pay?sslmode=require",
        ),
        ("postgresql://u:p:q@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("postgresql://postgres@127.0.0.1:5432/db", "postgresql://postgres@127.0.0.1:5432/db"),
        ("sqlite:////srv/sandbox/data/payment.db", "sqlite:////srv/sandbox/data/payment.db"),
        ("postgresql//user:s3cret@host/db", "***"),  # written wrong: nothing of it
        ("http://[unclosed", "***"),
    ],
)
def test_a_database_url_is_shown_with_its_password_masked(url, shown):
    assert masked_url(url) == shown
