"""The wheel holds every package and the bundled architectures (an editable install hides gaps)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
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


def _readme_block_after(heading_words: str) -> str:
    """The first ```sh block after the paragraph containing ``heading_words`` in the README."""
    readme = (ROOT / "README.md").read_text()
    after = readme[readme.index(heading_words):]
    block = after[after.index("```sh\n") + len("```sh\n"):]
    return block[:block.index("```")].strip()


def test_ci_runs_the_readmes_test_command_in_a_fresh_environment() -> None:
    """.ci/run is what a new machine does: a new virtual environment, then the README's command."""
    command = _readme_block_after("Install the test tools")
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert command in lines, f".ci/run must run the README's test command word for word: {command}"
    venv = next(i for i, line in enumerate(lines) if " -m venv " in line)
    activate = next(i for i, line in enumerate(lines) if line.startswith("source ") and "activate" in line)
    assert venv < activate < lines.index(command)


def test_the_torch_extra_brings_numpy() -> None:
    """Without numpy, `import torch` prints a UserWarning that verify would show to every user."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.split(">")[0].split("=")[0].strip().lower() == "numpy" for req in extras["torch"])


@pytest.mark.torch
def test_verify_prints_no_warning_from_its_dependencies() -> None:
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-m", "cnncalc", "verify", "lenet5", "--runs", "1",
                           "--warmup", "0"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
