"""The whole scenario catalog on PostgreSQL: the sandbox booted with ``DATABASE_URL``
naming a database of this module's own, as ``DATABASE_URL=... sandbox up`` does.

The URL carries a password, which the machine's server (trust auth) ignores, so that
the module can show it never reaches ``status``, the state file or a log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.control.state import SupervisorClient
from sandbox.pytest_plugin import running_sandbox
from sandbox.scenario.runner import discover
from tests.integration.cli_support import sandbox
from tests.postgres import fresh_postgres_database, tables

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CATALOG = discover()
SERVICES = ("payment", "appointment", "notifier")
PASSWORD = "not-a-real-password-7f3a"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database("sandbox_catalog") as url:
        yield url


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-on-postgresql")


@pytest.fixture(scope="module")
def sandbox_stack(postgres_url: str, state_dir: Path) -> Iterator[SupervisorClient]:
    """This module's sandbox, in place of the session's SQLite one for ``flow``."""
    with_password = postgres_url.replace("postgres@", f"postgres:{PASSWORD}@", 1)
    with running_sandbox(state_dir, env={"DATABASE_URL": with_password}) as client:
        yield client


def test_every_service_keeps_its_tables_in_the_database_given(sandbox_stack, postgres_url):
    names = tables(postgres_url)
    for service in SERVICES:
        assert any(name.startswith(f"{service}_") for name in names), (service, sorted(names))
    data = Path(sandbox_stack.state_file.state_dir) / "data"
    assert not list(data.glob("*.db")), "a service wrote SQLite files beside PostgreSQL"


def test_status_names_each_services_database_with_its_password_masked(
    sandbox_stack, postgres_url, state_dir
):
    masked = postgres_url.replace("postgres@", "postgres:***@", 1)
    report = sandbox(state_dir, "status", "--json")
    assert report.returncode == 0, report.stderr
    components = json.loads(report.stdout)["components"]
    for service in SERVICES:
        assert components[service]["database"] == masked, components[service]
    table = sandbox(state_dir, "status")
    for service in SERVICES:
        assert f"{service} database" in table.stdout and masked in table.stdout, table.stdout
    written = [state_dir / "state.json", *sorted((state_dir / "logs").glob("*.log"))]
    leaks = [path.name for path in written if PASSWORD in path.read_text(errors="replace")]
    assert not leaks and PASSWORD not in report.stdout + table.stdout, leaks


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_scenario(name, sandbox_flow):
    CATALOG[name].run(sandbox_flow)  # the contract gate checks every message it saw
