"""Scenarios: business flows run against a live sandbox, with a timeline of what happened."""

from sandbox.scenario.flow import Flow
from sandbox.scenario.timeline import Entry, Timeline

__all__ = ["Entry", "Flow", "Timeline"]
