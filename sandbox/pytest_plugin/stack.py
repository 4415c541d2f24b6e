"""Fixtures for the whole sandbox: one per session (or a running one reused) and a flow.

``SANDBOX_REUSE=1`` (or ``pytest --sandbox-reuse``) attaches to the sandbox running for
``SANDBOX_STATE_DIR`` (default ``.sandbox``); a path instead of ``1`` names another
state directory.  When none runs there, the first session starts one and leaves it
running for the next: sessions after that start in about a second.  Without reuse the
session starts its own sandbox on random ports and stops it at the end.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from sandbox.control.state import SupervisorClient
from sandbox.messaging.tap import EventTap
from sandbox.pytest_plugin import gate
from sandbox.scenario.flow import Flow
from sandbox.settings import BrokerSettings, SandboxSettings
from sandbox.topology import build
from sandbox.waiting import wait_for

REUSE_ENV = "SANDBOX_REUSE"
REUSE_OPTION = "--sandbox-reuse"
_OFF = ("", "0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def reuse_dir(config: pytest.Config) -> Path | None:
    """The state directory of the sandbox to reuse, or None to run one for the session."""
    value = config.getoption(REUSE_OPTION, default=None)
    if value is None:
        value = os.environ.get(REUSE_ENV, "")
    value = str(value).strip()
    if value.lower() in _OFF:
        return None
    if value.lower() in _ON:
        return SandboxSettings.from_env().state_dir.resolve()
    return Path(value).expanduser().resolve()


@contextlib.contextmanager
def running_sandbox(
    state_dir: Path,
    profile: str = "dev",
    env: Mapping[str, str] | None = None,
    scale: Mapping[str, int] | None = None,
) -> Iterator[SupervisorClient]:
    """A whole sandbox in ``state_dir`` for a ``with`` block; the test fails, with the end
    of the supervisor's log, when it does not start.  Random ports: test sessions running
    side by side must not race for the usual ones.  ``env`` adds to its processes'
    environment (e.g. ``DATABASE_URL``); ``scale`` runs replicas (``sandbox up --scale``)."""
    from sandbox.control import lifecycle

    if lifecycle.up(state_dir, profile=profile, random_ports=True, env=env, scale=scale) != 0:
        _fail_to_start(state_dir)
    try:
        yield SupervisorClient(state_dir)
    finally:
        lifecycle.down(state_dir)


def _fail_to_start(state_dir: Path) -> None:
    from sandbox.control import lifecycle

    log = state_dir / "logs" / "supervisor.log"
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    lifecycle.down(state_dir)
    pytest.fail(f"sandbox did not start:\n{tail}", pytrace=False)


def attach(state_dir: Path) -> SupervisorClient:
    """The sandbox running for ``state_dir``, started (and left running) when none is.

    A lock file beside the state serialises sessions that start at once (pytest-xdist
    workers): the first starts the sandbox, the others find it running."""
    from sandbox.control import lifecycle
    from sandbox.control.ownership import supervisor_running
    from sandbox.control.state import StateFile

    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / ".reuse.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = StateFile(state_dir).read()
        running = bool(state) and supervisor_running(state)
        if not running and lifecycle.up(state_dir, random_ports=True) != 0:
            _fail_to_start(state_dir)
    client = SupervisorClient(state_dir)
    # a sandbox another session is starting: wait for it rather than fail
    wait_for(
        lambda: client.state().get("status") == "ready",
        timeout=240,
        what=f"the sandbox in {state_dir} to be ready",
        seen=lambda: client.state().get("status"),
    )
    return client


@pytest.fixture(scope="session")
def sandbox_stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SupervisorClient]:
    """The whole sandbox for the session, as a ``SupervisorClient``: started for the
    session and stopped at its end, or a running one attached to (``SANDBOX_REUSE``)."""
    reused = reuse_dir(request.config)
    if reused is not None:
        yield attach(reused)
        return
    with running_sandbox(tmp_path_factory.mktemp("sandbox-stack")) as client:
        yield client


@pytest.fixture
def sandbox_flow(sandbox_stack: SupervisorClient, request: pytest.FixtureRequest) -> Iterator[Flow]:
    """A scenario ``Flow`` (own correlation id, tenant and tap) against ``sandbox_stack``;
    the contract gate checks what its tap saw."""
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    with Flow(sandbox_stack.state(), sandbox_stack, name) as current:
        yield current
        current.tap.settle()  # what the test published, the gate sees
    gate.check(current.tap, request)


@pytest.fixture(autouse=True)
def _sandbox_stack_gate(request: pytest.FixtureRequest) -> Iterator[None]:
    """The contract gate for a test that uses ``sandbox_stack`` without a flow."""
    names = request.fixturenames
    if (
        "sandbox_stack" not in names
        or "sandbox_flow" in names
        or not gate.gate_enabled(request.config)
    ):
        yield
        return
    stack: SupervisorClient = request.getfixturevalue("sandbox_stack")
    url = str((stack.state().get("broker") or {}).get("url"))
    tap = EventTap(
        url, build(BrokerSettings.from_env()), validator=gate.validator(), name="contract-gate"
    ).start()
    try:
        yield
    finally:
        tap.settle()  # what the test published, the gate sees
        tap.stop()
    gate.check(tap, request)
