"""The code passes ruff (which also keeps torch out of module-level imports) and mypy --strict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True)


def test_ruff() -> None:
    done = run("ruff", "check", "cnncalc", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy() -> None:
    done = run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_torch_stays_out_of_module_level_imports() -> None:
    # ruff's TID253 enforces this; check the rule is really configured so it cannot silently go.
    config = (ROOT / "pyproject.toml").read_text()
    assert 'banned-module-level-imports = ["torch"]' in config
