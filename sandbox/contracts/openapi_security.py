"""Who may call an operation: OpenAPI security requirements and schemes, compared.

An operation's requirements are its own ``security`` or else the document's: a list of
alternatives, each naming schemes (with OAuth scopes) that must all be satisfied; no
list, an empty one or an empty alternative lets anonymous clients in.  A client that
could call the operation before holds the credentials of one old alternative, so the
change breaks clients when some old alternative no longer contains a new one
(``security-requirement-added``); anything else that changed only lets more clients in:
fewer credentials asked (``security-requirement-removed``) or another way in
(``security-alternative-added``).  A scheme that the new document still requires but
that now asks for credentials elsewhere (another header, another type, other OAuth
flows) breaks clients too (``security-scheme-changed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.contracts.changes import BREAKING, COMPATIBLE, Change, change
from sandbox.contracts.schema_normal import strip

Alternative = frozenset[str]


def requirements(document: Mapping[str, Any], operation: Mapping[str, Any]) -> list[Alternative]:
    """The operation's alternatives: each a set of ``scheme`` and ``scheme:scope`` names."""
    security = operation.get("security", document.get("security"))
    if not security:
        return [frozenset()]
    found = []
    for requirement in security:
        if isinstance(requirement, Mapping):
            found.append(
                frozenset(
                    {str(name) for name in requirement}
                    | {
                        f"{name}:{scope}"
                        for name, scopes in requirement.items()
                        for scope in scopes or ()
                    }
                )
            )
    return found


def diff_operation_security(
    where: str, old: list[Alternative], new: list[Alternative]
) -> list[Change]:
    """A change when the operation's requirements differ (see the module docstring)."""
    if set(old) == set(new):
        return []
    loc = f"{where} security"
    stranded = [a for a in old if not any(b <= a for b in new)]
    if stranded:
        extra = sorted({name for a in stranded for b in new for name in b - a})
        return [
            change(
                loc,
                "security",
                "security-requirement-added",
                BREAKING,
                f"now requires {_names(extra) or 'credentials it did not'}; "
                "breaks clients that call it without them",
            )
        ]
    dropped = sorted({name for a in old for name in a} - {name for b in new for name in b})
    if dropped:
        rule, message = "security-requirement-removed", f"no longer requires {_names(dropped)}"
    else:
        offered = [sorted(b) for b in new if b not in old]
        rule = "security-alternative-added"
        message = f"also accepts {' or '.join(_names(b) or 'anonymous calls' for b in offered)}"
    return [change(loc, "security", rule, COMPATIBLE, message)]


def _names(names: list[str] | frozenset[str]) -> str:
    return ", ".join(names)


def diff_schemes(name: str, base: Mapping[str, Any], head: Mapping[str, Any]) -> list[Change]:
    """Schemes added, removed or changed; breaking when the new document requires one
    that is gone or that now wants different credentials."""
    old, new = _schemes(base), _schemes(head)
    required = _required_schemes(head)
    changes = []
    for scheme in sorted(old.keys() | new.keys()):
        loc = f"{name} securitySchemes.{scheme}"
        in_use = scheme in required
        if scheme not in new:
            verdict, rule, message = (
                (BREAKING, "security-scheme-removed", f"scheme {scheme} removed but still required")
                if in_use
                else (COMPATIBLE, "security-scheme-removed", f"scheme {scheme} removed")
            )
        elif scheme not in old:
            verdict, rule, message = COMPATIBLE, "security-scheme-added", f"scheme {scheme} added"
        elif strip(old[scheme]) != strip(new[scheme]):
            verdict = BREAKING if in_use else COMPATIBLE
            rule, message = "security-scheme-changed", f"scheme {scheme} {_how(old, new, scheme)}"
            if in_use:
                message += "; breaks clients that send the old credentials"
        elif old[scheme] != new[scheme]:
            verdict, rule, message = COMPATIBLE, "annotation-changed", f"scheme {scheme} described"
        else:
            continue
        changes.append(change(loc, "security", rule, verdict, message))
    return changes


def _how(old: Mapping[str, Any], new: Mapping[str, Any], scheme: str) -> str:
    keys = sorted(
        k
        for k in {*old[scheme], *new[scheme]}
        if strip(old[scheme].get(k)) != strip(new[scheme].get(k))
    )
    return f"changed ({', '.join(keys)})"


def _schemes(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    components = document.get("components") or {}
    schemes = components.get("securitySchemes") or {}
    return {str(k): v for k, v in schemes.items() if isinstance(v, Mapping)}


def _required_schemes(document: Mapping[str, Any]) -> set[str]:
    lists = [document.get("security") or []]
    for item in (document.get("paths") or {}).values():
        for operation in (item or {}).values():
            if isinstance(operation, Mapping):
                lists.append(operation.get("security") or [])
    return {
        str(name)
        for security in lists
        for req in security
        if isinstance(req, Mapping)
        for name in req
    }
