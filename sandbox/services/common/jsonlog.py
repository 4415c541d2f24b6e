"""Structured JSON logs, one object per line, carrying the flow's correlation id.

The correlation id lives in a context variable set per request or per message, so every
line logged while handling it carries it without passing it around.  Messages are
scrubbed of anything that looks like a card number before they are written.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from datetime import UTC, datetime

correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

# 13-19 digits, optionally grouped by spaces or dashes: anything shaped like a PAN.
_PAN = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def scrub(text: str) -> str:
    return _PAN.sub("[redacted-pan]", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "correlation_id": correlation_id.get(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            entry.update(
                {
                    k: scrub(v) if isinstance(v, str) else v
                    for k, v in extra.items()
                    if k not in entry
                }
            )
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(service: str, level: str = "INFO") -> None:
    """Send every log line of this process to stderr as JSON."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("pika").setLevel(logging.WARNING)
