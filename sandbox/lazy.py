"""Names a package hands out from its modules only when first asked for (PEP 562).

A package's ``__init__`` maps each such name to the module that defines it and sets
``__getattr__ = lazy_names(__name__, MODULES)``: importing the package then loads none
of those modules, so a process loads only what it uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, modules: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` from ``package.<modules[name]>``."""

    def __getattr__(name: str) -> Any:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
