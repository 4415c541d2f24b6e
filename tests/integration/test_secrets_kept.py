"""A running sandbox keeps its secrets: not on command lines, not in what commands print,
not in files others can read, and its control API answers only its token's bearer."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from sandbox.control.ownership import recorded
from sandbox.control.state import SupervisorClient

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def state_dir_of(client: SupervisorClient) -> Path:
    return client.state_file.state_dir


def secret_values(client: SupervisorClient) -> dict[str, str]:
    state = client.state()
    values = {**state["secrets"], "supervisor token": state["supervisor"]["token"]}
    assert len(values) == 4 and all(len(v) >= 20 for v in values.values()), values.keys()
    return values


def sandbox_processes(client: SupervisorClient) -> list[psutil.Process]:
    """Every process the sandbox started and every process those started in turn."""
    found: dict[int, psutil.Process] = {}
    for _name, record in recorded(client.state()):
        try:
            process = psutil.Process(int(record["pid"]))
            for each in [process, *process.children(recursive=True)]:
                found[each.pid] = each
        except psutil.NoSuchProcess:
            continue
    return list(found.values())


def sandbox_cli(client: SupervisorClient, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "SANDBOX_STATE_DIR": str(state_dir_of(client))}
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_secret_is_on_the_command_line_of_any_sandbox_process(sandbox_stack):
    secrets = secret_values(sandbox_stack)
    processes = sandbox_processes(sandbox_stack)
    # supervisor, broker node and the 12 components at least, gunicorn workers besides
    assert len(processes) >= 14, [p.pid for p in processes]

    leaks = []
    for process in processes:
        try:
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a gunicorn worker recycled meanwhile
        leaks += [
            f"{process.pid} {cmdline[:60]!r}: {name}"
            for name, value in secrets.items()
            if value.encode() in cmdline
        ]
    assert leaks == []


def test_the_merchant_secret_reaches_both_ends_through_the_environment(sandbox_stack):
    secret = secret_values(sandbox_stack)["merchant_secret"]
    components = sandbox_stack.state()["components"]

    merchant = psutil.Process(components["merchant"]["pid"]).environ()
    notifier = psutil.Process(components["notifier-consumer"]["pid"]).environ()

    assert merchant["MOCK_MERCHANT_SECRET"] == secret
    assert notifier["MERCHANT_CALLBACK_SECRET"] == secret


def test_state_file_and_its_directory_are_owner_only(sandbox_stack):
    path = sandbox_stack.state_file.path

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_status_shows_no_secret(sandbox_stack):
    secrets = secret_values(sandbox_stack)

    as_json = sandbox_cli(sandbox_stack, "status", "--json")
    as_text = sandbox_cli(sandbox_stack, "status")

    shown = json.loads(as_json.stdout)
    assert shown["secrets"] == "***"
    assert shown["supervisor"]["token"] == "***"
    assert shown["components"]["merchant"]["pid"]  # the rest is all there
    for output in (as_json.stdout + as_json.stderr, as_text.stdout + as_text.stderr):
        assert [name for name, value in secrets.items() if value in output] == []


def assert_refused(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    body = response.json()
    assert set(body) == {"error", "timestamp"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == "UNAUTHORIZED"
    assert "Authorization: Bearer" in body["error"]["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Bearer " + "é" * 43},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
    ],
    ids=["none", "wrong", "non-ascii", "basic", "empty-bearer"],
)
def test_control_api_refuses_a_request_without_the_token(sandbox_stack, headers):
    state = sandbox_stack.state()
    url = state["supervisor"]["control_url"]
    merchant = state["components"]["merchant"]

    kill = requests.post(f"{url}/components/merchant/kill", headers=headers, timeout=10)
    shutdown = requests.post(f"{url}/shutdown", headers=headers, timeout=10)
    read = requests.get(f"{url}/state", headers=headers, timeout=10)

    for response in (kill, shutdown, read):
        assert_refused(response)
    after = sandbox_stack.state()  # raises NotRunning had the supervisor stopped
    assert after["status"] == "ready"
    assert after["components"]["merchant"]["pid"] == merchant["pid"]
    assert after["components"]["merchant"]["restarts"] == merchant["restarts"]
    assert requests.get(merchant["health_url"], timeout=5).status_code == 200


def test_control_api_acts_on_a_request_with_the_token(sandbox_stack):
    before = sandbox_stack.state()["components"]["merchant"]

    restarted = sandbox_stack.restart("merchant")

    assert restarted["pid"] != before["pid"]
    after = sandbox_stack.state()["components"]["merchant"]
    assert after["pid"] == restarted["pid"]
    assert requests.get(after["health_url"], timeout=5).status_code == 200


def test_control_api_shows_the_state_without_its_secrets(sandbox_stack):
    state = sandbox_stack.state()
    token = state["supervisor"]["token"]

    shown = requests.get(
        f"{state['supervisor']['control_url']}/state",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )

    assert shown.status_code == 200
    assert shown.json()["supervisor"]["token"] == "***"
    assert token not in shown.text
