"""Mock merchant endpoint: receives the notifier's signed callbacks, verifies and records them.

Each attempt is kept (accepted, duplicate, rejected or failed, with the reason), so a test
can count accepted callbacks per payment; a control endpoint makes it fail or slow down so
the notifier's retries can be exercised.  Run it with ``python -m mocks.merchant``.
"""
