"""Load runs against the sandbox: the users that drive flows, and what checks them afterwards.

``reconcile`` accounts for every flow a run started (docs/reconciliation.md).
"""
