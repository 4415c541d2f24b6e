"""One provider instance: its clock, state, idempotency cache, faults and webhook worker.

:class:`Provider` wires these together and owns their lifecycle.  The Flask factory
attaches a Provider to the app; whoever serves the app calls :meth:`Provider.start`
(which starts the webhook thread) and :meth:`Provider.stop`.
"""

from __future__ import annotations

from typing import Any

from mocks.provider import events
from mocks.provider.clock import Clock
from mocks.provider.faults import FaultInjector
from mocks.provider.idempotency import IdempotencyCache
from mocks.provider.request_log import RequestLog
from mocks.provider.settings import ProviderSettings
from mocks.provider.store import Obj, Store
from mocks.provider.webhooks import Target, WebhookDispatcher
from sandbox import health


class Provider:
    """Everything one mock provider process holds in memory."""

    def __init__(self, settings: ProviderSettings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or Clock()
        self.seed = settings.seed
        self.dispatcher = WebhookDispatcher(settings, self.clock, settings.seed)
        self.store = Store(self.clock, settings.api_version, self._deliver)
        self.idempotency = IdempotencyCache(self.clock, settings.idempotency_ttl_s)
        self.faults = FaultInjector(settings.seed)
        self.requests = RequestLog()
        events.configure_endpoints(
            self.store, settings.webhook_urls, settings.webhook_secrets, settings.webhook_events
        )

    def _deliver(self, event: Obj, endpoints: list[Obj]) -> None:
        # called by Store.emit with the store lock held, so secrets are consistent
        targets = [Target(e["id"], e["url"], self.store.secrets[e["id"]]) for e in endpoints]
        if targets:
            self.dispatcher.enqueue(event, targets)

    def start(self) -> None:
        self.dispatcher.start()

    def stop(self) -> None:
        self.faults.release_hangs()
        self.dispatcher.stop()

    def reseed(self, seed: int) -> None:
        self.seed = seed
        self.faults.reseed(seed)
        self.dispatcher.reseed(seed)

    def reset(self, seed: int | None = None) -> None:
        """Forget every object, key, fault, call and delivery; real time; configured endpoints."""
        if seed is not None:
            self.seed = seed
        with self.store.lock:
            self.store.clear()
            self.idempotency.clear()
            self.requests.clear()
            self.faults.clear(reset_ids=True)
            self.faults.reseed(self.seed)
            self.dispatcher.reset(self.seed)
            self.clock.reset()
            events.configure_endpoints(
                self.store,
                self.settings.webhook_urls,
                self.settings.webhook_secrets,
                self.settings.webhook_events,
            )

    def health(self) -> dict[str, Any]:
        """The ``sandbox.health`` body: the webhook worker must run."""
        worker = self.dispatcher.stats()
        return health.report(
            "mock-provider",
            "mock",
            {"webhook_worker": {"ok": bool(worker["running"])}},
            webhook_worker=worker,
            clock=self.clock.snapshot(),
            seed=self.seed,
            faults=len(self.faults.rules()),
            objects=self.store.counts(),
        )
