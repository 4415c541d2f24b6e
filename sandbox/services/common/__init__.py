"""Code shared by the services: database, outbox and relay, inbox, HTTP conventions."""
