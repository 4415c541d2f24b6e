"""Broker administration over the management HTTP API: vhosts, queues, definitions.

Creating a vhost through the API takes a few milliseconds, against about a second for
each ``rabbitmqctl`` call (it boots an Erlang VM), which is what makes a fresh vhost per
test affordable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests


class AdminError(RuntimeError):
    """The management API refused or could not be reached."""


@dataclass(frozen=True)
class Admin:
    management_url: str
    user: str = "guest"
    password: str = "guest"
    timeout_s: float = 10.0

    @classmethod
    def for_amqp_url(cls, amqp_url: str, management_url: str | None) -> Admin:
        parts = urlsplit(amqp_url)
        url = management_url or f"http://{parts.hostname or '127.0.0.1'}:15672"
        return cls(url, parts.username or "guest", parts.password or "guest")

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            response = requests.request(
                method,
                f"{self.management_url}/api/{path}",
                auth=(self.user, self.password),
                timeout=self.timeout_s,
                **kwargs,
            )
        except requests.RequestException as exc:
            raise AdminError(f"management API at {self.management_url} unreachable: {exc}") from exc
        if response.status_code >= 400:
            raise AdminError(
                f"{method} /api/{path} -> {response.status_code}: {response.text[:300]}"
            )
        return response

    def create_vhost(self, name: str) -> None:
        vhost = quote(name, safe="")
        self._request("PUT", f"vhosts/{vhost}")
        self._request(
            "PUT",
            f"permissions/{vhost}/{quote(self.user, safe='')}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        )

    def delete_vhost(self, name: str) -> None:
        self._request("DELETE", f"vhosts/{quote(name, safe='')}")

    def vhosts(self) -> list[str]:
        return [v["name"] for v in self._request("GET", "vhosts").json()]

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return list(self._request("GET", f"queues/{quote(vhost, safe='')}").json())

    def queue(self, vhost: str, name: str) -> dict[str, Any]:
        result = self._request("GET", f"queues/{quote(vhost, safe='')}/{quote(name, safe='')}")
        return dict(result.json())

    def load_definitions(self, vhost: str, definitions: dict[str, Any]) -> None:
        self._request("POST", f"definitions/{quote(vhost, safe='')}", json=definitions)

    def connections(self) -> list[dict[str, Any]]:
        """Open client connections, each with the ``node`` it is connected to."""
        return list(self._request("GET", "connections").json())

    def nodes(self) -> list[dict[str, Any]]:
        """The cluster's nodes, each with its ``name`` and whether it is ``running``."""
        return list(self._request("GET", "nodes").json())

    def overview(self) -> dict[str, Any]:
        return dict(self._request("GET", "overview").json())


def answers(url: str, timeout_s: float = 2.0) -> bool:
    """True when an HTTP server answers at ``url`` (any status: a 401 is an answer)."""
    try:
        requests.get(url, timeout=timeout_s, allow_redirects=False)
    except requests.RequestException:
        return False
    return True
