"""``deploy/compose.yaml`` runs the sandbox's own process list on several hosts: the
same processes, each with the same command and every variable ``sandbox up`` gives it."""

from __future__ import annotations

from pathlib import Path

import yaml

from sandbox.control import stack

COMPOSE = Path(__file__).resolve().parents[2] / "deploy" / "compose.yaml"
# what only a sandbox on one machine needs: its state directory for SQLite files
LOCAL_ONLY = {"SANDBOX_STATE_DIR"}


def planned() -> list[stack.Component]:
    ports = stack.choose_ports(prefer=False)
    return stack.plan(
        state_dir=Path("/unused"),
        broker_url="amqp://guest:guest@broker:5672/",
        ports=ports,
        keys=stack.new_secrets(),
    )


def test_compose_runs_every_process_of_the_sandbox_with_its_command():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for component in planned():
        assert component.name in services, f"{component.name} is missing from {COMPOSE.name}"
        command = services[component.name]["command"]
        assert command[:3] == ["python", "-m", component.module], command
        assert [a for a in command[3:] if not a.isdigit() and a != "0.0.0.0"] == [
            a for a in component.args if not a.isdigit() and a != stack.HOST
        ], (component.name, command, component.args)


def test_compose_gives_each_process_every_variable_the_sandbox_gives_it():
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for component in planned():
        given = set(services[component.name].get("environment") or {})
        missing = set(component.env) - LOCAL_ONLY - given
        assert not missing, (component.name, sorted(missing))
