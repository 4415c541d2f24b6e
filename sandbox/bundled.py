"""Where the sandbox's own data folders are: its contracts and its scenario catalog.

In a clone they are the top-level folders ``contracts/`` and ``scenarios/`` beside the
``sandbox`` package, and an editable install reads them there.  A wheel cannot put them
beside the package without claiming those names in site-packages for itself, so the
build copies them into the package as ``sandbox/_data/<name>`` (``setup.py``), where
``importlib.resources`` finds them.  The copy in the package wins when both exist.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# The folders setup.py copies into the wheel; the same names in a clone.
FOLDERS = ("contracts", "scenarios")
PACKAGED = "_data"


class BundledDataMissing(FileNotFoundError):
    """Neither the installed package nor a clone has one of the sandbox's data folders."""


def candidates(name: str) -> tuple[Path, Path]:
    """Where ``name`` is looked for: inside the installed package, then in a clone."""
    package = resources.files("sandbox")
    # A wheel is installed unpacked, so the package is a folder on disk; the services
    # and the checks read these files by path, which a zipped package could not give.
    if not isinstance(package, Path):
        raise BundledDataMissing(f"the sandbox package is not a folder on disk: {package}")
    return package / PACKAGED / name, package.parent / name


def bundled_dir(name: str) -> Path:
    """The sandbox's own ``contracts`` or ``scenarios`` folder."""
    if name not in FOLDERS:
        raise ValueError(f"not a bundled folder: {name!r} (known: {', '.join(FOLDERS)})")
    packaged, clone = candidates(name)
    for path in (packaged, clone):
        if path.is_dir():
            return path
    raise BundledDataMissing(
        f"the sandbox's {name}/ folder is missing: looked in {packaged} (installed package) "
        f"and {clone} (a clone); reinstall the package or use a complete clone"
    )
