"""Stripe's error format, the one shape every refusal of the provider takes.

``{"error": {"type", "code", "decline_code", "message", "param", ...}}`` with the HTTP
status Stripe uses for that type, so the official SDK raises the matching exception
(400/404 InvalidRequestError, 401 AuthenticationError, 402 CardError, 5xx APIError).
The control API uses the same shape for its own 400s.
"""

from __future__ import annotations

from typing import Any

DOCS = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """A refusal that becomes a Stripe-style JSON error response."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.extra = extra or {}
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        """Return the JSON body Stripe would send for this error."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS}/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        error.update(self.extra)
        return {"error": error}


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeError:
    """Return a 400 invalid_request_error about ``param``."""
    return StripeError(400, message, code=code or "parameter_invalid", param=param)


def missing(param: str) -> StripeError:
    return StripeError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def unknown_param(param: str) -> StripeError:
    return StripeError(
        400,
        f"Received unknown parameter: {param}. It is not a parameter of this call, or not one "
        "the mock provider supports (docs/provider.md lists what it models).",
        code="parameter_unknown",
        param=param,
    )


def no_such(kind: str, object_id: str, param: str = "id") -> StripeError:
    """Return the 404 for an id that names nothing."""
    return StripeError(404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unexpected_state(message: str, **extra: Any) -> StripeError:
    return StripeError(400, message, code="payment_intent_unexpected_state", extra=extra)


# the Stripe resources the mock provider models, under /v1
MODELLED = (
    "charges",
    "customers",
    "events",
    "payment_intents",
    "payment_methods",
    "refunds",
    "webhook_endpoints",
)


def unrecognized_url(method: str, path: str) -> StripeError:
    """The 404 for a call the mock does not serve, naming what it does not support."""
    parts = path.strip("/").split("/")
    resource = parts[1] if len(parts) > 1 and parts[0] == "v1" else ""
    if resource not in MODELLED:
        why = f"the mock provider does not support {resource or 'this URL'}"
        why += f"; it models {', '.join(MODELLED)}"
    elif parts[-1] == "search":
        why = f"the mock provider does not support search; list with GET /v1/{resource}"
    else:
        why = f"the mock provider does not support {method} on this {resource} URL"
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}): {why}. See docs/provider.md.",
        code="resource_missing",
    )


def api_error(status: int = 500, message: str | None = None) -> StripeError:
    return StripeError(
        status,
        message or "An unexpected error occurred in the mock provider.",
        type="api_error",
    )
