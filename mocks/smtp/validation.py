"""Parse and check request input; every failure is an ApiError naming the field."""

from __future__ import annotations

import re
from typing import Any

from flask import Request

from mocks.common.errors import ApiError
from mocks.common.inputs import int_in
from mocks.smtp.refusal import STAGES, RefuseMode
from mocks.smtp.store import MessageFilter

MAX_REPLY_TEXT = 200
# A header filter is `Name:value`: the name is printable ASCII without a colon (RFC 5322
# field names), spaces or tabs around it allowed. The OpenAPI document has the same pattern.
HEADER_FILTER = re.compile(r"^[ \t]*([!-9;-~]+)[ \t]*:(.*)$", re.DOTALL)


def refuse_mode(body: dict[str, Any]) -> RefuseMode:
    """Turn a refuse-control body into a RefuseMode."""
    allowed = {"enabled", "code", "message", "stage", "count"}
    for name in body:
        if name not in allowed:
            raise ApiError(400, "unknown_field", f"unknown field; allowed: {sorted(allowed)}", name)
    enabled = body.get("enabled")
    if not isinstance(enabled, bool):
        raise ApiError(
            400, "invalid_field", "enabled is required and must be true or false", "enabled"
        )
    default = RefuseMode()
    code = int_in(body.get("code", default.code), 400, 599)
    if code is None:
        raise ApiError(
            400, "invalid_field", "code must be an SMTP reply code from 400 to 599", "code"
        )
    message = body.get("message", default.message)
    # SMTP reply text is printable ASCII on one line (RFC 5321, section 4.2).
    if (
        not isinstance(message, str)
        or not message.strip()
        or len(message) > MAX_REPLY_TEXT
        or not all(" " <= ch <= "~" for ch in message)
    ):
        raise ApiError(
            400,
            "invalid_field",
            f"message must be 1-{MAX_REPLY_TEXT} printable ASCII characters, not all spaces",
            "message",
        )
    stage = body.get("stage", default.stage)
    if stage not in STAGES:
        raise ApiError(400, "invalid_field", f"stage must be one of {list(STAGES)}", "stage")
    count = body.get("count")
    if count is not None and (count := int_in(count, 1)) is None:
        raise ApiError(400, "invalid_field", "count must be an integer >= 1 or absent", "count")
    if not enabled:
        return default
    return RefuseMode(True, code, message.strip(), stage, count)


def message_filter(request: Request) -> MessageFilter:
    """Build a MessageFilter from ``to``, ``from``, ``subject`` and ``header`` query params."""
    headers = []
    for item in request.args.getlist("header"):
        match = HEADER_FILTER.match(item)
        if match is None:
            raise ApiError(
                400,
                "invalid_query",
                "header must look like Name:value, Name printable ASCII without a colon",
                "header",
            )
        headers.append((match.group(1), match.group(2).strip()))
    return MessageFilter(
        to=request.args.get("to"),
        sender=request.args.get("from"),
        subject=request.args.get("subject"),
        headers=tuple(headers),
    )
