"""Locust load tests of the whole flow: HTTP users, an AMQP user, thresholds, a ledger.

``locustfile.py`` is what ``locust -f`` loads; ``sandbox load`` runs it headless against
a running sandbox (see docs/load-testing.md).
"""
