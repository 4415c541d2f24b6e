"""Fault plans: parsing, validation and expansion (no I/O), the runner against a fake, and
the runner against a real sandbox, alone and inside ``sandbox load --faults``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from mocks.clients import ProviderClient, SmtpClient
from sandbox.cli import main
from sandbox.control import lifecycle
from sandbox.control.state import SupervisorClient
from sandbox.load.command import load_thresholds
from sandbox.load.fault_log import last_fault_end, read_log, summary
from sandbox.load.fault_runner import FaultRunner, SandboxControls
from sandbox.load.faults import expand, load_schedule, unknown_targets
from sandbox.load.schedule import FaultPlanError, Schedule, Step
from sandbox.pytest_plugin import running_sandbox
from sandbox.settings import SandboxSettings
from sandbox.topology import build
from sandbox.waiting import wait_for
from tests.load.support import sandbox_load

PLANS = Path(__file__).resolve().parents[2] / "loadtests" / "plans"


def steps(schedule: Schedule) -> list[tuple[float, str, str]]:
    return [(s.at_s, s.action, s.target) for s in schedule.steps]


# -- parsing, validation, expansion -------------------------------------------------------


def test_a_window_fault_is_applied_at_its_start_and_undone_at_its_end():
    schedule = expand({"faults": [{"at": "10s", "action": "smtp_refuse", "for": "20s"}]})

    assert steps(schedule) == [(10.0, "smtp_refuse", "smtp"), (30.0, "smtp_accept", "smtp")]
    assert schedule.steps[0].params == {
        "code": 451,
        "stage": "data",
        "message": "4.3.0 refused by the fault plan",
    }


def test_a_broker_kill_is_followed_by_a_start_and_a_process_kill_is_not():
    schedule = expand(
        {
            "faults": [
                {"at": 40, "action": "kill", "target": "broker", "for": "5s"},
                {"at": "1m", "action": "kill", "target": "consumers"},
            ]
        }
    )

    assert steps(schedule) == [
        (40.0, "kill", "broker"),
        (45.0, "start", "broker"),
        (60.0, "kill", "appointment-consumer"),
        (60.0, "kill", "notifier-consumer"),
    ]


def test_a_cluster_node_is_a_target_of_its_own_killed_and_started_like_the_broker():
    schedule = expand(
        {
            "random": [
                {
                    "action": "kill",
                    "targets": ["broker-1", "broker-2", "broker-3"],
                    "pick": 1,
                    "between": [30, 60],
                    "for": "10s",
                }
            ]
        },
        seed=3,
    )

    [(at, kill, node), (back, start, same)] = steps(schedule)
    assert (kill, start) == ("kill", "start") and node == same
    assert node in ("broker-1", "broker-2", "broker-3")
    assert 30 <= at <= 60 and back == pytest.approx(at + 10)
    with pytest.raises(FaultPlanError, match=r"faults\[0\]\.for: missing; the supervisor"):
        expand({"faults": [{"at": 5, "action": "kill", "target": "broker-2"}]})


def test_a_plan_naming_a_node_the_sandbox_lacks_is_told_so():
    schedule = expand({"faults": [{"at": 5, "action": "kill", "target": "broker-3", "for": 5}]})
    components = {"payment": {}, "notifier-consumer": {}}

    assert unknown_targets(schedule, components) == ["broker-3"]
    assert unknown_targets(schedule, components, ["broker-1", "broker-2", "broker-3"]) == []


def test_durations_read_as_numbers_or_units():
    schedule = expand({"faults": [{"at": "1m30s", "action": "dlq_replay"}]})
    assert schedule.steps[0].at_s == 90.0
    assert expand({"faults": [{"at": "250ms", "action": "dlq_replay"}]}).steps[0].at_s == 0.25


RANDOM_KILLS = {
    "random": [
        {"action": "kill", "targets": ["consumers", "relays"], "between": ["10s", "60s"]},
        {"action": "kill", "targets": "broker", "times": 2, "between": [70, 200], "for": [3, 8]},
    ]
}


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another():
    first, again = expand(RANDOM_KILLS, seed=11), expand(RANDOM_KILLS, seed=11)
    other = expand(RANDOM_KILLS, seed=12)

    assert first == again
    assert steps(first) != steps(other)
    assert first.seed == 11


def test_random_kills_each_consumer_and_relay_once_in_the_window():
    schedule = expand(RANDOM_KILLS, seed=3)

    kills = [s for s in schedule.steps if s.action == "kill" and s.target != "broker"]
    assert sorted(s.target for s in kills) == [
        "appointment-consumer",
        "appointment-relay",
        "notifier-consumer",
        "notifier-relay",
        "payment-relay",
    ]
    assert all(10 <= s.at_s <= 60 for s in kills)
    broker = [(s.at_s, s.action) for s in schedule.steps if s.target == "broker"]
    assert [a for _, a in broker] == ["kill", "start", "kill", "start"]
    # the second outage begins after the first one is over and the node had time to boot
    assert broker[2][0] >= broker[1][0] + 15


def test_the_plan_seed_is_used_unless_one_is_given():
    plan = {"seed": 5, **RANDOM_KILLS}
    assert expand(plan).seed == 5
    assert expand(plan) == expand(RANDOM_KILLS, seed=5)
    assert expand(plan, seed=6).seed == 6


def test_the_example_plans_are_valid_and_do_what_their_names_say():
    broker = load_schedule(PLANS / "broker-kills.yaml")
    assert [(s.action, s.target) for s in broker.steps] == [
        ("kill", "broker"),
        ("start", "broker"),
    ] * 2
    kills = load_schedule(PLANS / "process-kills.yaml")
    assert sorted(s.target for s in kills.steps) == sorted(
        ["appointment-consumer", "notifier-consumer", "payment-relay", "appointment-relay",
         "notifier-relay"]
    )  # fmt: skip
    smtp = load_schedule(PLANS / "smtp-outage.yaml")
    (on, off) = smtp.steps
    assert (on.action, off.action, off.at_s - on.at_s) == ("smtp_refuse", "smtp_accept", 20.0)
    node = load_schedule(PLANS / "cluster-node-kill.yaml")
    [(kill, down), (start, up)] = [(s.action, s.target) for s in node.steps]
    assert (kill, start) == ("kill", "start") and down == up and down.startswith("broker-")
    chaos = load_schedule(PLANS / "provider-chaos.yaml")
    assert {"provider_fault", "webhook_faults"} <= chaos.uses


def test_a_toml_plan_reads_like_a_yaml_one(tmp_path):
    path = tmp_path / "plan.toml"
    path.write_text('seed = 2\n[[faults]]\nat = "5s"\naction = "smtp_refuse"\nfor = "3s"\n')

    assert steps(load_schedule(path)) == [
        (5.0, "smtp_refuse", "smtp"),
        (8.0, "smtp_accept", "smtp"),
    ]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ({"at": "30x", "action": "dlq_replay"}, r"faults\[0\]\.at: got '30x'; expected a duration"),
        ({"at": 5}, r"faults\[0\]\.action: missing"),
        ({"at": 5, "action": "explode"}, r"faults\[0\]\.action: got 'explode'; expected one of"),
        (
            {"at": 5, "action": "kill", "target": "databse"},
            r"faults\[0\]\.target: got 'databse'; expected one or a list of: provider",
        ),
        ({"at": 5, "action": "kill", "target": "broker"}, r"faults\[0\]\.for: missing; the"),
        (
            {"at": 5, "action": "kill", "target": "payment-relay", "for": 3},
            r"faults\[0\]\.for: not allowed here; a killed process is restarted",
        ),
        ({"at": 5, "action": "smtp_refuse"}, r"faults\[0\]\.for: missing"),
        (
            {"at": 5, "action": "provider_errors", "for": 5, "probability": 1.5},
            r"faults\[0\]\.probability: got 1\.5; expected a number from 0 to 1",
        ),
        (
            {"at": 5, "action": "smtp_refuse", "for": 5, "cod": 451},
            r"faults\[0\]\.cod: unknown field; known here: .*code",
        ),
        (
            {"at": 5, "action": "webhook_faults", "for": 5, "duplicate": {"copies": 0}},
            r"faults\[0\]\.duplicate\.copies: got 0; expected a whole number from 1 to 10",
        ),
        ({"at": 5, "action": "webhook_faults", "for": 5}, r"faults\[0\]: give at least one of"),
    ],
)
def test_a_bad_fault_is_refused_naming_its_field_value_and_what_is_expected(fault, message):
    with pytest.raises(FaultPlanError, match=message):
        expand({"faults": [fault]})


def test_two_smtp_outages_at_once_are_refused():
    overlapping = [
        {"at": 10, "action": "smtp_refuse", "for": 20},
        {"at": 20, "action": "smtp_refuse", "for": 5},
    ]
    with pytest.raises(FaultPlanError, match=r"faults\[1\] .*while faults\[0\] still holds"):
        expand({"faults": overlapping})


def test_random_faults_that_cannot_fit_their_window_are_refused():
    crowded = {"action": "kill", "targets": "broker", "times": 5, "between": [0, 20], "for": 5}
    with pytest.raises(FaultPlanError, match=r"random\[0\]: could not place 5 x kill"):
        expand({"random": [crowded]}, seed=1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("faults: [", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping with `faults`"),
        ("name: empty\n", "the plan has no faults"),
        ("faults: {at: 5}\n", "faults: got .*; expected a list of faults"),
        ("seed: -3\nfaults: [{at: 1, action: dlq_replay}]\n", "seed: got -3; expected a whole"),
    ],
)
def test_a_bad_plan_file_is_refused_naming_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(FaultPlanError, match=message) as raised:
        load_schedule(path)
    assert str(raised.value).startswith(str(path))


def test_sandbox_load_refuses_a_bad_plan_before_booting_anything(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    plan = tmp_path / "plan.yaml"
    plan.write_text(yaml.safe_dump({"faults": [{"at": "soon", "action": "dlq_replay"}]}))

    assert main(["load", "--faults", str(plan)]) == 2
    err = capsys.readouterr().err
    assert "faults[0].at: got 'soon'; expected a duration" in err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()
    assert main(["load", "--seed", "3"]) == 2


def test_sandbox_load_refuses_an_output_folder_holding_an_earlier_ledger(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "out"
    (out / "ledger").mkdir(parents=True)
    earlier = out / "ledger" / "flows-vm-1.jsonl"
    earlier.write_text('{"flow_id": "load-1"}\n')

    assert main(["load", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"error: {out} holds the flow ledger of an earlier load (1 file(s))" in err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()
    assert earlier.read_text() == '{"flow_id": "load-1"}\n'


def test_the_last_fault_ends_when_its_process_runs_again_or_its_broker_is_started(tmp_path):
    records = [
        {"event": "start", "wall_time": 100.0},
        {"event": "action", "action": "kill", "target": "broker", "ok": True,
         "wall_time": 140.0, "took_s": 0.1},
        {"event": "action", "action": "start", "target": "broker", "ok": True,
         "wall_time": 145.0, "took_s": 11.5},
        {"event": "action", "action": "kill", "target": "notifier-consumer", "ok": True,
         "wall_time": 150.0, "took_s": 0.0},
        {"event": "restarted", "target": "notifier-consumer", "ok": True, "wall_time": 151.0},
        {"event": "action", "action": "start", "target": "broker-2", "ok": False,
         "wall_time": 200.0, "took_s": 60.0},
    ]  # fmt: skip
    assert last_fault_end(records) == (156.5, "start broker done")
    assert last_fault_end(records[:1]) is None

    log = tmp_path / "faults.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records) + "{not json\n")
    assert read_log(log) == records


def test_thresholds_are_lenient_under_faults_unless_given():
    assert load_thresholds(None, None, None, faults=False)[:3] == (5000.0, 0.0, 60.0)
    p95, ratio, settle, note = load_thresholds(None, None, None, faults=True)
    assert (p95, ratio, settle) == (None, 1.0, 180.0) and "reconciliation is the verdict" in note
    assert load_thresholds(900.0, 0.1, 30.0, faults=True)[:3] == (900.0, 0.1, 30.0)


# -- the runner against a fake sandbox ----------------------------------------------------


class FakeSandbox:
    """Records every call; a killed process comes back (restarts + 1) when asked about."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.failing = failing
        self.restarts: dict[str, int] = {}

    def _call(self, name: str, arg: Any = None) -> Any:
        self.calls.append((name, arg))
        if name in self.failing:
            raise RuntimeError(f"{name} refused")
        return {"id": "flt_1"} if name == "provider_fault" else None

    def component(self, name: str) -> dict[str, Any]:
        return {"status": "ready", "pid": 100 + self.restarts.get(name, 0),
                "restarts": self.restarts.get(name, 0)}  # fmt: skip

    def process(self, action: str, target: str) -> dict[str, Any]:
        self._call(action, target)
        if action == "kill" and target != "broker":
            self.restarts[target] = self.restarts.get(target, 0) + 1
        return {"name": target, "action": action}

    def seed_provider(self, seed: int) -> None:
        self._call("seed_provider", seed)

    def provider_fault(self, rule: dict[str, Any]) -> str:
        return str(self._call("provider_fault", rule)["id"])

    def provider_fault_clear(self, rule_id: str | None) -> None:
        self._call("provider_fault_clear", rule_id)

    def webhook_faults(self, faults: dict[str, Any]) -> None:
        self._call("webhook_faults", faults)

    def webhook_faults_clear(self) -> None:
        self._call("webhook_faults_clear")

    def smtp_refuse(self, mode: dict[str, Any]) -> None:
        self._call("smtp_refuse", mode)

    def smtp_accept(self) -> None:
        self._call("smtp_accept")

    def merchant_fail(self, status: int) -> None:
        self._call("merchant_fail", status)

    def merchant_ok(self) -> None:
        self._call("merchant_ok")

    def dlq_replay(self, queues: list[str] | str) -> dict[str, int]:
        self._call("dlq_replay", queues)
        return {"payment_events.dlq": 2}


def schedule_of(*step: Step) -> Schedule:
    return Schedule("test", 9, step)


def run_to_the_end(runner: FaultRunner, events: int, within: float = 10) -> list[dict[str, Any]]:
    runner.start()
    try:
        wait_for(
            lambda: len([r for r in runner.records if r["event"] != "plan"]) >= events,
            timeout=within,
            what=f"{events} fault log records",
            seen=lambda: runner.records,
        )
    finally:
        runner.stop()
    return runner.records


def test_the_runner_executes_each_step_in_order_and_logs_it(tmp_path):
    fake = FakeSandbox()
    log = tmp_path / "faults.jsonl"
    schedule = schedule_of(
        Step(0.0, "provider_fault", "provider", {"path": "/v1/x"}, "f0"),
        Step(0.05, "kill", "notifier-relay", {}, "f1"),
        Step(0.1, "provider_fault_clear", "provider", {}, "f0"),
        Step(0.15, "dlq_replay", "dlq", {"queues": "all"}, "f2"),
    )
    runner = FaultRunner(schedule, fake, log)

    # start, seed, 4 actions, 1 restart check
    records = run_to_the_end(runner, events=7)

    assert [c[0] for c in fake.calls] == [
        "seed_provider", "provider_fault", "kill", "provider_fault_clear", "dlq_replay"
    ]  # fmt: skip
    assert ("provider_fault_clear", "flt_1") in fake.calls  # the rule it added, by id
    actions = [r for r in records if r["event"] == "action" and r["planned_s"] is not None]
    assert all(r["ok"] and r["at_s"] >= r["planned_s"] for r in actions)
    [restarted] = [r for r in records if r["event"] == "restarted"]
    assert restarted["ok"] and restarted["target"] == "notifier-relay", restarted
    assert not [r for r in records if r["event"] == "unplanned_restart"], records
    written = [json.loads(line) for line in log.read_text().splitlines()]
    assert written[0]["event"] == "plan" and written[-1]["event"] == "end"


def test_stopping_early_undoes_open_windows_and_skips_the_rest(tmp_path):
    fake = FakeSandbox()
    schedule = schedule_of(
        Step(0.0, "smtp_refuse", "smtp", {"code": 451}, "f0"),
        Step(0.0, "kill", "broker", {}, "f1"),
        Step(3600.0, "start", "broker", {}, "f1"),
        Step(3600.0, "smtp_accept", "smtp", {}, "f0"),
    )
    runner = FaultRunner(schedule, fake, tmp_path / "faults.jsonl")

    runner.start()
    wait_for(lambda: ("kill", "broker") in fake.calls, timeout=10, what="the broker kill")
    runner.stop()

    # undone newest first: the broker started again, then SMTP accepting again
    assert fake.calls[-2:] == [("start", "broker"), ("smtp_accept", None)]
    events = [r["event"] for r in runner.records]
    assert events.count("skipped") == 2 and events.count("undo") == 2


def test_a_failed_step_is_logged_and_the_schedule_goes_on(tmp_path):
    fake = FakeSandbox(failing=("webhook_faults",))
    schedule = schedule_of(
        Step(0.0, "webhook_faults", "provider", {"duplicate": {}}, "f0"),
        Step(0.05, "merchant_fail", "merchant", {"status": 503}, "f1"),
        Step(0.1, "merchant_ok", "merchant", {}, "f1"),
        Step(0.2, "webhook_faults_clear", "provider", {}, "f0"),
    )
    records = run_to_the_end(FaultRunner(schedule, fake, tmp_path / "f.jsonl"), events=5)

    failed = [r for r in records if r.get("ok") is False]
    assert [(r["action"], r["error"]) for r in failed] == [
        ("webhook_faults", "RuntimeError: webhook_faults refused")
    ]
    assert [c[0] for c in fake.calls][-3:] == [
        "merchant_fail",
        "merchant_ok",
        "webhook_faults_clear",
    ]


def test_a_process_that_died_without_the_plan_is_reported(tmp_path):
    fake = FakeSandbox()
    schedule = schedule_of(Step(0.0, "kill", "notifier-relay", {}, "f0"))
    runner = FaultRunner(schedule, fake, tmp_path / "f.jsonl").start()
    wait_for(lambda: fake.calls, timeout=5, what="the kill")
    fake.restarts["merchant"] = 1  # the mock merchant crashed and came back, empty
    runner.stop()

    unplanned = [r for r in runner.records if r["event"] == "unplanned_restart"]
    assert unplanned == [{"event": "unplanned_restart", "target": "merchant", "restarts": 1}]
    assert "WARNING: merchant died" in summary(runner.records, tmp_path / "f.jsonl")


def test_the_schedule_waits_for_the_load_to_start(tmp_path):
    fake = FakeSandbox()
    started: list[bool] = []
    runner = FaultRunner(
        schedule_of(
            Step(0.0, "smtp_refuse", "smtp", {}, "f0"), Step(0.0, "smtp_accept", "smtp", {}, "f0")
        ),
        fake,
        tmp_path / "f.jsonl",
        started=lambda: bool(started),
    )
    runner.start()
    wait_for(lambda: runner.records[-1]["event"] == "plan", timeout=5, what="the plan logged")
    assert fake.calls == [] and runner.t0 is None
    started.append(True)
    wait_for(lambda: len(fake.calls) == 2, timeout=5, what="both steps", seen=lambda: fake.calls)
    runner.stop()


# -- against a real sandbox ---------------------------------------------------------------


@pytest.fixture(scope="module")
def chaos_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_sandbox(tmp_path_factory.mktemp("faults-sandbox"), profile="load") as client:
        yield client.state_file.state_dir


def real_controls(state_dir: Path) -> SandboxControls:
    return SandboxControls(state_dir, build(SandboxSettings.from_env().broker))


@pytest.mark.integration
@pytest.mark.slow
def test_window_faults_cut_short_are_undone_on_the_real_mocks(chaos_sandbox, tmp_path):
    controls = real_controls(chaos_sandbox)
    client = SupervisorClient(chaos_sandbox)
    smtp = SmtpClient(client.endpoint("smtp"))
    provider = ProviderClient(client.endpoint("provider"))
    schedule = expand(
        {
            "faults": [
                {"at": 0, "action": "smtp_refuse", "for": "10m", "code": 452},
                {"at": 0, "action": "provider_errors", "for": "10m", "probability": 0.5},
                {"at": 0, "action": "webhook_faults", "for": "10m", "duplicate": {}},
            ]
        },
        seed=4,
    )
    runner = FaultRunner(schedule, controls, tmp_path / "faults.jsonl").start()
    try:
        refusing = wait_for(
            lambda: smtp.control()["refuse"]["enabled"], timeout=10, what="SMTP refusing"
        )
        assert refusing
        wait_for(
            lambda: len(runner.records) >= 6, timeout=10, what="all three faults applied"
        )  # plan, start, seed, three actions
        control = provider.control()
        assert [r["probability"] for r in control["faults"]] == [0.5] and control["seed"] == 4
    finally:
        runner.stop()

    assert smtp.control()["refuse"]["enabled"] is False
    control = provider.control()
    assert control["faults"] == []
    assert control["webhooks"]["duplicate"]["probability"] == 0.0
    assert all(r["ok"] for r in runner.records if "ok" in r), runner.records


@pytest.mark.integration
@pytest.mark.slow
def test_a_broker_kill_is_followed_by_a_start_through_the_supervisor(chaos_sandbox, tmp_path):
    client = SupervisorClient(chaos_sandbox)
    schedule = expand({"faults": [{"at": 0, "action": "kill", "target": "broker", "for": 1}]})
    runner = FaultRunner(schedule, real_controls(chaos_sandbox), tmp_path / "faults.jsonl")

    # a private node takes about 10 s to start
    records = run_to_the_end(runner, events=3, within=60)  # start, kill, start

    done = [(r["action"], r["ok"]) for r in records if r["event"] == "action"]
    assert done == [("kill", True), ("start", True)], records
    assert client.state()["broker"]["status"] == "ready"
    # the services reconnect on their own: the whole sandbox reports healthy again
    wait_for(lambda: lifecycle.status(chaos_sandbox) == 0, timeout=60, what="every process healthy")


@pytest.mark.integration
@pytest.mark.slow
def test_a_load_with_a_consumer_kill_and_an_smtp_outage_reconciles_clean(chaos_sandbox, tmp_path):
    plan = tmp_path / "plan.yaml"
    # 9 s of refusals outlast the notifier's 1 s + 2 s + 4 s retries: the emails of the
    # flows under way when SMTP went away reach the DLQ (the users then wait for them), and
    # the replay at 14 s sends them, once each
    plan.write_text(
        yaml.safe_dump(
            {
                "name": "consumer-and-smtp",
                "seed": 5,
                "faults": [
                    {"at": "2s", "action": "smtp_refuse", "for": "9s"},
                    {"at": "12s", "action": "kill", "target": "appointment-consumer"},
                    {"at": "14s", "action": "dlq_replay"},
                ],
            }
        )
    )
    before = SupervisorClient(chaos_sandbox).state()["components"]["appointment-consumer"]
    out = tmp_path / "out"

    done = sandbox_load(
        chaos_sandbox, out,
        *("-u", "6", "-r", "6", "-t", "20s", "--flows-per-s", "4", "--faults", str(plan)),
    )  # fmt: skip

    report = f"exit {done.returncode}\n{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
    assert done.returncode == 0, report
    assert "fault plan 'consumer-and-smtp' (seed 5): 4 step(s)" in done.stdout, report
    assert "Locust's thresholds are lenient" in done.stdout, report
    log = [json.loads(line) for line in (out / "faults.jsonl").read_text().splitlines()]
    acted = {r["action"]: r for r in log if r["event"] == "action"}
    assert set(acted) == {"kill", "smtp_refuse", "smtp_accept", "dlq_replay"}, log
    assert all(r["ok"] for r in acted.values()), log
    refused = [
        acted[a]["result"]["refuse"]["refused_total"] for a in ("smtp_refuse", "smtp_accept")
    ]
    assert refused[1] > refused[0], log
    assert sum(acted["dlq_replay"]["result"]["replayed"].values()) > 0, log
    [restarted] = [r for r in log if r["event"] == "restarted"]
    assert restarted["ok"] and restarted["pid"] != before["pid"], restarted
    after = SupervisorClient(chaos_sandbox).state()["components"]["appointment-consumer"]
    assert after["restarts"] == before["restarts"] + 1, after
    # the verdict: every flow accounted for, none lost, none doubled, none left in a DLQ
    assert re.search(r"reconciliation of \d+ flows .*: ok", done.stdout), report
    for outcome in ("lost", "duplicated", "parked in dlq", "unexpected outcome"):
        assert re.search(rf"^\s+{outcome}\s+0\b", done.stdout, re.M), report
    # the last fault was over when the killed consumer ran again; the flows started before
    # it all finished, and the run says when the last of them did
    recovery = re.search(
        r"recovery: (\d+) flow\(s\) started before appointment-consumer running again at "
        r"[\d:]+; (\d+) finished, the last [\d.]+ s (after it|before it was over)",
        done.stdout,
    )
    assert recovery and recovery[1] == recovery[2] and int(recovery[1]) > 0, report
    assert "did not finish" not in done.stdout, report
