"""Run a fault plan's schedule against a running sandbox while a load runs.

``FaultRunner`` executes the steps of a ``sandbox.load.faults.Schedule`` in a background
thread, each at its time after the load started, through ``Controls``: the supervisor's
control API for processes and the broker, the mocks' clients (``mocks.clients``) for the
provider's faults, the SMTP server's refuse mode and the merchant's fail mode, and the
broker for DLQ replays.  Every step is written to a JSON-lines fault log as it happens
(planned and actual time, result or error); after a process is killed, the log also says
when the supervisor had it running again, or that it did not.  Whatever is still applied when the
run stops (a window not yet over, a broker still down), even on an error or Ctrl-C, is
undone before the runner's thread ends.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

import requests

from mocks.clients import MerchantClient, MockClient, ProviderClient, SmtpClient
from sandbox.control.state import SupervisorClient
from sandbox.load.faults import BROKER, PROCESSES, UNDO, is_broker
from sandbox.load.schedule import Schedule, Step
from sandbox.topology import Topology

HTTP_TIMEOUT_S = 10.0
RESTART_TIMEOUT_S = 60.0  # a killed process not running again by then is a failed step
ANCHOR_TIMEOUT_S = 90.0  # start the clock anyway if the load never says it started
POLL_S = 0.2

C = TypeVar("C", bound=MockClient)


class Controls(Protocol):
    """What the runner acts through (``SandboxControls``; tests may pass a fake)."""

    def component(self, name: str) -> dict[str, Any]: ...
    def process(self, action: str, target: str) -> dict[str, Any]: ...
    def seed_provider(self, seed: int) -> None: ...
    def provider_fault(self, rule: dict[str, Any]) -> str: ...
    def provider_fault_clear(self, rule_id: str | None) -> None: ...
    def webhook_faults(self, faults: dict[str, Any]) -> None: ...
    def webhook_faults_clear(self) -> None: ...
    def smtp_refuse(self, mode: dict[str, Any]) -> Any: ...
    def smtp_accept(self) -> Any: ...
    def merchant_fail(self, status: int) -> None: ...
    def merchant_ok(self) -> None: ...
    def dlq_replay(self, queues: list[str] | str) -> dict[str, int]: ...


class SandboxControls:
    """The running sandbox of ``state_dir``."""

    def __init__(self, state_dir: Path, topology: Topology) -> None:
        self.supervisor = SupervisorClient(state_dir)
        self.topology = topology
        self.http = requests.Session()

    def component(self, name: str) -> dict[str, Any]:
        if is_broker(name) and name != BROKER:  # a node of a cluster broker
            return next((n for n in self.supervisor.broker_nodes() if n.get("name") == name), {})
        state = self.supervisor.state()
        if name == BROKER:
            return dict(state.get("broker") or {})
        return dict((state.get("components") or {}).get(name) or {})

    def process(self, action: str, target: str) -> dict[str, Any]:
        return self.supervisor.action(target, action)

    def _client(self, kind: type[C], component: str) -> C:
        url = self.supervisor.endpoint(component)
        return kind(url, session=self.http, timeout_s=HTTP_TIMEOUT_S)

    def seed_provider(self, seed: int) -> None:
        self._client(ProviderClient, "provider").reseed(seed)

    def provider_fault(self, rule: dict[str, Any]) -> str:
        return str(self._client(ProviderClient, "provider").add_fault(**rule)["id"])

    def provider_fault_clear(self, rule_id: str | None) -> None:
        # without the id (its creation failed half-way) every rule goes
        self._client(ProviderClient, "provider").remove_fault(rule_id)

    def webhook_faults(self, faults: dict[str, Any]) -> None:
        self._client(ProviderClient, "provider").webhook_faults(**faults)

    def webhook_faults_clear(self) -> None:
        self._client(ProviderClient, "provider").clear_webhook_faults()

    def smtp_refuse(self, mode: dict[str, Any]) -> Any:
        return self._client(SmtpClient, "smtp").refuse(**mode)

    def smtp_accept(self) -> Any:
        # the answer counts the mails refused so far (refused_total)
        return self._client(SmtpClient, "smtp").accept()

    def merchant_fail(self, status: int) -> None:
        self._client(MerchantClient, "merchant").fail(status)

    def merchant_ok(self) -> None:
        self._client(MerchantClient, "merchant").accept()

    def dlq_replay(self, queues: list[str] | str) -> dict[str, int]:
        from sandbox.messaging.tools import replay_dlq

        url = str((self.supervisor.state().get("broker") or {}).get("url") or "")
        names = self.topology.dlqs() if queues == "all" else list(queues)
        return {q: replay_dlq(url, self.topology, q) for q in names}


class FaultRunner:
    """Executes a schedule in a background thread; ``stop()`` ends it and undoes the rest."""

    def __init__(
        self,
        schedule: Schedule,
        controls: Controls,
        log_path: Path,
        *,
        started: Callable[[], bool] | None = None,
        anchor_timeout_s: float = ANCHOR_TIMEOUT_S,
        restart_timeout_s: float = RESTART_TIMEOUT_S,
    ) -> None:
        self.schedule = schedule
        self.controls = controls
        self.log_path = log_path
        self.started = started  # True once the load has started: the schedule's time zero
        self.anchor_timeout_s = anchor_timeout_s
        self.restart_timeout_s = restart_timeout_s
        self.records: list[dict[str, Any]] = []
        self.t0: float | None = None  # monotonic time zero
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._log: Any = None
        self._applied: dict[tuple[str, str], Step] = {}  # (fault, target) -> step to undo
        self._rules: dict[str, str] = {}  # fault label -> provider rule id
        self._checks: list[threading.Thread] = []
        self._restarts: dict[str, int] = {}  # each process's restart count at time zero
        # not a daemon: on Ctrl-C the interpreter waits for it to undo what it applied
        self._thread = threading.Thread(target=self._run, name="fault-runner")

    # -- the public face -------------------------------------------------------------

    def start(self) -> FaultRunner:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._write({"event": "plan", **self.schedule.to_dict()})
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 300.0) -> None:
        """End the schedule (later steps are skipped), undo what is applied, wait for it."""
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def elapsed_s(self) -> float:
        return 0.0 if self.t0 is None else time.monotonic() - self.t0

    # -- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        done = 0
        try:
            self._wait_for_the_load()
            if self.schedule.uses & {"provider_fault", "webhook_faults"}:
                self._do_logged("seed_provider", "provider", lambda: self._seed())
            for step in self.schedule.steps:
                assert self.t0 is not None
                if self._stop.wait(max(0.0, self.t0 + step.at_s - time.monotonic())):
                    break
                self._execute(step)
                done += 1
            self._stop.wait()  # until the load ends: a process may yet die unplanned
        except Exception as exc:  # the undo below must run whatever happened
            self._write({"event": "error", "at_s": round(self.elapsed_s, 3), "error": repr(exc)})
        finally:
            for step in self.schedule.steps[done:]:
                self._write({"event": "skipped", **step.to_dict(), "why": "the load ended first"})
            self._undo_everything()
            for check in self._checks:
                check.join(self.restart_timeout_s)
            self._note_unplanned_restarts()
            self._write({"event": "end", "at_s": round(self.elapsed_s, 3)})
            with self._lock:
                self._log.close()

    def _seed(self) -> dict[str, Any]:
        self.controls.seed_provider(self.schedule.seed)
        return {"seed": self.schedule.seed}

    def _wait_for_the_load(self) -> None:
        began = time.monotonic()
        note = "the load started"
        while self.started is not None and not self.started():
            if time.monotonic() - began > self.anchor_timeout_s:
                note = f"the load did not say it started within {self.anchor_timeout_s:g} s"
                break
            if self._stop.wait(POLL_S):
                break
        self.t0 = time.monotonic()
        self._write({"event": "start", "wall_time": time.time(), "note": note})
        self._restarts = self._restart_counts()

    def _restart_counts(self) -> dict[str, int]:
        counts = {}
        for name in PROCESSES:
            try:
                entry = self.controls.component(name)
            except Exception:  # a state file being rewritten; that process is not compared
                continue
            if entry:
                counts[name] = int(entry.get("restarts") or 0)
        return counts

    def _note_unplanned_restarts(self) -> None:
        """A process that died without the plan killing it (a mock loses what it recorded)."""
        killed: dict[str, int] = {}
        for r in self.records:
            if r["event"] == "action" and r["action"] == "kill" and r["ok"]:
                killed[r["target"]] = killed.get(r["target"], 0) + 1
        for name, now in self._restart_counts().items():
            extra = now - self._restarts.get(name, now) - killed.get(name, 0)
            if extra > 0:
                self._write({"event": "unplanned_restart", "target": name, "restarts": extra})

    def _execute(self, step: Step) -> None:
        key = (step.fault, step.target)
        if step.action in UNDO and not (step.action == "kill" and not is_broker(step.target)):
            self._applied[key] = step  # before the call: a half-done call is undone too
        elif step.action in UNDO.values():
            self._applied.pop(key, None)
        before = self.controls.component(step.target) if step.action == "kill" else {}
        record = self._do_logged(step.action, step.target, lambda: self._act(step), step)
        if record["ok"] and step.action == "kill" and not is_broker(step.target):
            check = threading.Thread(
                target=self._check_restart, args=(step, before), name=f"check-{step.target}"
            )
            check.start()
            self._checks.append(check)

    def _act(self, step: Step) -> Any:
        c, p, action = self.controls, dict(step.params), step.action
        if action in ("kill", "stop", "start", "restart"):
            return c.process(action, step.target)
        if action == "provider_fault":
            self._rules[step.fault] = c.provider_fault(p)
            return {"rule": self._rules[step.fault]}
        if action == "provider_fault_clear":
            return c.provider_fault_clear(self._rules.pop(step.fault, None))
        if action == "webhook_faults":
            return c.webhook_faults(p)
        if action == "smtp_refuse":
            return c.smtp_refuse(p)
        if action == "merchant_fail":
            return c.merchant_fail(int(p["status"]))
        if action == "dlq_replay":
            return {"replayed": c.dlq_replay(p["queues"])}
        simple: dict[str, Callable[[], Any]] = {
            "webhook_faults_clear": c.webhook_faults_clear,
            "smtp_accept": c.smtp_accept,
            "merchant_ok": c.merchant_ok,
        }
        return simple[action]()

    def _check_restart(self, step: Step, before: dict[str, Any]) -> None:
        """Wait until the supervisor has the killed process running again, and log it."""
        began, restarts = time.monotonic(), int(before.get("restarts") or 0)
        seen: dict[str, Any] = {}
        while time.monotonic() - began < self.restart_timeout_s:
            try:
                seen = self.controls.component(step.target)
            except Exception as exc:  # the state file is being rewritten; try again
                seen = {"error": repr(exc)}
            if int(seen.get("restarts") or 0) > restarts and seen.get("status") == "ready":
                self._write(
                    {
                        "event": "restarted",
                        "fault": step.fault,
                        "target": step.target,
                        "ok": True,
                        "wall_time": round(time.time(), 3),
                        "after_s": round(time.monotonic() - began, 3),
                        "pid": seen.get("pid"),
                        "old_pid": before.get("pid"),
                    }
                )
                return
            threading.Event().wait(POLL_S)
        self._write(
            {
                "event": "restarted",
                "fault": step.fault,
                "target": step.target,
                "ok": False,
                "error": f"not running again within {self.restart_timeout_s:g} s",
                "seen": {k: seen.get(k) for k in ("status", "pid", "restarts", "error")},
            }
        )

    def _undo_everything(self) -> None:
        """Undo, newest first, every fault still applied (a window cut short by the end)."""
        for (fault, target), step in reversed(list(self._applied.items())):
            undo = Step(round(self.elapsed_s, 3), UNDO[step.action], target, {}, fault)
            self._do_logged(undo.action, target, partial(self._act, undo), undo, "undo")
        self._applied.clear()

    def _do_logged(
        self,
        action: str,
        target: str,
        call: Callable[[], Any],
        step: Step | None = None,
        event: str = "action",
    ) -> dict[str, Any]:
        began = time.monotonic()
        record: dict[str, Any] = {
            "event": event,
            "fault": step.fault if step else "",
            "action": action,
            "target": target,
            "params": dict(step.params) if step else {},
            "planned_s": step.at_s if step and event == "action" else None,
            "at_s": round(self.elapsed_s, 3),
            "wall_time": round(time.time(), 3),
        }
        try:
            result = call()
            record.update(ok=True, result=result)
        except Exception as exc:
            record.update(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        record["took_s"] = round(time.monotonic() - began, 3)
        if record["planned_s"] is not None:
            record["late_s"] = round(record["at_s"] - record["planned_s"], 3)
        self._write(record)
        return record

    def _write(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)
            if self._log is not None and not self._log.closed:
                self._log.write(json.dumps(record, default=str) + "\n")
                self._log.flush()
