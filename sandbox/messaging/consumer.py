"""A consumer with manual acks, a retry ladder, dead-lettering and reconnection.

Threading: pika connections are not thread-safe, so one thread (the I/O thread, the one
calling ``run()``) owns the connection and worker threads run the handler.  The I/O
thread keeps calling ``process_data_events`` while handlers work, so heartbeats go out
however long a handler takes; a worker hands its verdict back with
``add_callback_threadsafe`` and the I/O thread settles the delivery on the same channel
that received it (acks are only valid on that channel).

Lanes: ``concurrency`` single-thread workers.  A message goes to the lane its key picks
(the correlation id, else the message id), so the messages of one flow are handled one
at a time in the order they were delivered while different flows run side by side.
The order is the delivery order: a retried message comes back behind whatever was
delivered meanwhile, as it does with one lane.  ``prefetch`` must be at least
``concurrency``: the broker hands out no more unacked messages than the prefetch, so
with fewer some lanes could never get work.  Keep it comfortably above (the default 16
for 4 lanes): messages queued behind a slow handler in one lane hold prefetch slots
the other lanes could use.

Settling a failure: the message is republished (with confirms) to the next retry wait
queue or to the DLQ with headers saying why, and only then acked, so a crash in between
duplicates a message rather than losing it.  Handlers are expected to be idempotent.

Verdicts:
- handler returns: ack.
- handler raises ``PermanentError``, the body is not JSON, or the validator reports
  violations: straight to the DLQ, no retries burnt.
- handler raises anything else: next retry level, or the DLQ after the last one.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel
from pika.spec import Basic, BasicProperties

from sandbox.messaging import envelope as env
from sandbox.messaging.connection import (
    RECOVERABLE_ERRORS,
    connect,
    declare_topology,
    keep_reconnecting,
)
from sandbox.messaging.publisher import publish_raw
from sandbox.messaging.subscription import incoming
from sandbox.topology import Topology

log = logging.getLogger(__name__)

Handler = Callable[[env.IncomingMessage], None]
# a delivered message -> violations (empty when valid)
Validator = Callable[[env.IncomingMessage], Sequence[object]]

REASON_HANDLER_ERROR = "handler-error"
REASON_REJECTED = "rejected"
REASON_INVALID_JSON = "invalid-json"
REASON_SCHEMA = "schema-violation"


def _nothing() -> None:
    """A callback that only wakes the I/O thread."""


class PermanentError(Exception):
    """The message can never be processed: dead-letter it without retrying."""


@dataclass
class _Verdict:
    action: str  # "ack", "retry" or "dead"
    reason: str = ""
    error: BaseException | None = None


@dataclass
class ConsumerStats:
    delivered: int = 0
    acked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    reconnects: int = 0


class Consumer:
    """Consumes work queues of a topology and runs ``handler`` for every message."""

    def __init__(
        self,
        urls: str | Sequence[str],
        topology: Topology,
        queues: Sequence[str],
        handler: Handler,
        *,
        service: str,
        validator: Validator | None = None,
        prefetch: int = 16,
        concurrency: int = 1,
        heartbeat: int = 30,
        reconnect_max_s: float = 5.0,
        declare: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if prefetch < concurrency:
            raise ValueError(
                f"prefetch ({prefetch}) must be at least concurrency ({concurrency}): "
                "the broker never hands out more unacked messages than the prefetch, "
                "so the other lanes would never get work"
            )
        self._urls = urls
        self._topology = topology
        self._queues = [topology.queue(q) for q in queues]
        self._handler = handler
        self._service = service
        self._validator = validator
        self._prefetch = prefetch
        self._heartbeat = heartbeat
        self._reconnect_max_s = reconnect_max_s
        self._declare = declare
        self._stopping = threading.Event()
        self._connected = threading.Event()
        # one thread per lane: a lane runs its messages strictly one after another
        self._lanes = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{service}-lane-{n}")
            for n in range(concurrency)
        ]
        self._generation = 0
        self._connection: pika.BlockingConnection | None = None  # the I/O thread's, while open
        self._in_flight = 0
        self._lock = threading.Lock()
        self.stats = ConsumerStats()

    # -- lifecycle ---------------------------------------------------------------------

    def run(self) -> None:
        """Consume until ``stop()``; reconnect with capped backoff whenever the link drops."""
        keep_reconnecting(self._consume_once, self._stopping, self._reconnect_max_s, self._retry)
        # Work still queued in a lane has lost its channel (the drain gave up on it): drop
        # it, the broker redelivers it.  Handlers already running finish first.
        for lane in self._lanes:
            lane.shutdown(wait=True, cancel_futures=True)

    def _retry(self, exc: BaseException, delay: float) -> bool:
        self.stats.reconnects += 1
        log.warning("%s: connection lost (%r); reconnecting in %.1f s", self._service, exc, delay)
        return True

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name=f"{self._service}-io", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            connection = self._connection
        if connection is not None:
            with contextlib.suppress(Exception):  # already closed: its loop has ended
                connection.add_callback_threadsafe(_nothing)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def concurrency(self) -> int:
        return len(self._lanes)

    # -- I/O thread --------------------------------------------------------------------

    def _consume_once(self) -> None:
        connection = connect(self._urls, heartbeat=self._heartbeat, name=self._service)
        try:
            channel = connection.channel()
            if self._declare:
                declare_topology(channel, self._topology)
            # Bounded prefetch: the broker never hands us more unacked messages than this,
            # so a slow handler cannot make us hoard a queue.
            channel.basic_qos(prefetch_count=self._prefetch)
            # Retries and dead letters go out on their own confirm-mode channel so that a
            # republish is known to be safe before the original is acked.
            retry_channel = connection.channel()
            retry_channel.confirm_delivery()
            with self._lock:
                self._generation += 1
                generation = self._generation
                self._in_flight = 0
            tags = [
                channel.basic_consume(
                    q.name,
                    partial(
                        self._on_message, connection, channel, retry_channel, generation, q.name
                    ),
                )
                for q in self._queues
            ]
            self._connected.set()
            log.info("%s: consuming %s", self._service, ", ".join(q.name for q in self._queues))
            with self._lock:
                self._connection = connection
            while not self._stopping.is_set():
                # Blocks until a delivery, a verdict or ``stop()``'s wake-up is to be handled
                # (heartbeats go out meanwhile): no timer to set and cancel on every turn.
                connection.process_data_events(time_limit=None)
            for tag in tags:
                channel.basic_cancel(tag)
            self._drain_in_flight(connection, deadline_s=10.0)
        finally:
            self._connected.clear()
            with self._lock:
                self._connection = None
                # this channel's delivery tags die with it: lanes skip what is still
                # queued and verdicts still on their way are dropped (see ``_settle``)
                self._generation += 1
            if connection.is_open:
                with contextlib.suppress(*RECOVERABLE_ERRORS):
                    connection.close()

    def _drain_in_flight(self, connection: pika.BlockingConnection, deadline_s: float) -> None:
        """On stop, let every lane finish and settle what it holds before closing.

        That is the running handlers and the messages queued behind them; whatever is
        still unsettled at the deadline goes back to the queue with the connection.
        """
        deadline = time.monotonic() + deadline_s
        while self._in_flight and time.monotonic() < deadline:
            connection.process_data_events(time_limit=0.1)

    def _on_message(
        self,
        connection: pika.BlockingConnection,
        channel: BlockingChannel,
        retry_channel: BlockingChannel,
        generation: int,
        queue: str,
        _channel: BlockingChannel,
        method: Basic.Deliver,
        properties: BasicProperties,
        body: bytes,
    ) -> None:
        self.stats.delivered += 1
        with self._lock:
            self._in_flight += 1
        # handlers see the event's own routing key, also after a retry hop
        key = str((properties.headers or {}).get(env.ORIGINAL_ROUTING_KEY_HEADER) or "")
        message = incoming(method, properties, body, queue, routing_key=key or None)

        def work() -> None:
            if generation != self._generation:
                # Queued in a lane while its connection dropped: the broker redelivers it
                # (on the next connection), so running it here would only duplicate it.
                return
            verdict = self._judge(message)
            settle = partial(
                self._settle,
                channel,
                retry_channel,
                generation,
                method.delivery_tag,
                message,
                verdict,
            )
            try:
                connection.add_callback_threadsafe(settle)
            except Exception:
                # The connection is gone; the broker will redeliver the message.
                log.info(
                    "%s: verdict for %s dropped with its connection",
                    self._service,
                    message.message_id,
                )

        key = message.correlation_id or message.message_id or ""
        self._lanes[lane_of(key, len(self._lanes))].submit(work)

    def _settle(
        self,
        channel: BlockingChannel,
        retry_channel: BlockingChannel,
        generation: int,
        tag: int,
        message: env.IncomingMessage,
        verdict: _Verdict,
    ) -> None:
        with self._lock:
            if generation != self._generation:
                return  # delivery tag belongs to a dead channel; it will be redelivered
            self._in_flight -= 1
        if verdict.action == "ack":
            channel.basic_ack(tag)
            self.stats.acked += 1
            return
        consumed = self._topology.queue(message.queue)
        attempt = message.attempt
        headers = message.headers
        headers.setdefault(env.ORIGINAL_ROUTING_KEY_HEADER, message.routing_key)
        headers.setdefault(env.ORIGINAL_EXCHANGE_HEADER, message.exchange)
        if verdict.action == "retry" and attempt <= len(self._topology.retry_delays_ms):
            target = consumed.retry_queue(attempt)
            headers[env.ATTEMPT_HEADER] = attempt + 1
            self.stats.retried += 1
        else:
            target = consumed.dlq
            headers.update(_dead_letter_headers(verdict, attempt, self._service))
            self.stats.dead_lettered += 1
        out = {**message.properties, "headers": headers}
        out.setdefault("delivery_mode", env.PERSISTENT)
        hop = self._topology.hop_exchange.name
        try:
            publish_raw(retry_channel, hop, target, message.raw_body, out)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            # The wait queue or DLQ is missing: keep the message rather than lose it.
            log.error(
                "%s: cannot move %s to %s (%r); requeueing",
                self._service,
                message.message_id,
                target,
                exc,
            )
            channel.basic_nack(tag, requeue=True)
            return
        channel.basic_ack(tag)
        log.info(
            "%s: %s %s -> %s (%s)",
            self._service,
            verdict.action,
            message.message_id,
            target,
            verdict.reason,
        )

    # -- lane threads ------------------------------------------------------------------

    def _judge(self, message: env.IncomingMessage) -> _Verdict:
        try:
            decoded = message.body  # parsed here, once; the validator reuses it
        except ValueError as exc:
            return _Verdict("dead", REASON_INVALID_JSON, exc)
        if not isinstance(decoded, dict):
            return _Verdict("dead", REASON_INVALID_JSON, ValueError("body is not a JSON object"))
        if self._validator is not None:
            violations = self._validator(message)
            if violations:
                detail = "; ".join(str(v) for v in violations)
                return _Verdict("dead", REASON_SCHEMA, ValueError(detail))
        try:
            self._handler(message)
        except PermanentError as exc:
            return _Verdict("dead", REASON_REJECTED, exc)
        except Exception as exc:
            log.warning(
                "%s: handler failed on %s attempt %d: %r",
                self._service,
                message.message_id,
                message.attempt,
                exc,
            )
            return _Verdict("retry", REASON_HANDLER_ERROR, exc)
        return _Verdict("ack")


def lane_of(key: str, lanes: int) -> int:
    """The lane of a message keyed ``key`` (its correlation id, else its message id)."""
    # crc32, not hash(): the same key picks the same lane in every process and run
    return zlib.crc32(key.encode("utf-8", "surrogatepass")) % lanes


def _dead_letter_headers(verdict: _Verdict, attempt: int, service: str) -> dict[str, Any]:
    error = verdict.error
    # a long string header, but it must still encode: an exception may quote a lone
    # surrogate from a JSON body ("\ud800"), which UTF-8 cannot carry
    message = (str(error) if error is not None else "")[:1000]
    message = message.encode("utf-8", "backslashreplace").decode()
    return {
        env.DEAD_LETTER_REASON_HEADER: verdict.reason,
        env.EXCEPTION_CLASS_HEADER: type(error).__name__ if error is not None else "",
        env.EXCEPTION_MESSAGE_HEADER: message,
        env.ATTEMPT_HEADER: attempt,
        env.FAILED_SERVICE_HEADER: service,
        env.FAILED_AT_HEADER: datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
