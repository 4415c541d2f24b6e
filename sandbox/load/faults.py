"""Fault plans: timed faults to run during a load, declared in a YAML or TOML file.

A plan lists faults at times relative to the load's start (``faults``) and faults whose
times and targets are drawn from a seed (``random``); ``load_schedule`` validates it and
expands it to a ``Schedule``: the ordered steps (at_s, action, target, params) a
``sandbox.load.fault_runner.FaultRunner`` executes against a running sandbox.  The same
plan with the same seed always gives the same schedule.  Every refusal is a
``FaultPlanError`` naming the field, the value and what was expected
(docs/fault-plans.md).

A window fault (``for``) becomes two steps, one that applies it and one that undoes it;
two windows on one target may not overlap (one SMTP refuse mode, one set of webhook
faults, one broker), nor may a process be killed again before it had time to restart.
"""

from __future__ import annotations

import itertools
import random
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sandbox.control import stack
from sandbox.load.schedule import (
    FaultPlanError,
    Fields,
    Schedule,
    Step,
    brief,
    parse_duration,
)

BROKER = "broker"
# the nodes of a cluster broker (sandbox up --cluster N): each is killed, stopped and
# started on its own, as the whole broker is
NODES = tuple(f"broker-{i}" for i in range(1, 10))
WORKERS = tuple(stack.WORKER_PORT_VARIABLES)  # the services' consumers and relays
PROCESSES = ("provider", "smtp", "merchant", "payment", "appointment", "notifier", *WORKERS)
GROUPS: dict[str, tuple[str, ...]] = {
    "consumers": tuple(w for w in WORKERS if w.endswith("-consumer")),
    "relays": tuple(w for w in WORKERS if w.endswith("-relay")),
    "workers": WORKERS,
    "services": ("payment", "appointment", "notifier"),
    "mocks": ("provider", "smtp", "merchant"),
}
# How long a target stays busy after a fault, beyond its window: a killed process is
# restarted by the supervisor in a few seconds; a broker node takes ~10 s to start.
BUSY_AFTER_S = {"process": 5.0, BROKER: 15.0}
PLACEMENT_TRIES = 500


def is_broker(target: str) -> bool:
    """The broker, or one node of a cluster broker: nothing restarts it by itself."""
    return target == BROKER or target in NODES


# action -> what it acts on: processes (``target``), or one fixed component
PROCESS_ACTIONS = ("kill", "stop", "restart")
WINDOW_ACTIONS = {
    "provider_errors": "provider",
    "provider_latency": "provider",
    "webhook_faults": "provider",
    "smtp_refuse": "smtp",
    "merchant_fail": "merchant",
}
ACTIONS = (*PROCESS_ACTIONS, *WINDOW_ACTIONS, "dlq_replay")
# the step that undoes a window's first step
UNDO = {
    "provider_fault": "provider_fault_clear",
    "webhook_faults": "webhook_faults_clear",
    "smtp_refuse": "smtp_accept",
    "merchant_fail": "merchant_ok",
    "kill": "start",
    "stop": "start",
}
# -- faults: one declaration to its steps -----------------------------------------------


def targets_of(value: Any, where: str, allowed: Sequence[str]) -> list[str]:
    """Component names, with groups expanded, in the order given, each once."""
    names = value if isinstance(value, list) else [value]
    expected = (
        f"one or a list of: {', '.join(allowed)}, a replica (e.g. notifier-consumer-2), "
        f"or a group: {', '.join(GROUPS)}"
    )
    if not names:
        raise FaultPlanError(f"{where}: got []; expected {expected}")
    found: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise FaultPlanError(f"{where}: got {brief(name)}; expected {expected}")
        for member in GROUPS.get(name, (name,)):
            if member not in allowed and stack.replica_of(member) not in allowed:
                raise FaultPlanError(f"{where}: got {brief(name)}; expected {expected}")
            if member not in found:
                found.append(member)
    return found


def window_params(action: str, f: Fields) -> dict[str, Any]:
    """What a window fault does, checked here so the mocks never see a bad value."""
    if action in ("provider_errors", "provider_latency"):
        rule: dict[str, Any] = {
            "method": f.text("method", "POST", ("GET", "POST", "DELETE", "*")),
            "path": f.text("path", "/v1/payment_intents/**"),
            "probability": f.number("probability", 1.0, 0.0, 1.0),
        }
        if not rule["path"].startswith("/"):
            raise f.error(
                "path", rule["path"], "a path starting with /, e.g. /v1/payment_intents/**"
            )
        if action == "provider_errors":
            rule["error"] = {
                "status": f.integer("status", 500, 400, 599),
                "type": "api_error",
                "message": f.text("message", "Injected by the fault plan."),
            }
        else:
            rule["latency_ms"] = f.number("latency_ms", 0.0, 0.0, 600_000.0)
            rule["jitter_ms"] = f.number("jitter_ms", 0.0, 0.0, 600_000.0)
            if not rule["latency_ms"] and not rule["jitter_ms"]:
                raise FaultPlanError(f"{f.name('latency_ms')}: missing; give latency_ms > 0")
        return rule
    if action == "webhook_faults":
        faults: dict[str, Any] = {}
        for key, spec in WEBHOOK_FAULTS.items():
            if f.get(key) is not None:
                sub = Fields(f.get(key), f.name(key))
                faults[key] = {
                    name: sub.integer(name, int(default), int(low), int(high))
                    if kind is int
                    else sub.number(name, default, low, high)
                    for name, (kind, (default, low, high)) in spec.items()
                }
                sub.done()
        if not faults:
            raise FaultPlanError(f"{f.where}: give at least one of {', '.join(WEBHOOK_FAULTS)}")
        return faults
    if action == "smtp_refuse":
        return {
            "code": f.integer("code", 451, 400, 599),
            "stage": f.text("stage", "data", ("mail", "rcpt", "data")),
            "message": f.text("message", "4.3.0 refused by the fault plan"),
        }
    return {"status": f.integer("status", 503, 400, 599)}  # merchant_fail


# name -> (type, (default, low, high)) of each webhook fault's fields (mocks/provider)
WEBHOOK_FAULTS: dict[str, dict[str, tuple[type, tuple[float, float, float]]]] = {
    "duplicate": {"probability": (float, (1.0, 0.0, 1.0)), "copies": (int, (1, 1, 10))},
    "reorder": {"probability": (float, (1.0, 0.0, 1.0)), "hold_ms": (float, (1000, 0, 600_000))},
    "delay": {
        "probability": (float, (1.0, 0.0, 1.0)),
        "ms": (float, (0.0, 0.0, 600_000)),
        "jitter_ms": (float, (0.0, 0.0, 600_000)),
    },
}


@dataclass(frozen=True)
class Fault:
    """One fault at its time: the steps it takes and how long it holds its target."""

    label: str
    resource: str  # what may not hold two faults at once ("" for none)
    begins_s: float
    busy_until_s: float
    steps: tuple[Step, ...]


def fault_of(
    action: str, target: str, at: float, length: float | None, params: dict[str, Any], label: str
) -> Fault:
    if action in PROCESS_ACTIONS:
        kind = BROKER if is_broker(target) else "process"
        steps = [Step(at, action, target, {}, label)]
        if length is not None:
            steps.append(Step(at + length, "start", target, {}, label))
        busy = at + (length or 0.0) + BUSY_AFTER_S[kind]
        return Fault(label, target, at, busy, tuple(steps))
    if action == "dlq_replay":
        return Fault(label, "", at, at, (Step(at, action, "dlq", params, label),))
    assert length is not None
    component = WINDOW_ACTIONS[action]
    first = "provider_fault" if component == "provider" and action != "webhook_faults" else action
    resource = "" if first == "provider_fault" else action  # provider rules stack
    window = (
        Step(at, first, component, params, label),
        Step(at + length, UNDO[first], component, {}, label),
    )
    return Fault(label, resource, at, at + length, window)


def check_length(action: str, target: str | None, length: float | None, where: str) -> None:
    needs = action in ("stop", *WINDOW_ACTIONS) or (action == "kill" and is_broker(target or ""))
    if needs and length is None:
        why = (
            "the supervisor does not restart the broker: say when to start it again"
            if action == "kill"
            else "how long the fault lasts"
        )
        raise FaultPlanError(f"{where}.for: missing; {why} (e.g. for: 10s)")
    if not needs and length is not None:
        why = (
            "a killed process is restarted by the supervisor at once; use action: stop to "
            "keep one down for a while"
            if action == "kill"
            else f"{action} happens at one moment"
        )
        raise FaultPlanError(f"{where}.for: not allowed here; {why}")


def declared_fault(data: Any, where: str) -> list[Fault]:
    """One entry of ``faults``: at one time, one or several targets."""
    f = Fields(data, where)
    action = _action(f)
    at = f.duration("at", required=True)
    assert at is not None
    length = f.duration("for")
    targets = _targets(action, f)
    for target in targets:
        check_length(action, target, length, where)
    params = _params(action, f)
    f.done()
    return [
        fault_of(action, t, at, length, params, where if len(targets) == 1 else f"{where}:{t}")
        for t in targets
    ]


def _action(f: Fields) -> str:
    if f.get("action") is None:
        raise FaultPlanError(f"{f.name('action')}: missing; expected one of {', '.join(ACTIONS)}")
    return f.text("action", "", ACTIONS)


def _targets(action: str, f: Fields) -> list[str]:
    if action in PROCESS_ACTIONS:
        key = "targets" if f.has("targets") else "target"
        return targets_of(f.get(key, required=True), f.name(key), (*PROCESSES, BROKER, *NODES))
    return [WINDOW_ACTIONS.get(action, "dlq")]


def _params(action: str, f: Fields) -> dict[str, Any]:
    if action in WINDOW_ACTIONS:
        return window_params(action, f)
    if action == "dlq_replay":
        queues = f.get("queues")
        if queues is None or queues == "all":
            return {"queues": "all"}
        if not isinstance(queues, list) or not all(isinstance(q, str) and q for q in queues):
            raise f.error("queues", queues, '"all" or a list of queue names, e.g. [payment_events]')
        return {"queues": [q if q.endswith(".dlq") else f"{q}.dlq" for q in queues]}
    return {}


def random_faults(data: Any, where: str, rng: random.Random, placed: list[Fault]) -> list[Fault]:
    """One entry of ``random``: times (and targets, with ``pick``) drawn from the seed."""
    f = Fields(data, where)
    action = _action(f)
    between = _range(f, "between", required=True)
    assert between is not None
    lengths = _range(f, "for")
    times = f.integer("times", 1, 1, 100)
    targets = _targets(action, f)
    pick = f.integer("pick", len(targets), 1, len(targets))
    for target in targets:
        check_length(action, target, lengths[0] if lengths else None, where)
    params = _params(action, f)
    f.done()
    for _ in range(PLACEMENT_TRIES):
        chosen = sorted(rng.sample(targets, pick), key=targets.index)
        draws = sorted(
            (round(rng.uniform(*between), 1), target, rng.uniform(*lengths) if lengths else None)
            for target in chosen
            for _ in range(times)
        )
        drawn = [
            fault_of(
                action,
                target,
                at,
                None if length is None else round(length, 1),
                params,
                f"{where}#{n}",
            )
            for n, (at, target, length) in enumerate(draws)
        ]
        if not _clashes([*placed, *drawn]):
            return drawn
    raise FaultPlanError(
        f"{where}: could not place {times} x {action} per target between {between[0]:g} s and "
        f"{between[1]:g} s without two faults on one target at once (a killed process needs "
        f"{BUSY_AFTER_S['process']:g} s, the broker {BUSY_AFTER_S[BROKER]:g} s after its "
        "outage); widen `between` or lower `times`"
    )


def _range(f: Fields, key: str, required: bool = False) -> tuple[float, float] | None:
    """A duration, or [low, high] of durations."""
    value = f.get(key, required)
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 2:
            raise f.error(key, value, "a duration or [low, high], e.g. [10s, 60s]")
        low, high = (parse_duration(v, f"{f.name(key)}[{i}]") for i, v in enumerate(value))
        if low > high:
            raise f.error(key, value, "[low, high] with low <= high")
        return low, high
    one = parse_duration(value, f.name(key))
    return one, one


def _clashes(faults: Sequence[Fault]) -> str | None:
    """The first two faults on one target at once, described; None when there are none."""
    by_resource: dict[str, list[Fault]] = {}
    for fault in faults:
        if fault.resource:
            by_resource.setdefault(fault.resource, []).append(fault)
    for resource, held in by_resource.items():
        held.sort(key=lambda x: x.begins_s)
        for first, second in itertools.pairwise(held):
            if second.begins_s < first.busy_until_s:
                return (
                    f"{second.label} ({resource} at {second.begins_s:g} s) comes while "
                    f"{first.label} still holds {resource} (from {first.begins_s:g} s "
                    f"to {first.busy_until_s:g} s)"
                )
    return None


# -- the plan ---------------------------------------------------------------------------


def read_plan_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FaultPlanError(f"{path}: cannot read the fault plan ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "YAML"
        raise FaultPlanError(f"{path}: not valid {kind}: {exc}") from None
    if not isinstance(data, dict):
        raise FaultPlanError(f"{path}: got {brief(data)}; expected a mapping with `faults`")
    return data


def expand(data: Mapping[str, Any], seed: int | None = None, source: str = "") -> Schedule:
    """Validate a plan's data and expand it to its schedule; ``seed`` overrides the plan's."""
    f = Fields(dict(data), "")
    name = f.text("name", Path(source).stem or "fault plan")
    description = f.text("description", "")
    plan_seed = f.integer("seed", -1, 0, 2**63 - 1)
    chosen = seed if seed is not None else plan_seed if plan_seed >= 0 else None
    if chosen is None:
        chosen = random.SystemRandom().randrange(2**31)
    declared, drawn = f.get("faults") or [], f.get("random") or []
    for key, value in (("faults", declared), ("random", drawn)):
        if not isinstance(value, list):
            raise f.error(key, value, "a list of faults")
    f.done()
    if not declared and not drawn:
        raise FaultPlanError("faults: the plan has no faults; give `faults` or `random`")
    placed = [x for i, d in enumerate(declared) for x in declared_fault(d, f"faults[{i}]")]
    clash = _clashes(placed)
    if clash:
        raise FaultPlanError(f"faults: {clash}")
    for i, entry in enumerate(drawn):
        # one stream per entry: adding an entry does not move the others' draws
        rng = random.Random(f"{chosen}:random[{i}]")
        placed += random_faults(entry, f"random[{i}]", rng, placed)
    order = {a: n for n, a in enumerate(UNDO.values())}
    steps = sorted(
        (s for fault in placed for s in fault.steps),
        key=lambda s: (s.at_s, 0 if s.action in order else 1),
    )
    return Schedule(name, chosen, tuple(steps), source, description)


def load_schedule(path: Path, seed: int | None = None) -> Schedule:
    """Read, validate and expand the plan at ``path``; errors name the file and the field."""
    data = read_plan_file(path)
    try:
        return expand(data, seed, str(path))
    except FaultPlanError as exc:
        raise FaultPlanError(f"{path}: {exc}") from None


def unknown_targets(
    schedule: Schedule, components: Mapping[str, Any], nodes: Sequence[str] = ()
) -> list[str]:
    """Targets of the schedule that the running sandbox (with cluster ``nodes``) lacks."""
    have = {BROKER, "dlq", *components, *nodes}
    return sorted({s.target for s in schedule.steps} - have)
