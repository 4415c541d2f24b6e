"""Columns that the services' tables share, so that one concept has one type everywhere.

A tenant id or a correlation id fits 128 characters, an email address 254 (RFC 5321's
limit), a person's name 200, an error code 64; every time is stored time-zone aware
(SQLite hands back naive times, which ``db.from_row`` reads as UTC).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, String, Text


def moment(name: str, *, nullable: bool = False) -> Column[datetime]:
    """A time-zone aware time."""
    return Column(name, DateTime(timezone=True), nullable=nullable)


def timestamps() -> tuple[Column[datetime], Column[datetime]]:
    """``created_at`` and ``updated_at``, both required."""
    return moment("created_at"), moment("updated_at")


def tenant_id(*, nullable: bool = False) -> Column[str]:
    return Column("tenant_id", String(128), nullable=nullable)


def correlation_id(*, nullable: bool = True, index: bool = False) -> Column[str]:
    return Column("correlation_id", String(128), nullable=nullable, index=index)


def customer(*, nullable: bool) -> tuple[Column[str], Column[str]]:
    """``customer_email`` and ``customer_name``: whom to write to, and how to greet them."""
    return (
        Column("customer_email", String(254), nullable=nullable),
        Column("customer_name", String(200), nullable=nullable),
    )


def error(prefix: str = "") -> tuple[Column[str], Column[str]]:
    """``<prefix>error_code`` and ``<prefix>error_message``, set only when something failed."""
    return (
        Column(f"{prefix}error_code", String(64), nullable=True),
        Column(f"{prefix}error_message", Text, nullable=True),
    )
