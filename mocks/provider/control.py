"""The control API under ``/_control``: faults, webhook faults, clock, seed, reset, and
the customer's answer to a 3D Secure authentication.

JSON in, JSON out; every refusal is a 400 in the same error shape as the Stripe API,
naming the field (``{"error": {"param": "delay.ms", ...}}``).  Documented in
``contracts/http/provider-control.openapi.yaml``.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, request

from mocks.provider import payments, webhook_faults
from mocks.provider.control_input import Reader
from mocks.provider.endpoint import provider
from mocks.provider.errors import StripeError
from sandbox import strict_json

bp = Blueprint("control", __name__, url_prefix="/_control")

# years 1 to 9999: beyond them dates cannot be computed (card expiry checks use them)
MIN_TIME = -62135596800.0
MAX_TIME = 253402300799.0

# the buttons of Stripe's test-mode authentication page
OUTCOMES = ("complete", "fail")
DELIVERY_STATUSES = (
    "scheduled",
    "held",
    "retrying",
    "delivering",
    "delivered",
    "failed",
    "lost",
    "canceled",
)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


def _body() -> Any:
    raw = request.get_data(cache=False)
    if not raw:
        return {}  # the body is optional; whitespace alone is not JSON
    try:
        return strict_json.loads(raw)
    except strict_json.JsonError as exc:
        raise StripeError(
            400, f"body: not valid JSON ({exc}).", code="parameter_invalid", param="body"
        ) from None


def _not_found(kind: str, object_id: str) -> StripeError:
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param="id")


@bp.get("")
def show_control() -> Response:
    """Everything injected now: fault rules, webhook faults, seed and clock."""
    prov = provider()
    return _json(
        {
            "faults": [r.to_json() for r in prov.faults.rules()],
            "webhooks": prov.dispatcher.faults.to_json(),
            "seed": prov.seed,
            "clock": prov.clock.snapshot(),
        }
    )


@bp.get("/faults")
def list_faults() -> Response:
    prov = provider()
    rules = [r.to_json() for r in prov.faults.rules()]
    return _json({"object": "list", "data": rules, "seed": prov.seed})


@bp.post("/faults")
def add_fault() -> Response:
    rule = provider().faults.add(_body())
    return _json(rule.to_json(), 201)


@bp.delete("/faults")
def clear_faults() -> Response:
    prov = provider()
    count = len(prov.faults.rules())
    prov.faults.clear()
    return _json({"deleted": count})


@bp.get("/faults/<rule_id>")
def get_fault(rule_id: str) -> Response:
    for rule in provider().faults.rules():
        if rule.id == rule_id:
            return _json(rule.to_json())
    raise _not_found("fault", rule_id)


@bp.delete("/faults/<rule_id>")
def delete_fault(rule_id: str) -> Response:
    if not provider().faults.remove(rule_id):
        raise _not_found("fault", rule_id)
    return _json({"id": rule_id, "deleted": True})


@bp.get("/webhooks")
def webhooks_state() -> Response:
    prov = provider()
    with prov.store.lock:
        endpoints = [
            {**endpoint, "secret": prov.store.secrets.get(endpoint["id"])}
            for endpoint in prov.store.tables["webhook_endpoint"].values()
        ]
    return _json(
        {
            "faults": prov.dispatcher.faults.to_json(),
            "endpoints": endpoints,
            "worker": prov.dispatcher.stats(),
        }
    )


@bp.route("/webhooks", methods=["PUT", "POST"])
def set_webhook_faults() -> Response:
    faults = webhook_faults.parse(_body())
    provider().dispatcher.set_faults(faults)
    return _json({"faults": faults.to_json()})


@bp.delete("/webhooks")
def clear_webhook_faults() -> Response:
    faults = webhook_faults.WebhookFaults()
    provider().dispatcher.set_faults(faults)
    return _json({"faults": faults.to_json()})


@bp.get("/webhooks/deliveries")
def list_deliveries() -> Response:
    args = request.args
    limit = _limit()
    status = args.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise StripeError(
            400,
            f"status: expected one of {', '.join(DELIVERY_STATUSES)}.",
            code="parameter_invalid",
            param="status",
        )
    filters = {k: args[k] for k in ("status", "event_id", "event_type", "endpoint_id") if k in args}
    data = provider().dispatcher.deliveries(filters, limit)
    return _json({"object": "list", "data": data})


@bp.get("/requests")
def list_requests() -> Response:
    """The Stripe API calls answered, oldest first (the last ``limit``)."""
    return _json({"object": "list", "data": provider().requests.records(_limit())})


def _limit() -> int:
    """The request's ``limit`` (1..10000, 100 when not given)."""
    raw = request.args.get("limit", "100")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise StripeError(
            400,
            "limit: expected an integer between 1 and 10000.",
            code="parameter_invalid",
            param="limit",
        )
    return int(raw)


@bp.get("/payment_intents/<pi_id>/authenticate")
def authentication_state(pi_id: str) -> Response:
    """Where a PaymentIntent's ``next_action`` leads: whether it awaits authentication."""
    with provider().store.lock:
        pi = provider().store.get("payment_intent", pi_id, "id")
        return _json({"payment_intent": pi_id, "status": pi["status"], "outcomes": OUTCOMES})


@bp.post("/payment_intents/<pi_id>/authenticate")
def authenticate(pi_id: str) -> Response:
    """Complete or fail the 3D Secure authentication a PaymentIntent awaits."""
    r = Reader(_body())
    outcome = r.string("outcome", required=True, choices=OUTCOMES)
    r.no_extra()
    store = provider().store
    with store.lock:  # the answer shows the intent as this change left it
        return _json(payments.authenticate(store, pi_id, completed=outcome == "complete"))


@bp.get("/clock")
def get_clock() -> Response:
    return _json(provider().clock.snapshot())


@bp.post("/clock")
def move_clock() -> Response:
    """Move the clock: exactly one of advance_s, now, reset."""
    body = _body()
    r = Reader(body)
    advance = r.number("advance_s", minimum=-1e10, maximum=1e10)
    now = r.number("now", maximum=MAX_TIME)
    reset = r.boolean("reset")
    r.no_extra()
    given = [key for key in ("advance_s", "now", "reset") if r.has(key)]
    if len(given) != 1:
        raise r.error(
            given[1] if given else "advance_s", "give exactly one of advance_s, now or reset"
        )
    clock = provider().clock
    target = now if given == ["now"] else clock.now() + advance
    if not MIN_TIME <= target <= MAX_TIME:
        raise r.error(given[0], "would move the clock outside the years 1 to 9999")
    if given == ["reset"]:
        if reset:
            clock.reset()
    elif given == ["now"]:
        clock.set(now)
    else:
        clock.advance(advance)
    return _json(clock.snapshot())


@bp.get("/seed")
def get_seed() -> Response:
    return _json({"seed": provider().seed})


@bp.post("/seed")
def set_seed() -> Response:
    r = Reader(_body())
    seed = r.integer("seed", minimum=0, maximum=2**63 - 1)
    r.no_extra()
    if seed is None:
        raise StripeError(
            400, "seed: this field is required.", code="parameter_missing", param="seed"
        )
    provider().reseed(seed)
    return _json({"seed": seed})


@bp.post("/reset")
def reset() -> Response:
    """Forget all state; optionally start over with a new seed."""
    r = Reader(_body())
    seed = r.integer("seed", minimum=0, maximum=2**63 - 1)
    r.no_extra()
    prov = provider()
    prov.reset(seed)
    return _json({"reset": True, "seed": prov.seed})
