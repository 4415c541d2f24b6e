"""The notifier service: seed 002's five emails and seed 001's merchant callbacks.

``handlers`` decides, per consumed event, which notifications (channels) it owes and
sends each at most once; ``rendering`` turns events into autoescaped Jinja2 emails
(``templates/``); ``mailer`` speaks SMTP and ``merchant`` signed HTTP; ``storage`` keeps
the appointment projection, the delivery records, the audit log and the outbox; ``api``
serves ``/health`` and ``GET /notifications``.  See docs/notifier-service.md.
"""
