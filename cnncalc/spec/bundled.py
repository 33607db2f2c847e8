"""The architectures that ship with cnncalc, found by name.

In a wheel they are package data at ``cnncalc/architectures/``; in a source
checkout (and an editable install) they are the repository's top-level
``architectures/`` folder, which the wheel build maps into the package.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["directory", "names", "resolve"]

_PACKAGE = Path(__file__).resolve().parent.parent  # cnncalc/


def directory() -> Path:
    """The folder holding the bundled ``*.yaml`` specs."""
    installed = _PACKAGE / "architectures"
    return installed if installed.is_dir() else _PACKAGE.parent / "architectures"


def names() -> list[str]:
    """Bundled architecture names, sorted (``alexnet``, ``lenet5``, …)."""
    return sorted(path.stem for path in directory().glob("*.yaml"))


def resolve(source: str | Path) -> Path:
    """A path as given when it exists; otherwise the bundled spec of that name.

    ``alexnet``, ``alexnet.yaml`` and ``architectures/alexnet.yaml`` name the
    bundled AlexNet from any folder; a path that exists always wins, so a
    user's own ``alexnet.yaml`` is never shadowed.
    """
    path = Path(source)
    if path.exists():
        return path
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    candidate = directory() / f"{stem}.yaml"
    if path.parent in (Path("."), Path("architectures")) and candidate.is_file():
        return candidate
    return path
