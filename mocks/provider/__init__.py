"""A stateful, Stripe-compatible mock payment provider with signed webhooks and faults.

Start it with ``python -m mocks.provider``; build it in tests with
``create_app(ProviderSettings(...))``.  See ``docs/provider.md``.
"""

from mocks.provider.app import create_app
from mocks.provider.runtime import Provider
from mocks.provider.settings import ProviderSettings

__all__ = ["Provider", "ProviderSettings", "create_app"]
