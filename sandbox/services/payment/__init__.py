"""The payment service (SPEC section 4): seed 003's API over a Stripe-compatible provider.

Processes: ``web`` (the Flask API under gunicorn) and ``relay`` (the shared outbox
relay); see ``__main__``.  Modules, in the shape every service has: ``api`` (blueprint
and factory) with ``replies`` and ``parsing`` (outcomes and requests as HTTP),
``handlers`` (plain functions returning domain outcomes: cards, cancel, refunds,
webhooks), ``model`` and ``money`` (the domain and its state machine), ``storage``,
``storage_requests`` and ``tables`` (SQL), ``events`` (event bodies), ``settings``;
and the adapters ``provider`` (the stripe SDK) and ``bookings`` (the appointment
service).
"""
