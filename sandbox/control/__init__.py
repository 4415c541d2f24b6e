"""The control plane: what starts, watches and stops a sandbox's processes.

``stack`` says which processes a sandbox has and how each is started; ``supervisor``
runs them (and the broker) and restarts what dies; ``lifecycle`` is ``sandbox up`` and
``down``; ``state`` is the owner-only state file and the client of the supervisor's
control API; ``ownership`` proves a recorded pid is still ours before it is signalled;
``process`` runs one child. Services, mocks and the reconciliation never import it.
"""
