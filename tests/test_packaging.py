"""The wheel holds every package and the bundled architectures (an editable install hides gaps)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts)
             for init in (ROOT / "cnncalc").rglob("__init__.py")}
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"


def test_the_wheel_has_the_commands_and_architectures(tmp_path: Path) -> None:
    # Build from a clean copy: setuptools reuses a build/ folder, which can hide a missing package.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for folder in ("cnncalc", "architectures"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("cnncalc-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {f"cnncalc/{p.relative_to(ROOT / 'cnncalc').as_posix()}"
               for p in (ROOT / "cnncalc").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    architectures = {f"cnncalc/architectures/{p.name}" for p in (ROOT / "architectures").glob("*.yaml")}
    assert architectures and architectures <= names, sorted(architectures - names)
