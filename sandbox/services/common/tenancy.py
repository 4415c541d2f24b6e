"""The tenant of a request: ``X-Tenant-Id``, or the service's documented default tenant.

Every service reads the header the same way, so one tenant id means the same thing on
every path: 1-128 letters, digits and ``_ . : -``, starting with a letter or digit.  A
request without the header belongs to the default tenant (``default`` unless the
service's settings say otherwise); an unusable value is refused, never guessed at.
"""

from __future__ import annotations

import re

from sandbox.services.common.web import checked_header

TENANT_HEADER = "X-Tenant-Id"
TENANT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def tenant(default: str) -> str:
    """The request's tenant; 400 ``INVALID_TENANT`` when the header cannot be one."""
    value = checked_header(
        TENANT_HEADER,
        TENANT_PATTERN,
        "INVALID_TENANT",
        "1-128 letters, digits and _ . : - (starting with a letter or digit)",
    )
    return default if value is None else value
