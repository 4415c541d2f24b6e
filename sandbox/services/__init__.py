"""The three services (payment, appointment, notifier) and the code they share.

Each service package has the same shape: ``api`` (Flask blueprint + ``create_app``),
``handlers`` (plain functions: event or request in, state change and new events out),
``storage`` (the only module that writes SQL), ``settings`` and ``__main__``
(entrypoints: ``web``, ``consumer``, ``relay``).  ``common`` holds what they share.
"""
