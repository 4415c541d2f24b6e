"""``sandbox load``: run the Locust flows headless against a running sandbox.

Locust runs as its own process (gevent patches the standard library, which must not
happen inside the CLI), either alone or as one master and ``workers`` worker processes
on this machine.  Everything it needs arrives on its command line: the sandbox's
endpoints, the rate, the thresholds.  Its exit code (thresholds, see
``loadtests/options.py``) is the command's, and its CSV, HTML and summary land in the
run's output folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

import loadtests
from sandbox.control.state import SupervisorClient
from sandbox.ports import random_port

LOCUSTFILE = Path(loadtests.__file__).resolve().parent / "locustfile.py"
DEFAULT_CLASSES = ("CardFlowUser", "IntentFlowUser")


class LoadError(RuntimeError):
    """The load could not be run (no sandbox, wrong profile, Locust did not start)."""


@dataclass
class LoadPlan:
    out_dir: Path
    users: int = 20
    spawn_rate: float = 10.0
    duration: str = "30s"
    flows_per_s: float = 0.0
    declined_ratio: float = 0.1
    flow_timeout: float = 30.0
    workers: int = 0
    user_classes: tuple[str, ...] = DEFAULT_CLASSES
    max_e2e_p95_ms: float | None = None
    max_failure_ratio: float | None = None
    min_flows_per_s: float | None = None
    extra: list[str] = field(default_factory=list)
    quiet: bool = False  # Locust's own output to locust.log only (sandbox load, benchmarks)

    @property
    def ledger_dir(self) -> Path:
        return self.out_dir / "ledger"

    @property
    def summary_path(self) -> Path:
        return self.out_dir / "summary.json"


@dataclass(frozen=True)
class Endpoints:
    appointment: str
    payment: str
    provider: str
    amqp: str
    profile: str

    @classmethod
    def of_sandbox(cls, state_dir: Path) -> Endpoints:
        client = SupervisorClient(state_dir)
        state = client.state()  # raises NotRunning with a hint
        if state.get("status") != "ready":
            raise LoadError(f"the sandbox in {state_dir} is {state.get('status')!r}, not ready")
        return cls(
            appointment=client.endpoint("appointment"),
            payment=client.endpoint("payment"),
            provider=client.endpoint("provider"),
            amqp=str((state.get("broker") or {}).get("url") or ""),
            profile=str(state.get("profile", "dev")),
        )


def locust_arguments(plan: LoadPlan, endpoints: Endpoints) -> list[str]:
    """The options the master (or the single process) runs with."""
    # a distributed run ends through the master's graceful stop (see the locustfile)
    ending = ["--stop-after", plan.duration] if plan.workers > 0 else ["--run-time", plan.duration]
    args = [
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        endpoints.appointment,
        "--users",
        str(plan.users),
        "--spawn-rate",
        str(plan.spawn_rate),
        *ending,
        # users finish the flow they are in (bounded by its timeout) before stopping
        "--stop-timeout",
        str(int(plan.flow_timeout + 5)),
        "--csv",
        str(plan.out_dir / "locust"),
        "--html",
        str(plan.out_dir / "locust.html"),
        "--appointment-url",
        endpoints.appointment,
        "--payment-url",
        endpoints.payment,
        "--provider-url",
        endpoints.provider,
        "--flows-per-s",
        str(plan.flows_per_s),
        "--declined-ratio",
        str(plan.declined_ratio),
        "--flow-timeout",
        str(plan.flow_timeout),
        "--ledger-dir",
        str(plan.ledger_dir),
        "--summary-json",
        str(plan.summary_path),
    ]
    for option, value in (
        ("--max-e2e-p95-ms", plan.max_e2e_p95_ms),
        ("--max-failure-ratio", plan.max_failure_ratio),
        ("--min-flows-per-s", plan.min_flows_per_s),
    ):
        if value is not None:
            args += [option, str(value)]
    return [*args, *plan.extra, *plan.user_classes]


def run_locust(plan: LoadPlan, endpoints: Endpoints) -> int:
    """Run the load to its end; return Locust's exit code."""
    plan.out_dir.mkdir(parents=True, exist_ok=True)
    log = (plan.out_dir / "locust.log").open("ab")
    args = locust_arguments(plan, endpoints)
    locust = [sys.executable, "-m", "locust"]
    # the broker URL may carry a password: through the environment, not the command line
    env = {**os.environ, "LOAD_AMQP_URL": endpoints.amqp}
    output: Any = log if plan.quiet else None
    if plan.workers <= 0:
        try:
            done = subprocess.run(
                [*locust, *args], stdout=output, stderr=output, check=False, env=env
            )
            return done.returncode
        finally:
            log.close()
    port = random_port()
    master = [
        *locust,
        *args,
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(plan.workers),
        "--expect-workers-max-wait",
        "60",
    ]
    worker = [
        *locust,
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        "127.0.0.1",
        "--master-port",
        str(port),
    ]
    master_process = subprocess.Popen(master, stdout=output, stderr=output, env=env)
    workers = [
        psutil.Popen(worker, stdout=log, stderr=subprocess.STDOUT) for _ in range(plan.workers)
    ]
    try:
        return master_process.wait()
    finally:
        # The master has the workers' figures once it exits.  A worker that missed its
        # quit message (the master forgets a worker once it reported stopping) would wait
        # a minute for the master's heartbeat: after a short grace every worker still
        # running is asked to stop, all at once (Locust stops gracefully on SIGTERM).
        _stop_together(workers, grace_s=WORKER_GRACE_S)
        if master_process.poll() is None:
            master_process.kill()
        log.close()


WORKER_GRACE_S = 2.0


def _stop_together(processes: list[psutil.Popen], grace_s: float) -> None:
    """Give ``processes`` ``grace_s`` to end, SIGTERM the rest, SIGKILL what is left 5 s
    later (psutil waits for all of them against one deadline)."""
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for process in alive:
        process.terminate()
    _, alive = psutil.wait_procs(alive, timeout=5.0)
    for process in alive:
        process.kill()
    psutil.wait_procs(alive)


def read_summary(plan: LoadPlan) -> dict[str, Any]:
    if not plan.summary_path.exists():
        log = plan.out_dir / "locust.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise LoadError(
            f"Locust wrote no summary ({plan.summary_path}); the end of {log}:\n{tail}"
            if plan.quiet
            else f"Locust wrote no summary ({plan.summary_path}); see its output above"
        )
    return dict(json.loads(plan.summary_path.read_text()))


def default_out_dir(state_dir: Path) -> Path:
    return state_dir / "load" / time.strftime("%Y%m%d-%H%M%S")
