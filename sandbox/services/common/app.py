"""What every service's Flask app has: its tables, the shared HTTP conventions, its
``/health`` and its contract at ``/openapi.json``.

``service_app`` makes each service's app, and its ``create_app`` adds what only that
service has: it makes the app over the engine (the settings' database unless one is
given), creates the service's tables, keeps what the service's routes need (its
*context*: settings, storage, clients; ``context(kind)`` finds it again), installs the
error shape and correlation ids (``web.install``) and registers the ``meta`` blueprint
and the service's own.  ``GET /health`` answers
in the shared format of ``sandbox.health``: the database and the outbox backlog, and
the service's own ``checks``; ``GET /openapi.json`` is
``contracts/http/<service>.openapi.yaml``, the document the service validates its
request bodies with.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, jsonify
from sqlalchemy import Engine, MetaData, Table

from sandbox import health
from sandbox.contracts.files import default_contracts_dir
from sandbox.services.common import web
from sandbox.services.common.db import create_schema, make_engine
from sandbox.services.common.health import web_report
from sandbox.services.common.openapi import OpenApiDocument
from sandbox.services.common.settings import ServiceSettings

Checks = Callable[[], dict[str, dict[str, Any]]]
C = TypeVar("C")


def openapi_path(service: str) -> Path:
    """The service's contract: ``contracts/http/<service>.openapi.yaml``."""
    return default_contracts_dir() / "http" / f"{service}.openapi.yaml"


@dataclass(frozen=True)
class ServiceInfo:
    """What ``meta`` answers for one app: ``app.extensions["service"]``."""

    name: str
    engine: Engine
    outbox: Table
    openapi: OpenApiDocument
    checks: Checks = dict  # the service's own checks besides its database
    advisory: tuple[str, ...] = ()  # checks that do not make it unready
    sections: Callable[[], dict[str, Any]] = field(default=dict)  # more to report


def info() -> ServiceInfo:
    found: ServiceInfo = current_app.extensions["service"]
    return found


def context(kind: type[C]) -> C:
    """The current app's service context (what ``service_app`` was given)."""
    found = current_app.extensions[info().name.removesuffix("-service")]
    assert isinstance(found, kind)
    return found


meta = Blueprint("meta", __name__)


@meta.get("/health")
def service_health() -> Response:
    i = info()
    report = web_report(i.name, i.engine, i.outbox, i.checks(), advisory=i.advisory, **i.sections())
    return health.flask_response(report)


@meta.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(info().openapi.document)


def service_app(
    name: str,
    metadata: MetaData,
    settings: ServiceSettings,
    context: Callable[[Engine], object],
    *,
    engine: Engine | None = None,
    blueprints: Sequence[Blueprint] = (),
    checks: Checks = dict,
    advisory: tuple[str, ...] = (),
    sections: Callable[[], dict[str, Any]] = dict,
) -> Flask:
    """A service's app with its tables, context (made over the engine), conventions,
    ``/health``, ``/openapi.json`` and ``blueprints``."""
    package = name.removesuffix("-service")
    engine = engine if engine is not None else make_engine(settings.database_url)
    create_schema(engine, metadata)
    app = Flask(name)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = ServiceInfo(
        name,
        engine,
        metadata.tables[f"{package}_outbox"],
        OpenApiDocument(openapi_path(package)),
        checks,
        advisory,
        sections,
    )
    app.extensions["service"] = service
    app.extensions[package] = context(engine)
    web.install(app, name, max_body_bytes=settings.max_body_bytes)
    app.register_blueprint(meta)
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app
