"""pytest fixtures for users' own tests: one broker, a fresh vhost per test, the sandbox.

Installed as a pytest plugin (entry point ``payment_flow_sandbox``), so any project that
installs the sandbox gets these fixtures without imports.  Every name starts with
``sandbox_`` so that a project's own ``flow`` or ``topology`` does not hide them:

- ``sandbox_settings``: settings from the environment, state under a session temp dir.
- ``sandbox_broker``, ``sandbox_admin``: the session's one broker (the sandbox's own
  when the session uses the sandbox) and its management API.
- ``sandbox_vhost``: a fresh vhost for one test, deleted afterwards, topology not yet
  declared; ``sandbox_declared_vhost``: the same with the topology declared.
- ``sandbox_broker_settings``, ``sandbox_topology``: the names and delays a test uses.
- ``sandbox_event_tap``: the tap on the test's ``sandbox_declared_vhost``.
- ``sandbox_private_broker``: a factory for extra nodes a test may stop, kill, restart.
- ``sandbox_stack``: the whole running sandbox for the session (``SANDBOX_REUSE`` to
  attach to one already running); ``sandbox_flow``: a scenario ``Flow`` against it.

The contract gate (``sandbox.pytest_plugin.gate``) fails every test that touches the bus
(``sandbox_declared_vhost``, ``sandbox_event_tap``, ``sandbox_flow``, ``sandbox_stack``)
when a message on it broke its contract.  docs/pytest-plugin.md has an example of each.
"""

from __future__ import annotations

import pytest

from sandbox.pytest_plugin.broker import (
    Vhost,
    fresh_vhost,
    sandbox_admin,
    sandbox_broker,
    sandbox_broker_settings,
    sandbox_declared_vhost,
    sandbox_event_tap,
    sandbox_private_broker,
    sandbox_settings,
    sandbox_topology,
    sandbox_vhost,
)
from sandbox.pytest_plugin.gate import INI, MARKER
from sandbox.pytest_plugin.stack import (
    REUSE_ENV,
    REUSE_OPTION,
    _sandbox_stack_gate,
    running_sandbox,
    sandbox_flow,
    sandbox_stack,
)

__all__ = [
    "Vhost",
    "_sandbox_stack_gate",
    "fresh_vhost",
    "running_sandbox",
    "sandbox_admin",
    "sandbox_broker",
    "sandbox_broker_settings",
    "sandbox_declared_vhost",
    "sandbox_event_tap",
    "sandbox_flow",
    "sandbox_private_broker",
    "sandbox_settings",
    "sandbox_stack",
    "sandbox_topology",
    "sandbox_vhost",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        INI,
        "fail a test when a message it put on the bus violated its contract (default true)",
        default="true",
    )
    parser.getgroup("sandbox").addoption(
        REUSE_OPTION,
        nargs="?",
        const="1",
        default=None,
        metavar="STATE_DIR",
        help=f"attach to the sandbox running for STATE_DIR (default: SANDBOX_STATE_DIR or "
        f".sandbox), starting one left running when none is; also {REUSE_ENV}=1|DIR",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}: the test publishes contract-violating messages on purpose; the "
        "contract gate records them but does not fail the test",
    )
