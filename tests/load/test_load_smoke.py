"""`sandbox load` against a real sandbox: a short smoke load, distributed mode, thresholds.

One sandbox (profile ``load``, random ports) serves the module.  Each test runs the CLI
as a user would, in its own process, and reads what the run left behind: the exit code,
the printed verdict, Locust's CSV, the summary and the flow ledger.
"""

from __future__ import annotations

import csv
import json
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import port_for
import pytest
import requests

from sandbox.load.run import LOCUSTFILE
from sandbox.pytest_plugin import running_sandbox
from sandbox.waiting import wait_for
from tests.load.support import sandbox_load

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def load_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_sandbox(tmp_path_factory.mktemp("load-sandbox"), profile="load") as client:
        yield client.state_file.state_dir


def stats_rows(out: Path) -> dict[tuple[str, str], dict[str, str]]:
    with (out / "locust_stats.csv").open() as handle:
        return {(row["Type"], row["Name"]): row for row in csv.DictReader(handle)}


def ledger_lines(out: Path) -> dict[str, list[dict[str, object]]]:
    return {
        path.name: [json.loads(line) for line in path.read_text().splitlines()]
        for path in sorted((out / "ledger").glob("flows-*.jsonl"))
    }


def explain(done: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}"
        f"\n--- stderr\n{done.stderr[-4000:]}"
    )


LoadRun = tuple[Path, subprocess.CompletedProcess[str]]


@pytest.fixture
def run_load(load_sandbox: Path, tmp_path: Path) -> Callable[..., LoadRun]:
    """Runs ``sandbox load ARGS`` with the test's own output directory, checks it exits
    with ``exit_code``, and returns that directory and the finished process."""

    def run(*args: str, exit_code: int = 0) -> LoadRun:
        out = tmp_path / "load"
        done = sandbox_load(load_sandbox, out, *args)
        assert done.returncode == exit_code, explain(done)
        return out, done

    return run


def test_smoke_load_completes_flows_within_thresholds_and_reconciles(run_load):
    out, done = run_load(
        *("--users", "6", "--spawn-rate", "6", "--duration", "15s", "--flows-per-s", "6"),
        *("--max-e2e-p95-ms", "10000", "--max-failure-ratio", "0", "--min-flows-per-s", "1"),
    )

    summary = json.loads((out / "summary.json").read_text())
    assert summary["passed"] and summary["flows_failed"] == 0, summary
    assert summary["flows_completed"] >= 40, summary
    # end-to-end latency is its own request type, in the CSV like any request
    rows = stats_rows(out)
    for name in ("card → notification.sent", "intent → notification.sent"):
        row = rows[("flow", name)]
        assert int(row["Request Count"]) > 0 and int(row["Failure Count"]) == 0, row
        assert float(row["95%"]) > 0, row
    assert int(rows[("POST", "POST /payment/process")]["Request Count"]) > 0
    # every flow the users finished is in the ledger, and the reconciliation found them all
    flows = [flow for lines in ledger_lines(out).values() for flow in lines]
    assert len(flows) == summary["flows_completed"], (len(flows), summary)
    assert "PASS p95 of card → notification.sent" in done.stdout, explain(done)
    assert f"reconciliation of {len(flows)} flows" in done.stdout, explain(done)
    assert re.search(r"^\s+lost\s+0$", done.stdout, re.M), explain(done)
    assert re.search(r"^\s+duplicated\s+0", done.stdout, re.M), explain(done)
    # a short summary on the terminal; Locust's periodic tables stay in the output folder
    assert len(done.stdout.splitlines()) <= 30, explain(done)
    assert "locust_stats.csv" in done.stdout and "Aggregated" not in done.stdout, explain(done)
    assert "Aggregated" in (out / "locust.log").read_text()


def test_distributed_load_runs_one_master_and_two_workers(run_load):
    out, _ = run_load(
        *("--workers", "2", "--users", "4", "--spawn-rate", "4", "--duration", "10s"),
        *("--flows-per-s", "4", "--max-failure-ratio", "0", "--no-reconcile"),
    )

    ledgers = ledger_lines(out)
    # one ledger per worker process, each of which ran flows
    assert len(ledgers) == 2, list(ledgers)
    assert all(lines for lines in ledgers.values()), {k: len(v) for k, v in ledgers.items()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["flows_completed"] == sum(len(lines) for lines in ledgers.values()), summary


def test_a_missed_threshold_fails_the_run_and_names_the_threshold(run_load):
    _, done = run_load(
        *("--users", "2", "--spawn-rate", "2", "--duration", "8s", "--flows-per-s", "2"),
        *("--max-e2e-p95-ms", "1", "--user-classes", "CardFlowUser", "--no-reconcile"),
        exit_code=1,
    )

    assert "FAIL p95 of card → notification.sent" in done.stdout, explain(done)
    assert "thresholds: FAILED" in done.stdout, explain(done)


def test_event_publisher_measures_consumer_lag_from_the_exchange(run_load):
    out, _ = run_load(
        *("--users", "2", "--spawn-rate", "2", "--duration", "8s", "--flows-per-s", "4"),
        *("--user-classes", "EventPublisherUser", "--no-reconcile"),
    )

    rows = stats_rows(out)
    published = rows[("amqp", "publish payment.completed")]
    lag = rows[("lag", "payment.completed → appointment.confirmed")]
    assert int(published["Request Count"]) > 0 and int(published["Failure Count"]) == 0
    assert int(lag["Request Count"]) > 0 and int(lag["Failure Count"]) == 0, lag


def locust_by_hand(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``locust -f loadtests/locustfile.py ARGS`` as a person would type it."""
    command = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), *args]
    return subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_locust_by_hand_serves_the_web_ui_and_runs_the_default_mix(load_sandbox, tmp_path):
    port = port_for.select_random()
    locust = locust_by_hand(
        "--web-port", str(port), "--sandbox-dir", str(load_sandbox), cwd=tmp_path
    )
    ui = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{ui}/"), timeout=60, what=f"the web UI on {ui}")
        started = requests.post(f"{ui}/swarm", data={"user_count": 5, "spawn_rate": 5}, timeout=10)
        assert started.json()["success"], started.text

        def flows_done() -> dict[str, Any] | None:
            stats = requests.get(f"{ui}/stats/requests", timeout=10).json()
            done = {s["name"]: s for s in stats["stats"] if s["method"] == "flow"}
            return done if stats["user_count"] == 5 and done else None

        flows = wait_for(flows_done, timeout=60, what="flows in the web UI's statistics")
        assert all(s["num_failures"] == 0 for s in flows.values()), flows
        requests.get(f"{ui}/stop", timeout=10)
    finally:
        locust.send_signal(signal.SIGTERM)
        output, _ = locust.communicate(timeout=60)
    assert 'All users spawned: {"CardFlowUser": 4, "IntentFlowUser": 1}' in output, output


def test_locust_by_hand_without_a_sandbox_says_how_to_get_one(tmp_path):
    locust = locust_by_hand("--sandbox-dir", str(tmp_path / "none"), cwd=tmp_path)
    output, _ = locust.communicate(timeout=120)
    assert locust.returncode == 1, output
    assert "start a sandbox (`sandbox up`)" in output, output


def _answers(url: str) -> bool:
    return requests.get(url, timeout=5).status_code == 200
