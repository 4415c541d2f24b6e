"""The package as a user gets it: a wheel built from the sdist, installed (not editable)
into a fresh virtualenv outside the checkout, and used from a folder of its own.

Run alone with ``pytest -m packaging``.  About 70 s: the build (6 s), the install from
pip's cache (25 s), a whole sandbox up and down (20 s) and a user project's tests on a
broker of their own (20 s).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = [pytest.mark.packaging, pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHIPPED = {"contracts": ("*.json", "*.yaml", "*.md"), "scenarios": ("*.py",)}
# What pip prints about this machine's own index configuration, not about the package.
PIP_LOCAL_NOISE = re.compile(r"Location '.*' is ignored|Looking in (indexes|links)")
# Whatever in the environment would point the installed package back at the checkout.
LEAKY_ENV = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")


@dataclass(frozen=True)
class Installed:
    """A virtualenv with the wheel in it and a working folder outside the checkout."""

    venv: Path
    cwd: Path
    env: dict[str, str]
    install_output: str

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return run(list(args), cwd=self.cwd, env={**self.env, **env}, timeout=timeout, check=check)


def run(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float, check: bool = True
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(args)} still running after {timeout:.0f} s: {exc.output!r}")
    if check and done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode} in {cwd}\n"
            f"--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}",
            pytrace=False,
        )
    return done


def clean_env(state_dir: Path) -> dict[str, str]:
    """This process's environment without anything that leads back to the checkout: no
    ``SANDBOX_*`` (``SANDBOX_CONTRACTS_DIR`` would), no pytest or virtualenv variables."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in LEAKY_ENV and not k.startswith(("SANDBOX_", "PYTEST_"))
    }
    env["SANDBOX_STATE_DIR"] = str(state_dir)
    return env


@pytest.fixture(scope="module")
def build_output(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The folder with the sdist and the wheel, and what the build printed."""
    out = tmp_path_factory.mktemp("dist")
    # sdist first, then the wheel from the sdist: what an index would serve.
    done = run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(REPO)],
        cwd=out,
        env=clean_env(out / "state"),
        timeout=300,
    )
    return out, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel(build_output: tuple[Path, str]) -> Path:
    [built] = build_output[0].glob("*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("user")
    assert REPO not in root.parents, "the test folder must lie outside the checkout"
    venv, cwd = root / "venv", root / "work"
    cwd.mkdir()
    env = clean_env(root / "sandbox-state")
    run([sys.executable, "-m", "venv", str(venv)], cwd=root, env=env, timeout=120)
    # pytest for the user project below; the package itself does not need it.
    done = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel), "pytest"],
        cwd=root,
        env=env,
        timeout=600,
    )
    return Installed(venv, cwd, env, done.stdout + done.stderr)


def repo_files(folder: str) -> set[str]:
    return {
        str(p.relative_to(REPO))
        for pattern in SHIPPED[folder]
        for p in (REPO / folder).rglob(pattern)
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_the_wheel_carries_contracts_scenarios_and_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in SHIPPED:
        shipped = {
            n.removeprefix("sandbox/_data/") for n in names if n.startswith("sandbox/_data/")
        }
        missing = repo_files(folder) - shipped
        assert not missing, f"{folder}/ files missing from the wheel: {sorted(missing)}"
    for data in (
        "loadtests/plans/process-kills.yaml",
        "sandbox/contracts/meta/asyncapi-3.0.0.schema.json",
        "sandbox/services/notifier/templates/payment_succeeded.html",
    ):
        assert data in names


def test_building_the_package_warns_of_nothing(build_output: tuple[Path, str]) -> None:
    # setuptools reports a deprecated setting (the licence as a table, say) this way
    said = [line for line in build_output[1].splitlines() if re.search(r"(?i)deprecat", line)]
    assert not said, "the build printed:\n" + "\n".join(said)


def test_installing_and_importing_the_package_warn_of_nothing(installed: Installed) -> None:
    said = [
        line
        for line in installed.install_output.splitlines()
        if line.strip() and not PIP_LOCAL_NOISE.search(line)
    ]
    assert not said, "pip install printed:\n" + "\n".join(said)
    # every module of the two packages a user imports (loadtests needs the load extra)
    every_module = (
        "import importlib, pkgutil, sandbox, mocks\n"
        "for package in (sandbox, mocks):\n"
        "    for m in pkgutil.walk_packages(package.__path__, package.__name__ + '.'):\n"
        "        if not m.name.endswith('__main__'):\n"
        "            importlib.import_module(m.name)\n"
        "print(sandbox.__file__)\n"
    )
    done = installed.run(installed.bin("python"), "-W", "error", "-c", every_module)
    assert done.stderr == ""
    assert Path(done.stdout.strip()).is_relative_to(installed.venv), done.stdout


def test_contracts_check_passes_with_the_installed_contracts(installed: Installed) -> None:
    done = installed.run(installed.bin("sandbox"), "contracts", "check", "--json")
    report = json.loads(done.stdout)
    assert Path(report["contracts_dir"]).is_relative_to(installed.venv)
    assert [c["name"] for c in report["checks"] if c["status"] != "passed"] == []


def test_scenario_list_shows_the_whole_catalog(installed: Installed) -> None:
    done = installed.run(installed.bin("sandbox"), "scenario", "list")
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.strip()}
    expected = {Path(name).stem.replace("_", "-") for name in repo_files("scenarios")}
    assert listed == expected


def test_sandbox_up_runs_the_happy_path_and_down_stops_everything(
    installed: Installed,
) -> None:
    sandbox = installed.bin("sandbox")
    try:
        installed.run(sandbox, "up", "--random-ports", timeout=180)
        done = installed.run(sandbox, "scenario", "run", "happy-path", timeout=120)
        assert "happy-path" in done.stdout
    finally:
        down = installed.run(sandbox, "down", timeout=120, check=False)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "no process left" in down.stdout


USER_TEST = """
import pytest

from sandbox.contracts import example_body
from sandbox.messaging import OutgoingMessage, Publisher


@pytest.fixture
def topology():
    return "the project's own fixture, which the plugin's must not hide or be hidden by"


def publish(vhost, topology, body):
    with Publisher(vhost.url, topology.exchange.name) as publisher:
        publisher.publish(
            OutgoingMessage.event("payment.completed", body, producer="payment-service")
        )


def test_a_valid_event_reaches_the_tap(sandbox_declared_vhost, sandbox_topology, sandbox_event_tap):
    body = example_body("payment.completed", paymentId="p-1")
    publish(sandbox_declared_vhost, sandbox_topology, body)
    [record] = sandbox_event_tap.expect(routing_key="payment.completed")
    assert record.json()["paymentId"] == "p-1"


def test_an_event_off_its_contract(sandbox_declared_vhost, sandbox_topology, topology):
    assert topology.startswith("the project's own")
    body = example_body("payment.completed")
    body["amount"] = "75.00"          # a string where the contract says number
    publish(sandbox_declared_vhost, sandbox_topology, body)
"""


def test_a_user_projects_tests_use_the_plugins_fixtures_and_gate(installed: Installed) -> None:
    project = installed.cwd / "user-project"
    (project / "tests").mkdir(parents=True)
    (project / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (project / "tests" / "test_payments.py").write_text(USER_TEST)
    done = run(
        [installed.bin("pytest"), "-p", "no:cacheprovider"],
        cwd=project,
        env=installed.env,
        timeout=180,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output  # the off-contract event fails its test's teardown
    assert re.search(r"\b2 passed, 1 error\b", output), output
    assert "contract gate: messages on the bus violated their contracts" in output
    assert "$.amount" in output
