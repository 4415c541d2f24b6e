"""Outgoing HTTP for the services: one pooled ``requests`` session per peer.

``requests`` looks up proxy settings in the environment (and ``.netrc``) on every call
unless the session says not to; here the environment is read once, when the session is
made, and kept: proxies set for a peer's URL when the process starts are still used,
and connections are kept alive in a pool as large as the process's threads.
"""

from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies


def pooled_session(base_url: str, *, pool_size: int = 16) -> requests.Session:
    """A keep-alive session for ``base_url``'s host, the environment's proxies read once."""
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(get_environ_proxies(base_url))
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
