"""The request plumbing shared by every ``/v1`` route.

In order: injected faults, the API key, parsing the form body or query string,
checking parameters against the route's spec, the idempotency key, the handler, and
``expand``.  Handlers are plain functions ``(provider, params, request_info, **path)``
that return a Stripe object or raise :class:`StripeError`.  The routes every resource has
alike (its list, and retrieving one object by id) are added with :func:`add_list` and
:func:`add_retrieve`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, g, request

from mocks.provider import params as p
from mocks.provider.errors import StripeError
from mocks.provider.forms import parse_body, parse_text
from mocks.provider.idempotency import fingerprint
from mocks.provider.runtime import Provider
from mocks.provider.store import Obj, RequestInfo, Store, new_id

Handler = Callable[..., Obj]
Lister = Callable[[Store, dict[str, Any]], Obj]
RETRIEVE: p.Spec = {"expand": p.EXPAND}
TEST_KEY_PREFIXES = ("sk_test_", "rk_test_", "pk_test_")
# what a browser may do with a publishable key (Stripe.js): card details and confirming
# or reading a PaymentIntent it holds the client_secret of
PUBLISHABLE_ENDPOINTS = {
    "v1_payments.create_payment_method",
    "v1_payments.confirm_payment_intent",
    "v1_payments.retrieve_payment_intent",
}


def provider() -> Provider:
    found: Provider = current_app.extensions["provider"]
    return found


def json_response(status: int, body: bytes, headers: dict[str, str] | None = None) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers.update(headers or {})
    return response


def error_response(error: StripeError, request_id: str | None = None) -> Response:
    headers = dict(error.headers)
    if request_id:
        headers["Request-Id"] = request_id
    return json_response(error.status, json.dumps(error.body()).encode(), headers)


def before_api_request() -> Response | None:
    """Apply faults, then authenticate; runs before every /v1 route."""
    g.request_id = new_id("req", 14)
    fault = provider().faults.apply(request.method, request.path)
    if fault is not None:
        return error_response(fault, g.request_id)
    try:
        g.api_key = authenticate(request.headers.get("Authorization"), provider().settings.api_keys)
    except StripeError as exc:
        return error_response(exc, g.request_id)
    if g.api_key.startswith("pk_") and request.endpoint not in PUBLISHABLE_ENDPOINTS:
        refusal = StripeError(
            403,
            "This API call cannot be made with a publishable API key. Use a secret key.",
            type="invalid_request_error",
            code="secret_key_required",
        )
        return error_response(refusal, g.request_id)
    return None


def authenticate(header: str | None, allowed: tuple[str, ...]) -> str:
    """Return the API key from a Bearer or Basic header, or raise a 401."""
    if not header:
        raise _auth_error(
            "You did not provide an API key. Provide it in the Authorization header as "
            "'Bearer sk_test_...'.",
            "api_key_missing",
        )
    scheme, _, value = header.partition(" ")
    key = value.strip()
    if scheme.lower() == "basic":
        try:
            key = base64.b64decode(key, validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise _auth_error("Invalid Basic Authorization header.", "api_key_invalid") from None
    elif scheme.lower() != "bearer":
        raise _auth_error(
            "Invalid Authorization header: use 'Bearer sk_test_...'.", "api_key_invalid"
        )
    if not key:
        raise _auth_error("You did not provide an API key.", "api_key_missing")
    valid = key in allowed if allowed else key.startswith(TEST_KEY_PREFIXES) and len(key) > 8
    if not valid:
        raise _auth_error(f"Invalid API Key provided: {_redact(key)}", "api_key_invalid")
    return key


def _auth_error(message: str, code: str) -> StripeError:
    return StripeError(401, message, code=code)


def _redact(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "****"


def raw_params() -> dict[str, Any]:
    if request.method == "POST":
        content_type = request.mimetype
        if content_type and content_type != "application/x-www-form-urlencoded":
            raise StripeError(
                400,
                f"Invalid request: the body must be application/x-www-form-urlencoded, "
                f"not {content_type}.",
                code="parameter_invalid",
            )
        body = parse_body(request.get_data(cache=False))
        query = parse_text(request.query_string.decode("latin-1"))
        return {**query, **body}
    return parse_text(request.query_string.decode("latin-1"))


def api_view(spec: p.Spec) -> Callable[[Handler], Callable[..., Response]]:
    """Wrap a handler with parsing, parameter checks, idempotency and expand."""

    def decorate(handler: Handler) -> Callable[..., Response]:
        @functools.wraps(handler)
        def view(**path: str) -> Response:
            try:
                return _run(handler, spec, path)
            except StripeError as exc:
                return error_response(exc, g.request_id)

        return view

    return decorate


def add_list(bp: Blueprint, resource: str, spec: p.Spec, list_: Lister) -> None:
    """Serve ``GET /v1/<resource>`` (endpoint ``list_<resource>``): the list ``list_`` makes."""

    def list_view(prov: Provider, params: dict[str, Any], req: RequestInfo) -> Obj:
        return list_(prov.store, params)

    bp.add_url_rule(f"/{resource}", f"list_{resource}", api_view(spec)(list_view), methods=["GET"])


def add_retrieve(bp: Blueprint, resource: str, kind: str, param: str | None = None) -> None:
    """Serve ``GET /v1/<resource>/<id>`` (endpoint ``retrieve_<kind>``): the stored object
    of ``kind``, or a 404 naming ``param`` (by default ``kind``)."""

    def retrieve_view(prov: Provider, params: dict[str, Any], req: RequestInfo, id_: str) -> Obj:
        return prov.store.get(kind, id_, param or kind)

    view = api_view(RETRIEVE)(retrieve_view)
    bp.add_url_rule(f"/{resource}/<id_>", f"retrieve_{kind}", view, methods=["GET"])


def _run(handler: Handler, spec: p.Spec, path: dict[str, str]) -> Response:
    prov = provider()
    raw = raw_params()
    params = p.check(raw, spec)
    expand = params.pop("expand", [])
    key = request.headers.get("Idempotency-Key") if request.method == "POST" else None
    info = RequestInfo(
        g.request_id, key, publishable=g.api_key.startswith("pk_"), host_url=request.host_url
    )
    headers = {"Request-Id": g.request_id}
    if key is None:
        status, body = _execute(prov, handler, params, info, path, expand)
        return json_response(status, body, headers)
    if not key or len(key) > 255:
        raise StripeError(
            400,
            "Idempotency-Key must be between 1 and 255 characters.",
            code="parameter_invalid",
            param="Idempotency-Key",
        )
    scope = (g.api_key, key)
    headers["Idempotency-Key"] = key
    record = prov.idempotency.begin(scope, fingerprint(request.method, request.path, raw), info.id)
    if record is not None and record.status is not None and record.body is not None:
        headers |= {"Idempotent-Replayed": "true", "Original-Request": record.request_id}
        return json_response(record.status, record.body, headers)
    try:
        status, body = _execute(prov, handler, params, info, path, expand)
    except BaseException:
        prov.idempotency.abandon(scope)
        raise
    prov.idempotency.finish(scope, status, body)
    return json_response(status, body, headers)


def _execute(
    prov: Provider,
    handler: Handler,
    params: dict[str, Any],
    info: RequestInfo,
    path: dict[str, str],
    expand: list[str],
) -> tuple[int, bytes]:
    # one lock around the change and its serialisation: no reader sees half an update
    with prov.store.lock:
        try:
            obj = handler(prov, params, info, **path)
            if expand:
                obj = prov.store.expand(obj, expand)
            return 200, json.dumps(obj).encode()
        except StripeError as exc:
            return exc.status, json.dumps(exc.body()).encode()
