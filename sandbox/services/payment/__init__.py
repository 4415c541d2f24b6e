"""The payment service (SPEC section 4): seed 003's API over a Stripe-compatible provider.

Processes: ``web`` (the Flask API under gunicorn) and ``relay`` (the transactional
outbox's publisher); see ``__main__``.  Modules: ``api`` (HTTP), ``handlers``,
``refunds`` and ``webhooks`` (plain functions: a request in, a state change and its
events out), ``storage``/``storage_requests``/``tables`` (SQL), ``provider`` (the stripe
SDK), ``events`` (event bodies), ``model`` and ``money`` (the domain).
"""
