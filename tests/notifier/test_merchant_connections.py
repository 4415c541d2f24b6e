"""``MerchantClient`` over real HTTP: one kept-alive connection, no proxy from the environment.

The merchant here is a small HTTP/1.1 server that counts the connections it accepted
(the mock merchant's in-thread server closes each connection, as werkzeug's does).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox.services.notifier.merchant import MerchantClient, MerchantError

pytestmark = pytest.mark.integration


class KeepAliveMerchant(ThreadingHTTPServer):
    """Answers every POST with ``status``, keeping the connection open (HTTP/1.1)."""

    daemon_threads = True

    def __init__(self) -> None:
        self.connections = 0
        self.posts = 0
        self.status = 200
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/callbacks"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveMerchant

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            self.server.posts += 1
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def merchant() -> Iterator[KeepAliveMerchant]:
    server = KeepAliveMerchant()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def deliver(client: MerchantClient, n: int) -> None:
    client.deliver(b'{"n": %d}' % n, idempotency_key=f"evt-{n}", correlation_id="flow-1")


def test_callbacks_to_one_merchant_share_one_kept_alive_connection(
    merchant: KeepAliveMerchant,
) -> None:
    client = MerchantClient(merchant.url, "secret", timeout_s=5)
    for n in range(5):
        deliver(client, n)

    assert (merchant.posts, merchant.connections) == (5, 1)


def test_a_proxy_in_the_environment_is_not_used_for_the_merchant(
    merchant: KeepAliveMerchant, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a proxy that does not exist: a client that honoured it could not connect
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = MerchantClient(merchant.url, "secret", timeout_s=5)

    deliver(client, 1)

    assert merchant.posts == 1


def test_a_rejection_over_a_kept_connection_keeps_its_meaning(
    merchant: KeepAliveMerchant,
) -> None:
    client = MerchantClient(merchant.url, "secret", timeout_s=5)
    deliver(client, 1)
    merchant.status = 400

    with pytest.raises(MerchantError) as rejected:
        deliver(client, 2)

    assert (rejected.value.code, rejected.value.permanent) == ("MERCHANT_REJECTED", True)
    merchant.status = 503
    with pytest.raises(MerchantError) as failing:
        deliver(client, 3)
    assert (failing.value.code, failing.value.permanent) == ("MERCHANT_ERROR", False)
    assert merchant.connections == 1


def test_a_merchant_nobody_answers_is_a_retryable_unavailable_error() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MerchantClient(f"http://127.0.0.1:{port}/callbacks", "secret", timeout_s=2)

    with pytest.raises(MerchantError) as unavailable:
        deliver(client, 1)

    assert (unavailable.value.code, unavailable.value.permanent) == ("MERCHANT_UNAVAILABLE", False)
    assert str(port) in str(unavailable.value)
