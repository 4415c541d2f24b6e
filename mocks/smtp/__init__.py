"""Mock SMTP server: captures every mail over a real SMTP socket and shows it over HTTP.

Like MailHog: the notifier sends to the SMTP listener, tests and people read the inbox
through the JSON API, and a control endpoint makes the server refuse mail so retry and
dead-letter paths can be exercised.  Run it with ``python -m mocks.smtp``.
"""
