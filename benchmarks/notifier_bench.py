"""What one notification costs the notifier's consumer: CPU and wall time per email, per
merchant callback and per handled event, each the way it was and the way it is.

- compose: the email built as an ``EmailMessage`` and flattened (as before) against
  ``mailer.compose``'s bytes;
- SMTP: one connection per email (``SMTP_IDLE_TIMEOUT_S=0``, as before) against kept
  connections, to the mock SMTP server on loopback;
- merchant: the same signed callback through a ``requests.Session`` that reads nothing
  from the environment (as before) against ``MerchantClient``'s urllib3 pool, to the
  mock merchant under gunicorn (keep-alive, as in the sandbox);
- handle_event: a ``payment.completed`` event (email + callback + SQLite), end to end.

CPU is the sending thread's own (``time.thread_time``): the mocks run in other threads
or processes.  Loopback and a shared machine make wall times noisy; compare within a run.

    .venv/bin/python benchmarks/notifier_bench.py [--n 300]
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import policy
from email.generator import BytesGenerator
from email.message import EmailMessage

import requests

from mocks.smtp.server import MockSmtpServer
from mocks.smtp.settings import SmtpMockSettings
from sandbox.contracts import example_body
from sandbox.messaging import IncomingMessage
from sandbox.messaging.connection import port_open
from sandbox.messaging.envelope import ATTEMPT_HEADER, CORRELATION_HEADER, encode_body
from sandbox.services.common.db import create_schema, make_engine
from sandbox.services.notifier import storage
from sandbox.services.notifier.handlers import Notifier, handle_event
from sandbox.services.notifier.mailer import compose
from sandbox.services.notifier.merchant import SIGNATURE_HEADER, MerchantClient
from sandbox.services.notifier.rendering import EmailRenderer, RenderedEmail, email_context
from sandbox.services.notifier.settings import SmtpSettings
from sandbox.services.notifier.smtp import SmtpMailer
from sandbox.signing import sign
from sandbox.waiting import wait_for

SENDER = "Appointments <notifications@payment-sandbox.local>"
HEADERS = {CORRELATION_HEADER: "flow-1", "X-Event-Id": "evt-1", "X-Notification-Template": "t"}
SECRET = "whsec_bench"


def per_call(fn: Callable[[int], object], n: int) -> tuple[float, float]:
    """CPU ms and wall ms per call of ``fn(i)``, after a short warm-up."""
    for i in range(min(20, n)):
        fn(-1 - i)
    cpu, wall = time.thread_time(), time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.thread_time() - cpu) / n * 1e3, (time.perf_counter() - wall) / n * 1e3


def show(what: str, before: tuple[float, float] | None, after: tuple[float, float]) -> None:
    """One Markdown row: CPU and wall ms, the way it was (when measured) and the way it is."""
    was = " | " if before is None else f"{before[0]:.3f} | {before[1]:.3f}"
    print(f"| {what} | {was} | {after[0]:.3f} | {after[1]:.3f} |")


def email_message(rendered: RenderedEmail) -> bytes:
    """The email as the notifier built it before: an EmailMessage, flattened as smtplib does."""
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    message["Subject"] = rendered.subject
    message["From"] = SENDER
    message["To"] = "jane@example.com"
    message["Message-ID"] = "<t.abc@payment-sandbox.local>"
    for name, value in HEADERS.items():
        message[name] = value
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    out = io.BytesIO()
    BytesGenerator(out, policy=message.policy).flatten(message, linesep="\r\n")
    return out.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def gunicorn_merchant() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "MOCK_MERCHANT_SECRET": SECRET}
    argv = [sys.executable, "-m", "mocks.merchant", "--port", str(port)]
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open("127.0.0.1", port), timeout=30, what="the mock merchant")
        yield f"http://127.0.0.1:{port}/callbacks"
    finally:
        process.terminate()
        process.wait(timeout=10)


def payment_event() -> IncomingMessage:
    body = example_body("payment.completed", customerEmail="jane@example.com")
    return IncomingMessage(
        routing_key="payment.completed",
        raw_body=encode_body(body),
        properties={
            "message_id": uuid.uuid4().hex,
            "correlation_id": "flow-1",
            "headers": {ATTEMPT_HEADER: 1},
        },
        queue="notifier_payment_events",
    )


def bench_compose(rendered: RenderedEmail, n: int) -> None:
    def new(i: int) -> bytes:
        mail = compose(
            rendered,
            sender=SENDER,
            recipient="jane@example.com",
            message_id="<t.abc@payment-sandbox.local>",
            headers=HEADERS,
        )
        return mail.data

    before = per_call(lambda i: email_message(rendered), n)
    show("compose + flatten, per email", before, per_call(new, n))


def bench_smtp(port: int, rendered: RenderedEmail, n: int) -> None:
    mail = compose(
        rendered, sender=SENDER, recipient="a@example.com", message_id="<x@y>", headers={}
    )
    timings = []
    for idle in (0.0, 30.0):  # a connection per email, then kept connections
        mailer = SmtpMailer(SmtpSettings(port=port, idle_timeout_s=idle))
        timings.append(per_call(lambda i, mailer=mailer: mailer.send(mail), n))
        mailer.close()
    show("SMTP send, per email", *timings)


def bench_merchant(url: str, n: int) -> None:
    session = requests.Session()
    session.trust_env = False

    def with_requests(i: int) -> None:
        payload = b'{"bench": 1}'
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(SECRET, payload),
            "Idempotency-Key": uuid.uuid4().hex,
            CORRELATION_HEADER: "flow-1",
            "User-Agent": "notifier-service",
        }
        session.post(url, data=payload, headers=headers, timeout=5.0).raise_for_status()

    client = MerchantClient(url, SECRET, 5.0)

    def with_pool(i: int) -> None:
        client.deliver(b'{"bench": 1}', idempotency_key=uuid.uuid4().hex, correlation_id="flow-1")

    show("merchant callback, per call", per_call(with_requests, n), per_call(with_pool, n))


def bench_handler(smtp_port: int, merchant_url: str, renderer: EmailRenderer, n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/notifier.db")
        create_schema(engine, storage.metadata)
        mailer = SmtpMailer(SmtpSettings(port=smtp_port))
        notifier = Notifier(
            store=storage.NotifierStore(engine),
            mailer=mailer,
            renderer=renderer,
            merchant=MerchantClient(merchant_url, SECRET, 5.0),
            sender=SENDER,
            sender_domain="payment-sandbox.local",
            support_email="help@example.com",
            max_attempts=4,
        )
        events = [payment_event() for _ in range(n + 20)]
        show(
            "handle_event, email + callback + SQLite",
            None,
            per_call(lambda i: handle_event(notifier, events[i]), n),
        )
        mailer.close()
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=300, help="calls per measurement")
    n = parser.parse_args().n
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    renderer = EmailRenderer()
    body = example_body("payment.completed", customerName="Zoë <script>")
    context = email_context("payment.completed", body, None, support_email="help@example.com")
    rendered = renderer.render("payment_succeeded", context)
    print("| per call | CPU ms before | wall ms before | CPU ms after | wall ms after |")
    print("|---|---|---|---|---|")
    bench_compose(rendered, n)
    with MockSmtpServer(SmtpMockSettings(smtp_port=0, http_port=0, max_messages=100)) as smtp:
        bench_smtp(smtp.smtp_port, rendered, n)
        with gunicorn_merchant() as url:
            bench_merchant(url, n)
            bench_handler(smtp.smtp_port, url, renderer, n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
