"""A broker someone else runs (``RABBITMQ_URL``), used so that it is left as found.

The sandbox cannot stop or restart such a broker, and should leave nothing on it.  When
the URL names no vhost (``amqp://host:5672`` or ``amqp://host:5672/``), the sandbox works
in a vhost of its own, created through the management API when it starts and deleted when
it stops, so its queues, exchanges and messages go with it.  When the URL names one
(``.../%2F`` for the default vhost, ``.../team-a``), the sandbox works there, as told, and
``sandbox down --purge`` deletes what it declared (``purge``).  Without a management API
(none answers at ``RABBITMQ_MANAGEMENT_URL``, default ``http://<host>:15672``) no vhost can
be created: the sandbox then says so and works in the URL's vhost.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from sandbox.broker.admin import Admin, AdminError, answers
from sandbox.messaging import probe
from sandbox.topology import Topology


class BrokerControlError(RuntimeError):
    """The broker cannot be stopped, killed or restarted by the sandbox."""


def names_vhost(url: str) -> bool:
    """True when an AMQP URL names its vhost (``/%2F`` does: the default one, explicitly)."""
    return urlsplit(url.split(",")[0].strip()).path not in ("", "/")


def vhost_of(url: str) -> str:
    """The vhost an AMQP URL connects to (``/`` when it names none)."""
    path = urlsplit(url.split(",")[0].strip()).path
    return unquote(path[1:]) if path not in ("", "/") else "/"


def with_vhost(url: str, vhost: str) -> str:
    """``url`` (one or several, comma-separated) pointed at ``vhost``."""
    parts = [urlsplit(u.strip()) for u in url.split(",") if u.strip()]
    return ",".join(urlunsplit(p._replace(path="/" + quote(vhost, safe=""))) for p in parts)


class ExternalBroker:
    """A broker given by URL; the sandbox uses it but does not control it.

    With ``own_vhost``, ``start`` creates that vhost when the URL names none, and ``close``
    deletes it again.
    """

    kind = "external"

    def __init__(
        self, url: str, management_url: str | None = None, *, own_vhost: str | None = None
    ) -> None:
        self._given = url
        self._url = url
        self._management_url = management_url
        self._own_vhost = own_vhost
        self.vhost_owned = False
        self.note: str | None = None

    @property
    def url(self) -> str:
        return self._url

    @property
    def management_url(self) -> str | None:
        if self._management_url:
            return self._management_url
        host = urlsplit(self._given.split(",")[0]).hostname or "127.0.0.1"
        return f"http://{host}:15672"

    def admin(self) -> Admin:
        return Admin.for_amqp_url(self._given.split(",")[0], self.management_url)

    def url_for(self, vhost: str) -> str:
        return with_vhost(self._given.split(",")[0], vhost)

    def start(self) -> ExternalBroker:
        probe(self._given.split(",")[0], timeout=5.0)
        if self._own_vhost and not self.vhost_owned and not names_vhost(self._given):
            try:
                self.admin().create_vhost(self._own_vhost)
            except AdminError as exc:
                with contextlib.suppress(AdminError):  # made, but its permissions refused
                    delete_vhost(self.admin(), self._own_vhost)
                url = self.management_url
                why = f"refused: {exc}" if answers(str(url)) else "does not answer"
                self.note = (
                    f"no vhost of its own: the management API at {url} {why}; the sandbox "
                    f"works in vhost {vhost_of(self._given)!r} of RABBITMQ_URL, and "
                    "`sandbox down --purge` deletes what it declared there"
                )
            else:
                self.vhost_owned = True
                self._url = with_vhost(self._given, self._own_vhost)
        return self

    def _refuse(self) -> None:
        raise BrokerControlError(
            "the broker at RABBITMQ_URL is not managed by the sandbox; unset RABBITMQ_URL "
            "to let the sandbox start a private node it can stop, kill and restart"
        )

    def stop(self) -> None:
        self._refuse()

    def kill(self) -> None:
        self._refuse()

    def restart(self) -> None:
        self._refuse()

    def close(self) -> None:
        """Delete the vhost the sandbox created, if any; the broker belongs to someone else."""
        if self.vhost_owned and self._own_vhost:
            delete_vhost(self.admin(), self._own_vhost)
            self.vhost_owned = False

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": self.kind,
            "url": self.url,
            "management_url": self.management_url,
            "vhost": vhost_of(self.url),
            "vhost_owned": self.vhost_owned,
        }
        if self.note:
            info["note"] = self.note
        return info


def delete_vhost(admin: Admin, name: str) -> bool:
    """Delete vhost ``name`` if it is there; False when it was gone already."""
    if name not in admin.vhosts():
        return False
    admin.delete_vhost(name)
    return True


def leave_as_found(
    info: dict[str, Any], purge: Topology | None, fallback_url: str | None = None
) -> list[str]:
    """After ``down``: what the sandbox leaves on a broker given by URL, as lines to print.

    ``info`` is the state's broker entry (empty when no sandbox state was left).  Its own
    vhost is deleted, should the supervisor not have done so; in a vhost it was given,
    ``purge`` (the topology it declared) is deleted, or the lines say what stays.
    """
    from sandbox.messaging.tools import delete_topology

    if info and info.get("kind") != "external":
        return []
    url = str(info.get("url") or fallback_url or "")
    if not url:
        return []
    vhost = vhost_of(url)
    if info.get("vhost_owned"):
        admin = Admin.for_amqp_url(url.split(",")[0], info.get("management_url"))
        try:
            gone = "deleted" if delete_vhost(admin, vhost) else "already deleted"
        except AdminError as exc:
            return [f"warning: could not delete the sandbox's vhost {vhost!r}: {exc}"]
        return [f"external broker: the sandbox's vhost {vhost!r} {gone}, with all it held"]
    if purge is None:
        if not info:
            return []
        return [
            f"note: the queues and exchanges the sandbox declared stay on the external broker "
            f"(vhost {vhost!r}); `sandbox down --purge` deletes them"
        ]
    queues, exchanges = delete_topology(url, purge)
    return [
        f"external broker: deleted {queues} queue(s) and {exchanges} exchange(s) the "
        f"sandbox declared in vhost {vhost!r}"
    ]
