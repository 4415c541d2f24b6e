"""The appointment service: appointments over HTTP, payment events in, appointment events out.

``api`` serves SPEC section 4's HTTP API; ``handlers`` applies seed 000's rules to payment
events (pure decisions in ``rules``); ``storage`` is the only module that writes SQL;
``events`` builds the ``appointment.*`` bodies; ``__main__`` runs the ``web``,
``consumer`` and ``relay`` processes.  See docs/appointment-service.md.
"""
