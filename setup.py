"""The wheel's one build step beyond pyproject.toml: the data folders go into the package.

``contracts/`` and ``scenarios/`` stay top-level folders in the repository (the project's
layout); an installed package finds them as ``sandbox/_data/<name>`` (``sandbox.bundled``).
An editable install skips the copy and reads them from the clone.  MANIFEST.in puts the
same folders into the sdist, which ``python -m build`` makes the wheel from.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

# folder -> the files of it that ship; the folder names are sandbox.bundled.FOLDERS
BUNDLED = {
    "contracts": ("**/*.json", "**/*.yaml", "**/*.md"),
    "scenarios": ("*.py",),
}
TARGET = Path("sandbox", "_data")


def bundled_files() -> list[Path]:
    found: set[Path] = set()
    for folder, patterns in BUNDLED.items():
        for pattern in patterns:
            found.update(p for p in Path(folder).glob(pattern) if p.is_file())
    return sorted(found)


class BuildPyWithData(build_py):
    """``build_py`` that also copies the data folders under ``sandbox/_data``."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for path in bundled_files():
            target = Path(self.build_lib, TARGET, path)
            self.mkpath(str(target.parent))
            self.copy_file(str(path), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = list(super().get_outputs(include_bytecode))
        if not self.editable_mode:
            outputs += [str(Path(self.build_lib, TARGET, p)) for p in bundled_files()]
        return outputs


setup(cmdclass={"build_py": BuildPyWithData})
