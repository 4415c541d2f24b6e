"""The application factory: a Flask app serving the Stripe subset and the control API.

``create_app(settings)`` builds the app and its :class:`Provider` but starts nothing;
the owner (``main()`` or a test fixture) calls ``app.extensions["provider"].start()``
to run the webhook thread, and ``.stop()`` at the end.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from mocks.provider import api_events, api_payments, control
from mocks.provider.endpoint import error_response
from mocks.provider.errors import StripeError, api_error, unrecognized_url
from mocks.provider.runtime import Provider
from mocks.provider.settings import ProviderSettings
from sandbox import health

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def create_app(settings: ProviderSettings, provider: Provider | None = None) -> Flask:
    """Build the provider's Flask app around a (new or given) Provider."""
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["provider"] = provider or Provider(settings)
    app.register_blueprint(api_payments.bp)
    app.register_blueprint(api_events.bp)
    app.register_blueprint(control.bp)

    @app.before_request
    def _started() -> None:
        g.began = time.time()

    @app.after_request
    def _record(response: Response) -> Response:
        if request.path.startswith("/v1/"):
            app.extensions["provider"].requests.record(
                began=g.get("began", time.time()),
                method=request.method,
                path=request.path,
                status=response.status_code,
                body=b"" if response.direct_passthrough else response.get_data(),
                idempotency_key=request.headers.get("Idempotency-Key"),
            )
        return response

    @app.get("/health")
    def provider_health() -> Response:
        return health.flask_response(app.extensions["provider"].health())

    @app.errorhandler(StripeError)
    def stripe_error(exc: StripeError) -> Response:
        return error_response(exc, g.get("request_id"))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        if exc.code == 405 and not request.path.startswith("/v1/"):
            error = StripeError(405, f"{request.method} is not allowed on {request.path}.")
            error.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
            return error_response(error)
        if exc.code in (404, 405):
            # Stripe answers an unsupported method with the same 404 as an unknown URL
            return error_response(unrecognized_url(request.method, request.path))
        status = exc.code or 500
        message = exc.description or exc.name
        return error_response(StripeError(status, message, code="parameter_invalid"))

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(api_error(500), g.get("request_id"))

    return app
