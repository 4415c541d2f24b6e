"""The AsyncAPI document compared as a catalog, and the directions it gives events.

Routing keys, producers, exchanges, message types, queues, bindings and consumers are
compared as sets: anything gone breaks whoever relied on it, anything new breaks
nobody.  :func:`event_directions` reads who writes and who reads each event from the
``send`` and ``receive`` operations, for :mod:`sandbox.contracts.diff` to judge schema
changes from both sides.
"""

from __future__ import annotations

from collections.abc import KeysView, Mapping
from pathlib import Path
from typing import Any

from sandbox.contracts import files
from sandbox.contracts.asyncapi import EventCatalog, read_catalog
from sandbox.contracts.changes import BREAKING, COMPATIBLE, Change, Direction, change, event

QUEUED = "messages already in queues"
# When the AsyncAPI document says nothing about an event, assume both sides exist.
UNKNOWN_EVENT = event(("its producer", QUEUED), ("its consumers",))


def event_directions(old: EventCatalog, new: EventCatalog) -> dict[str, Direction]:
    """Routing key -> direction, from the operations of both versions of the document.

    Producers and consumers of either version count: a consumer removed in the same
    change still reads what is queued for it, and a new one reads the new messages.
    """
    found = {}
    for rk in old.routes.keys() | new.routes.keys():
        producers = sorted(
            {*_producers(old, rk), *_producers(new, rk)},
        )
        consumers = tuple(sorted({*old.consumers_of(rk), *new.consumers_of(rk)}))
        writers = (*producers, QUEUED) if producers and consumers else tuple(producers)
        found[rk] = event(writers, consumers)
    return found


def envelope_direction(directions: Mapping[str, Direction]) -> Direction:
    """Every producer writes the envelope and every consumer reads it."""
    writers = sorted({w for d in directions.values() for w in d.writers})
    readers = sorted({r for d in directions.values() for r in d.readers})
    return event(tuple(writers), tuple(readers)) if directions else UNKNOWN_EVENT


def _producers(catalog: EventCatalog, routing_key: str) -> tuple[str, ...]:
    route = catalog.routes.get(routing_key)
    return route.producers if route else ()


def catalog(contracts_dir: Path) -> tuple[Any, EventCatalog]:
    path = contracts_dir / files.ASYNCAPI_FILE
    if not path.exists():
        return {}, read_catalog({})
    document = files.load_yaml(path)
    return document, read_catalog(document)


def diff_asyncapi(base: Path, head: Path) -> list[Change]:
    (old_doc, old), (new_doc, new) = catalog(base), catalog(head)
    changes = _removed_and_added("asyncapi ", "routing-key", old.routes.keys(), new.routes.keys())
    for rk in sorted(old.routes.keys() & new.routes.keys()):
        a, b = old.routes[rk], new.routes[rk]
        for attr, rule in (
            ("producers", "producer-changed"),
            ("exchange", "exchange-changed"),
            ("message_type", "message-type-changed"),
        ):
            if getattr(a, attr) != getattr(b, attr):
                changes.append(
                    change(
                        f"asyncapi {rk}",
                        "routing-key",
                        rule,
                        BREAKING,
                        f"{attr.replace('_', ' ')} {getattr(a, attr)} -> {getattr(b, attr)}",
                    )
                )
    changes.extend(_diff_queues(old, new))
    for key in ("info", "servers"):
        if (
            isinstance(old_doc, Mapping)
            and isinstance(new_doc, Mapping)
            and old_doc.get(key) != new_doc.get(key)
        ):
            changes.append(
                change(
                    f"asyncapi {key}",
                    "annotation",
                    "annotation-changed",
                    COMPATIBLE,
                    f"{key} changed",
                )
            )
    return changes


def _removed_and_added(
    prefix: str, kind: str, old: KeysView[str], new: KeysView[str]
) -> list[Change]:
    """A breaking change for every ``kind`` (routing-key, queue) that is gone, then a
    compatible one for every new one."""
    noun = kind.replace("-", " ")
    return [
        change(f"{prefix}{name}", kind, f"{kind}-removed", BREAKING, f"{noun} {name} removed")
        for name in sorted(old - new)
    ] + [
        change(f"{prefix}{name}", kind, f"{kind}-added", COMPATIBLE, f"{noun} {name} added")
        for name in sorted(new - old)
    ]


def _diff_queues(old: EventCatalog, new: EventCatalog) -> list[Change]:
    changes = _removed_and_added("asyncapi queue ", "queue", old.queues.keys(), new.queues.keys())
    for name in sorted(old.queues.keys() & new.queues.keys()):
        a, b = old.queues[name], new.queues[name]
        loc = f"asyncapi queue {name}"
        for pattern in sorted(set(a.bindings) - set(b.bindings)):
            changes.append(
                change(
                    loc,
                    "binding",
                    "binding-removed",
                    BREAKING,
                    f"binding {pattern} removed: those events no longer reach {name}",
                )
            )
        for pattern in sorted(set(b.bindings) - set(a.bindings)):
            changes.append(
                change(loc, "binding", "binding-added", COMPATIBLE, f"binding {pattern} added")
            )
        for service in sorted(a.consumers.keys() - b.consumers.keys()):
            changes.append(
                change(
                    loc,
                    "consumer",
                    "consumer-removed",
                    BREAKING,
                    f"{service} no longer consumes {name}",
                )
            )
        for service in sorted(b.consumers.keys() - a.consumers.keys()):
            changes.append(
                change(
                    loc, "consumer", "consumer-added", COMPATIBLE, f"{service} now consumes {name}"
                )
            )
        for service in sorted(a.consumers.keys() & b.consumers.keys()):
            gone = sorted(set(a.consumers[service]) - set(b.consumers[service]))
            if gone:
                changes.append(
                    change(
                        loc,
                        "consumer",
                        "consumer-message-removed",
                        BREAKING,
                        f"{service} no longer receives {', '.join(gone)}",
                    )
                )
    return changes
