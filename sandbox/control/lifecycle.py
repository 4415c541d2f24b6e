"""``sandbox up``, ``status``, ``logs`` and ``down``: start, inspect and stop a sandbox.

``up`` starts the supervisor detached (its own session, so it outlives the command)
and follows ``.sandbox/state.json`` until everything is ready.  A second ``up`` while one
runs prints the running one; after a crash it clears what the dead one left (processes
it recorded, data, logs) before starting fresh.  ``down`` asks the supervisor to stop
everything, waits for it, and kills anything it recorded that is still alive.

Neither ever signals a recorded pid it cannot prove is the process the sandbox started
(``sandbox.control.ownership``): a pid reused by another program since, or recorded by an older
sandbox without a start time and command line, is named and left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

from sandbox import health
from sandbox.broker.admin import answers
from sandbox.broker.external import leave_as_found
from sandbox.control.ownership import (
    Verdict,
    check,
    kill_leftovers,
    signal_if_ours,
    supervisor_running,
)
from sandbox.control.state import (
    NotRunning,
    StateFile,
    SupervisorClient,
    hide_credentials,
    masked,
)
from sandbox.exitcodes import EXIT_FAILED, EXIT_NO_BROKER
from sandbox.topology import Topology
from sandbox.waiting import WaitTimeout, wait_for

RUNTIME_DIRS = ("broker", "data", "logs", "run")


def _print_table(state: dict[str, Any]) -> None:
    broker = state.get("broker") or {}
    nodes = broker.get("nodes") or []
    endpoint = f"cluster of {len(nodes)} nodes:" if nodes else broker.get("url", "")
    print(f"\n{'component':<22} {'kind':<8} {'pid':>7}  {'status':<10} endpoint")
    print(
        f"{'broker':<22} {broker.get('kind', '?'):<8} {broker.get('pid') or '':>7}  "
        f"{broker.get('status', '?'):<10} {endpoint}"
    )
    for node in nodes:
        print(
            f"{node.get('name', '?'):<22} {'node':<8} {node.get('pid') or '':>7}  "
            f"{node.get('status', '?'):<10} {node.get('url', '')} ({node.get('nodename')})"
        )
    if broker.get("management_url"):
        print(
            f"{'broker management':<22} {'':<8} {'':>7}  {'':<10} "
            f"{broker['management_url']} (guest/guest)"
        )
    elif broker.get("management"):
        print(f"{'broker management':<22} {'':<8} {'':>7}  {'':<10} ({broker['management']})")
    if broker.get("vhost_owned"):
        print(
            f"{'broker vhost':<22} {'':<8} {'':>7}  {'':<10} {broker.get('vhost')} (the "
            "sandbox's own: `sandbox down` deletes it)"
        )
    if broker.get("note"):
        print(f"note: {broker['note']}")
    order = {"mock": 0, "service": 1, "worker": 2}
    components = sorted(
        (state.get("components") or {}).items(),
        key=lambda item: (order.get(item[1].get("kind"), 3), item[0]),
    )
    for name, entry in components:
        failing = entry.get("failing")
        why = f" (failing: {', '.join(failing)})" if failing else ""
        print(
            f"{name:<22} {entry.get('kind', ''):<8} {entry.get('pid') or '':>7}  "
            f"{entry.get('status', '?'):<10} {entry.get('endpoint') or '(worker)'}{why}"
        )
    databases = {
        name: entry["database"]
        for name, entry in components
        if entry.get("kind") == "service" and entry.get("database") and "replica_of" not in entry
    }
    if databases:
        print()
    for name, database in databases.items():
        print(f"{name + ' database':<22} {database}")
    for name, moved in (state.get("ports_replaced") or {}).items():
        print(
            f"note: port {moved['preferred']} ({name}) was taken; {name} uses "
            f"{moved['port']} instead"
        )
    print(f"\nstate: {state.get('_path', '.sandbox/state.json')}; logs: sandbox logs NAME")


def checked_management(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with the broker's management URL shown only if something answers there."""
    broker = dict(state.get("broker") or {})
    url = broker.get("management_url")
    if url and not answers(str(url)):
        broker["management_url"] = None
        broker["management"] = f"nothing answers at {url}"
    return {**state, "broker": broker} if broker else state


def up(
    state_dir: Path,
    *,
    as_json: bool = False,
    timeout_s: float = 240.0,
    only: list[str] | None = None,
    profile: str = "dev",
    random_ports: bool = False,
    cluster: int = 1,
    env: Mapping[str, str] | None = None,
    scale: Mapping[str, int] | None = None,
) -> int:
    """Start a sandbox in ``state_dir``; ``env`` adds to the environment its processes get
    (``DATABASE_URL`` and the like)."""
    state_file = StateFile(state_dir)
    state = state_file.read()
    supervised = bool(state) and supervisor_running(state)
    if supervised:
        if state.get("status") == "ready":
            running = state.get("profile", "dev")
            if running != profile and not as_json:
                print(
                    f"note: the running sandbox uses profile {running!r}, not {profile!r}; "
                    "`sandbox down` first to change it"
                )
            running_scale = {k: v for k, v in (state.get("scale") or {}).items() if v != 1}
            wanted = {k: v for k, v in (scale or {}).items() if v != 1}
            if running_scale != wanted and not as_json:
                print(
                    f"note: the running sandbox runs replicas {running_scale or 'of nothing'}, "
                    f"not {wanted or 'none'}; `sandbox down` first to change them"
                )
            nodes = len((state.get("broker") or {}).get("nodes") or []) or 1
            if nodes != cluster and not as_json:
                print(
                    f"note: the running sandbox's broker has {nodes} node(s), not {cluster}; "
                    "`sandbox down` first to change it"
                )
            state = checked_management(state)
            if as_json:
                print(json.dumps(masked(state), indent=2))
            else:
                print("sandbox already up")
                _print_table({**state, "_path": str(state_file.path)})
            return 0
    elif state:
        sweep = kill_leftovers(state)
        out = sys.stderr if as_json else sys.stdout
        print(
            f"clearing a stale sandbox (killed {len(sweep.killed)} leftover process(es) "
            "of its own)",
            *sweep.notes(),
            sep="\n",
            file=out,
        )
        state_file.remove()
    if not supervised:
        for sub in RUNTIME_DIRS:
            shutil.rmtree(state_dir / sub, ignore_errors=True)
        state_file.ensure_dir()
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        log = (state_dir / "logs" / "supervisor.log").open("ab")
        command = [
            sys.executable,
            "-m",
            "sandbox.control.supervisor",
            "--state-dir",
            str(state_dir),
        ]
        if only:
            command += ["--only", ",".join(only)]
        command += ["--profile", profile]
        if random_ports:
            command.append("--random-ports")
        if cluster != 1:
            command += ["--cluster", str(cluster)]
        for process, count in (scale or {}).items():
            command += ["--scale", f"{process}={count}"]
        # Spawn through a short-lived intermediate process: the supervisor ends up in its
        # own session, owned by init, so it outlives this command and its terminal, and
        # this process holds no handle to a child it will never wait for.
        launcher = (
            "import subprocess, sys; "
            "subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=sys.stdout, "
            "stderr=sys.stderr, start_new_session=True)"
        )
        subprocess.run(
            [sys.executable, "-c", launcher, *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            check=True,
            env={**os.environ, **env} if env else None,
        )
        log.close()
    return _follow_boot(state_file, as_json=as_json, timeout_s=timeout_s)


def _follow_boot(state_file: StateFile, *, as_json: bool, timeout_s: float) -> int:
    began = time.monotonic()
    last_step: list[str] = []
    log = state_file.state_dir / "logs" / "supervisor.log"
    pipe_closed: list[BrokenPipeError] = []

    def outcome() -> tuple[int, dict[str, Any]] | None:
        """The boot's end (0 ready, 1 failed) once there is one; print steps meanwhile."""
        state = state_file.read()
        step = state.get("step")
        if step and step not in last_step[-1:] and not as_json:
            last_step.append(step)
            try:
                print(f"  {time.monotonic() - began:5.1f}s  {step}", flush=True)
            except BrokenPipeError as exc:  # `up | head`: follow the boot to its end, silently
                pipe_closed.append(exc)
                quiet_stdout()
        if state.get("status") == "ready":
            return 0, state
        if state.get("status") in ("failed", "stopped"):
            code = EXIT_NO_BROKER if state.get("failure") == "broker" else EXIT_FAILED
            why = hide_credentials(str(state.get("error", "")))
            return code, {**state, "_why": f"sandbox failed to start: {why}"}
        supervisor = state.get("supervisor") or {}
        if supervisor.get("pid") and check(supervisor).verdict is not Verdict.OURS:
            return 1, {**state, "_why": "the supervisor died while starting"}
        return None

    try:
        code, state = wait_for(outcome, timeout=timeout_s, interval=0.2, what="the sandbox")
    except WaitTimeout:
        step = last_step[-1] if last_step else None
        why = f"sandbox not ready after {timeout_s:.0f} s; last step: {step}"
        return _failed(why, log, as_json=as_json)
    if code:
        return _failed(state["_why"], log, as_json=as_json, code=code)
    if pipe_closed:
        raise pipe_closed[0]  # ready, and nobody reads: the CLI ends quietly (141)
    state = checked_management(state)
    if as_json:
        print(json.dumps(masked(state), indent=2))
    else:
        print(f"sandbox up in {time.monotonic() - began:.1f} s")
        _print_table({**state, "_path": str(state_file.path)})
    return 0


def quiet_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone (``| head``), so that what is
    still printed, and the interpreter's flush at exit, raise no BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real stdout (a test's capture)
        pass


def _failed(why: str, log: Path, *, as_json: bool, code: int = EXIT_FAILED) -> int:
    """Say why ``up`` failed: on stderr, and as JSON on stdout for ``--json``."""
    print(f"{why}\nsupervisor log: {log}", file=sys.stderr)
    if as_json:
        print(json.dumps({"status": "failed", "error": why, "log": str(log)}, indent=2))
    return code


def down(
    state_dir: Path,
    timeout_s: float = 90.0,
    *,
    purge: Topology | None = None,
    external_url: str | None = None,
) -> int:
    """Stop the sandbox; exit 1 when something had to be killed or could not be proven ours.

    On a broker given by ``RABBITMQ_URL`` (``external_url``) the sandbox's own vhost is
    deleted, or with ``purge`` (the topology it declared) what it declared in the vhost
    it was given; without a sandbox state, ``purge`` applies to ``external_url``.
    """
    state_file = StateFile(state_dir)
    state = state_file.read()
    if not state:
        print("no sandbox running")
        for line in leave_as_found({}, purge, external_url):
            print(line)
        return 0
    supervisor = state.get("supervisor") or {}
    if supervisor_running(state):
        try:
            SupervisorClient(state_dir).shutdown()
        except (requests.RequestException, NotRunning, PermissionError, KeyError):
            signal_if_ours(supervisor, signal.SIGTERM)
        # whatever is still alive after the deadline is killed below and reported
        with contextlib.suppress(WaitTimeout):
            wait_for(
                lambda: check(supervisor).verdict is not Verdict.OURS,
                timeout=timeout_s,
                interval=0.1,
                what="the supervisor's orderly shutdown",
            )
    state = state_file.read() or state
    sweep = kill_leftovers(state)
    state_file.remove()
    for note in [*sweep.notes(), *leave_as_found(state.get("broker") or {}, purge)]:
        print(note)
    if sweep.killed:
        print(f"sandbox down; {len(sweep.killed)} process(es) had to be killed: {sweep.killed}")
        return 1
    if sweep.unproven:
        print("sandbox down, but for the process(es) above that could not be proven ours")
        return 1
    print("sandbox down; no process left")
    return 0


def status(state_dir: Path, *, as_json: bool = False) -> int:
    state = StateFile(state_dir).read()
    if not state or not supervisor_running(state):
        message = f"no sandbox running in {state_dir} (start one with `sandbox up`)"
        if as_json:
            print(json.dumps({"running": False, "state_dir": str(state_dir), "error": message}))
        print(message, file=sys.stderr)
        return EXIT_FAILED
    healthy = True
    broker = state.get("broker") or {}
    if broker.get("nodes"):
        # a node killed or stopped on purpose is down all the same: the cluster is degraded
        for node in broker["nodes"]:
            node["status"] = "running" if _ours(node) else "down"
        down = sum(node["status"] == "down" for node in broker["nodes"])
        everything = len(broker["nodes"])
        broker["status"] = "ready" if not down else "stopped" if down == everything else "degraded"
        healthy = not down
    for entry in (state.get("components") or {}).values():
        entry["alive"] = _ours(entry)
        if entry.get("health_url"):
            # every process answers in the one format of sandbox.health: 200 is healthy
            try:
                response = requests.get(entry["health_url"], timeout=3)
                entry["health"] = response.status_code
                entry["failing"] = health.failing(_json_or_none(response))
            except requests.RequestException as exc:
                entry["health"] = f"unreachable: {exc.__class__.__name__}"
        answer = entry.get("health", 200)
        ok = entry["alive"] and isinstance(answer, int) and health.healthy(answer)
        entry["status"] = entry.get("status") if ok else "unhealthy"
        healthy &= bool(ok)
    state = {"running": True, **checked_management(state)}
    if as_json:
        print(json.dumps(masked(state), indent=2))
    else:
        _print_table({**state, "_path": str(StateFile(state_dir).path)})
    return 0 if healthy else 1


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _ours(record: dict[str, Any]) -> bool:
    return check(record).verdict is Verdict.OURS
