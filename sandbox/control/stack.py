"""What a running sandbox consists of, as data: every process, its port, health and wiring.

``plan()`` turns settings, chosen ports and generated secrets into a list of
``Component``s; the supervisor starts them in order and the CLI prints their endpoints.
Services are added here as they exist; a component whose module is not installed is
left out with a note rather than failing the whole sandbox.
"""

from __future__ import annotations

import importlib.util
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sandbox.ports import random_port
from sandbox.settings import SERVICE_PORTS

HOST = "127.0.0.1"  # the default of SANDBOX_HOST: where every process binds and is dialled

# The component that listens on a port whose key is not a component's name.
PORT_OWNERS = {"smtp-http": "smtp"}

# The environment variable that sets each worker's health port.
WORKER_PORT_VARIABLES = {
    "payment-relay": "PAYMENT_RELAY_HEALTH_PORT",
    "appointment-consumer": "APPOINTMENT_CONSUMER_HEALTH_PORT",
    "appointment-relay": "APPOINTMENT_RELAY_HEALTH_PORT",
    "notifier-consumer": "NOTIFIER_CONSUMER_HEALTH_PORT",
    "notifier-relay": "NOTIFIER_RELAY_HEALTH_PORT",
}


# The processes ``--scale`` can run several of, and their role.
SCALABLE = {
    "payment": "web",
    "payment-relay": "relay",
    "appointment": "web",
    "appointment-consumer": "consumer",
    "appointment-relay": "relay",
    "notifier": "web",
    "notifier-consumer": "consumer",
    "notifier-relay": "relay",
}
MAX_REPLICAS = 16


def replica_names(process: str, scale: Mapping[str, int]) -> list[str]:
    """The components that run ``process``: its own name first, then ``<name>-2`` ..."""
    return [process] + [f"{process}-{i}" for i in range(2, scale.get(process, 1) + 1)]


def replica_of(name: str) -> str | None:
    """The process ``name`` is a further replica of (``payment-relay`` for
    ``payment-relay-2``), or None."""
    process, _, number = name.rpartition("-")
    if process in SCALABLE and number.isdigit() and 2 <= int(number) <= MAX_REPLICAS:
        return process
    return None


def own_port(name: str) -> str:
    """The key, in the ports, of the port a web replica answers on alone."""
    return f"{name} (own)"


def parse_scale(values: list[str]) -> dict[str, int]:
    """``NAME=N`` settings (``--scale``) as a mapping; ValueError naming the bad one."""
    scale: dict[str, int] = {}
    for value in values:
        name, _, count = value.partition("=")
        name = name.strip()
        if name not in SCALABLE:
            raise ValueError(
                f"--scale {value!r}: {name!r} is not a process that runs as replicas "
                f"(one of: {', '.join(SCALABLE)})"
            )
        if not count.strip().isdigit() or not 1 <= int(count) <= MAX_REPLICAS:
            raise ValueError(
                f"--scale {value!r}: expected {name}=N with N from 1 to {MAX_REPLICAS}"
            )
        scale[name] = int(count)
    return scale


# The provider events the payment service changes state on (services/payment/handlers/webhooks.py).
PAYMENT_WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
)

# Seconds from a provider event to its webhook's first delivery (PROVIDER_WEBHOOK_LATENCY_S
# in the environment of `sandbox up` overrides it; 0 brings back the race between the
# webhook and the API answer, which the payment service handles either way).
WEBHOOK_LATENCY_S = "0.2"

# What a profile changes in every component's environment.  ``dev`` is the realistic
# default (payment rate limits on); ``load`` is for load tests, where every request
# comes from one address and a per-address limit would measure the limiter, and where
# the mocks keep every email and callback (0: no cap) so the reconciliation sees them all.
PROFILES: dict[str, dict[str, str]] = {
    "dev": {},
    "load": {
        "PAYMENT_RATE_LIMIT_ENABLED": "false",
        "MOCK_SMTP_MAX_MESSAGES": "0",
        "MOCK_MERCHANT_MAX_RECORDS": "0",
        # like a production endpoint, subscribe to the events the payment service acts
        # on; the charge.* and payment_intent.created deliveries only cost CPU
        "PROVIDER_WEBHOOK_EVENTS": ",".join(PAYMENT_WEBHOOK_EVENTS),
    },
}


@dataclass(frozen=True)
class Component:
    name: str
    module: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    health_url: str | None = None
    endpoint: str | None = None  # what people open; None for background workers
    kind: str = "service"  # "mock", "service" or "worker"
    database: str | None = None  # the service's database URL, password masked
    process: str = ""  # what a replica runs (``payment-relay`` for ``payment-relay-2``)


def masked_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***``, the rest as written (the
    standard library's parser: the supervisor loads no SQLAlchemy to show a URL)."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL: show nothing of it
        return "***"
    if parts.password is None:
        # an "@" outside the host part: a URL written wrong, which may hold a password
        return url if "@" not in url or "@" in parts.netloc else "***"
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def database_url(environ: Mapping[str, str], service: str, data: Path) -> str:
    """The service's database: ``<SERVICE>_DATABASE_URL``, else ``DATABASE_URL`` (tables
    are prefixed with the service's name, so services can share one), else a SQLite
    file in the sandbox's data directory."""
    return (
        environ.get(f"{service.upper()}_DATABASE_URL")
        or environ.get("DATABASE_URL")
        or f"sqlite:///{data / f'{service}.db'}"
    )


def _port_free(port: int, host: str = HOST) -> bool:
    """True when nothing listens on ``port`` (port_for only knows IANA's lists)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_ports(
    taken: set[int] | None = None,
    *,
    prefer: bool = True,
    scale: Mapping[str, int] | None = None,
    host: str = HOST,
) -> dict[str, int]:
    """Preferred ports where free, free random ports otherwise; all distinct.

    ``prefer=False`` takes random free ports only: sandboxes booting side by side (test
    workers) would otherwise race for the same preferred port between check and bind.
    Replicas (``scale``) get random ones: a worker replica its health port, a web
    replica the port it answers on alone (``own_port``).
    """
    used = set(taken or ())
    ports: dict[str, int] = {}
    wanted = dict(SERVICE_PORTS)
    for process, count in (scale or {}).items():
        names = replica_names(process, {process: count})
        web = SCALABLE.get(process) == "web"
        extra = [own_port(name) for name in names] if web and count > 1 else names[1:]
        wanted.update(dict.fromkeys(extra, 0))
    for name, preferred in wanted.items():
        port = preferred if prefer and preferred else random_port()
        while port in used or not _port_free(port, host):
            port = random_port()
        used.add(port)
        ports[name] = port
    return ports


def new_secrets() -> dict[str, str]:
    return {
        "provider_api_key": "sk_test_sandbox_" + secrets.token_hex(12),
        "webhook_secret": "whsec_" + secrets.token_hex(16),
        "merchant_secret": secrets.token_hex(24),
    }


def module_available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def plan(
    *,
    state_dir: Path,
    broker_url: str,
    ports: dict[str, int],
    keys: dict[str, str],
    extra_env: dict[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    scale: Mapping[str, int] | None = None,
    host: str = HOST,
) -> list[Component]:
    """Every process of the sandbox in start order (mocks first, then services).

    ``environ`` is the environment ``sandbox up`` ran in: its database URLs win over the
    SQLite files in the state directory.  ``scale`` runs that many replicas of a web,
    consumer or relay process (``replica_names``); ``ports`` then needs theirs too
    (``choose_ports(scale=...)``).  Every process binds ``host`` and finds the others
    there (``SANDBOX_HOST``)."""
    data = state_dir / "data"
    environ = environ or {}
    scale = scale or {}
    common = {
        "RABBITMQ_URL": broker_url,
        "SANDBOX_STATE_DIR": str(state_dir),
        **(extra_env or {}),
    }
    url = {name: f"http://{host}:{port}" for name, port in ports.items()}
    components = [
        Component(
            "provider",
            "mocks.provider",
            ("--host", host, "--port", str(ports["provider"])),
            {
                **common,
                "PROVIDER_WEBHOOK_URL": f"{url['payment']}/payment/webhook",
                "PROVIDER_WEBHOOK_SECRET": keys["webhook_secret"],
                # a webhook trails the API answer that caused it, as Stripe's do; with
                # none, the payment's webhook often overtook its own confirm's answer
                "PROVIDER_WEBHOOK_LATENCY_S": environ.get(
                    "PROVIDER_WEBHOOK_LATENCY_S", WEBHOOK_LATENCY_S
                ),
            },
            health_url=f"{url['provider']}/health",
            endpoint=url["provider"],
            kind="mock",
        ),
        Component(
            "smtp",
            "mocks.smtp",
            (
                "--host",
                host,
                "--smtp-port",
                str(ports["smtp"]),
                "--http-port",
                str(ports["smtp-http"]),
            ),
            common,
            health_url=f"{url['smtp-http']}/health",
            endpoint=url["smtp-http"],
            kind="mock",
        ),
        Component(
            "merchant",
            "mocks.merchant",
            ("--host", host, "--port", str(ports["merchant"])),
            # secrets go through the environment: a command line is public (ps, /proc)
            {**common, "MOCK_MERCHANT_SECRET": keys["merchant_secret"]},
            health_url=f"{url['merchant']}/health",
            endpoint=url["merchant"],
            kind="mock",
        ),
    ]
    payment_env = {
        **common,
        "PAYMENT_PORT": str(ports["payment"]),
        "PAYMENT_DATABASE_URL": database_url(environ, "payment", data),
        "PROVIDER_URL": url["provider"],
        "PROVIDER_API_KEY": keys["provider_api_key"],
        # short enough that a provider-timeout scenario finishes quickly
        "PROVIDER_TIMEOUT_S": "3",
        "PAYMENT_WEBHOOK_SECRET": keys["webhook_secret"],
        "PAYMENT_APPOINTMENTS_URL": url["appointment"],
    }
    appointment_env = {
        **common,
        "APPOINTMENT_PORT": str(ports["appointment"]),
        "APPOINTMENT_DATABASE_URL": database_url(environ, "appointment", data),
    }
    notifier_env = {
        **common,
        "NOTIFIER_PORT": str(ports["notifier"]),
        "NOTIFIER_DATABASE_URL": database_url(environ, "notifier", data),
        "SMTP_HOST": host,
        "SMTP_PORT": str(ports["smtp"]),
        "MERCHANT_CALLBACK_URL": f"{url['merchant']}/callbacks",
        "MERCHANT_CALLBACK_SECRET": keys["merchant_secret"],
    }
    services = [
        ("payment", payment_env, ("web", "relay")),
        ("appointment", appointment_env, ("web", "consumer", "relay")),
        ("notifier", notifier_env, ("web", "consumer", "relay")),
    ]
    for service, env, roles in services:
        module = f"sandbox.services.{service}"
        if not module_available(f"{module}.__main__"):
            continue
        prefix = service.upper()
        # every process of the service rings its relays' doorbells (UDP, each relay's
        # health port number) after committing events, so a relay wakes at once
        relays = replica_names(f"{service}-relay", scale)
        doorbell = ",".join(f"{host}:{ports[relay]}" for relay in relays)
        for role in roles:
            process = service if role == "web" else f"{service}-{role}"
            names = replica_names(process, scale)
            for name in names:
                component_env = {**env, f"{prefix}_HOST": host, "OUTBOX_DOORBELL": doorbell}
                component_env.update(_replica_env(prefix, role, process, name, len(names), ports))
                own = component_env.get(f"{prefix}_REPLICA_PORT")
                health = url.get(name, url[process]) if own is None else f"http://{host}:{own}"
                components.append(
                    Component(
                        name,
                        module,
                        (role,),
                        component_env,
                        health_url=f"{health}/health",
                        endpoint=url[service] if role == "web" else None,
                        kind="service" if role == "web" else "worker",
                        database=masked_url(env[f"{prefix}_DATABASE_URL"]),
                        process=process,
                    )
                )
    return components


def _replica_env(
    prefix: str, role: str, process: str, name: str, replicas: int, ports: Mapping[str, int]
) -> dict[str, str]:
    """What one replica of ``process`` is told beyond its service's environment."""
    if role == "web":
        # replicas share the service's port (SO_REUSEPORT: the kernel spreads connections
        # over them) and each answers alone on a port of its own
        return {f"{prefix}_REPLICA_PORT": str(ports[own_port(name)])} if replicas > 1 else {}
    env = {WORKER_PORT_VARIABLES[process]: str(ports[name])}
    if role == "relay":
        # the name it claims outbox rows under: its own, so that a replica started again
        # takes back its claims and no other's
        env[f"{prefix}_RELAY_NAME"] = name
    return env


def with_rotated_broker_urls(component: Component, index: int) -> Component:
    """The component with its cluster URLs rotated by ``index``: each one connects first
    to another node, so that connections spread over the cluster instead of piling on
    node 1, and fails over to the nodes after it."""
    from sandbox.messaging import split_urls  # pika: only for the supervisor

    url = component.env.get("RABBITMQ_URL")
    urls = split_urls(url) if url else []
    if len(urls) < 2:
        return component
    shift = index % len(urls)
    rotated = ",".join(urls[shift:] + urls[:shift])
    return replace(component, env={**component.env, "RABBITMQ_URL": rotated})
