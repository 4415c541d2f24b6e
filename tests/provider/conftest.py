"""Fixtures for the mock provider's tests: a served provider, an SDK client, a receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe
from provider_support import (
    RunningProvider,
    WebhookReceiver,
    fast_settings,
    running_provider,
    serve,
)


@pytest.fixture
def provider() -> Iterator[RunningProvider]:
    with running_provider(fast_settings()) as running:
        yield running


@pytest.fixture
def client(provider: RunningProvider) -> stripe.StripeClient:
    return provider.stripe_client()


@pytest.fixture
def receiver(provider: RunningProvider, client: stripe.StripeClient) -> Iterator[WebhookReceiver]:
    """A webhook receiver registered on the provider for every event type."""
    hook = WebhookReceiver()
    with serve(hook) as url:
        hook.url = f"{url}/webhook"
        endpoint = client.v1.webhook_endpoints.create(
            params={"url": hook.url, "enabled_events": ["*"]}
        )
        hook.secret = endpoint.secret or ""
        yield hook
