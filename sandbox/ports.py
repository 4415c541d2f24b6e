"""Random free ports as port_for chooses them, its list of candidates worked out once.

``port_for.select_random()`` rebuilds that list (the ports outside the system, ephemeral
and IANA-assigned ranges, about 19,000) on every call, which costs far more than checking
that a port is free; a sandbox's start chooses a dozen, and the list does not change
while a process runs.
"""

from __future__ import annotations

import functools
import random

import port_for

SAMPLE = 100  # candidates tried per choice, as port_for tries


@functools.cache
def _candidates() -> tuple[int, ...]:
    return tuple(sorted(port_for.available_good_ports()))


def random_port() -> int:
    """A random port nothing listens on now, from port_for's candidates."""
    candidates = _candidates()
    sample = random.sample(candidates, min(SAMPLE, len(candidates)))
    return int(port_for.select_random(set(sample)))
