"""Helpers shared by the benchmark scripts: timing fresh processes, medians, Markdown.

Not part of cnncalc and not a test: plain functions the scripts in this folder
import (they run as ``python benchmarks/<script>.py``, so this folder is on
``sys.path``).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository root
ARCHITECTURES = ROOT / "architectures"

# The children run with this environment. PYTHONDONTWRITEBYTECODE (set in some
# sandboxes and CI images) would make every run recompile cnncalc from source,
# which no installed copy does (pip writes the .pyc files at install time, and
# an editable install writes them on first use), so it is dropped by default:
# the discarded warm-up round then writes the .pyc files. See keep_environment().
CHILD_ENV: dict[str, str] = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def keep_environment() -> None:
    """Run the children with this process's environment unchanged (``--keep-env``)."""
    CHILD_ENV.clear()
    CHILD_ENV.update(os.environ)


def parse(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The script's arguments, with ``--keep-env`` (every benchmark takes it) added and applied."""
    parser.add_argument("--keep-env", action="store_true",
                        help="keep PYTHONDONTWRITEBYTECODE if set (default: drop it, use .pyc files)")
    args = parser.parse_args()
    if args.keep_env:
        keep_environment()
    return args


def bytecode_note() -> str:
    """How the timed runs got cnncalc's bytecode (call after the runs)."""
    cached = any((ROOT / "cnncalc" / "__pycache__").glob("*.pyc"))
    if not CHILD_ENV.get("PYTHONDONTWRITEBYTECODE"):
        return ("Runs use .pyc files as an installed copy does (PYTHONDONTWRITEBYTECODE unset for "
                "the children; the warm-up round writes them).")
    if cached:
        return ("PYTHONDONTWRITEBYTECODE kept (--keep-env), but cnncalc/__pycache__ already held "
                ".pyc files, which were used.")
    return ("PYTHONDONTWRITEBYTECODE kept (--keep-env) and no cnncalc/__pycache__: cnncalc was "
            "compiled from source in every run, unlike an installed copy.")


def run_timed(cmd: Sequence[str], *, cwd: Path = ROOT, capture: bool = False, allowed: Sequence[int] = (0,)
              ) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    """Run ``cmd`` once as a fresh process; return its wall time in seconds and the result.

    Output goes to /dev/null unless ``capture``; an exit status not in ``allowed`` (only 0
    unless a refusal is what is timed) is an error, so a benchmark never silently times a failure.
    """
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    start = time.perf_counter()
    done = subprocess.run(list(cmd), cwd=cwd, stdout=out, stderr=subprocess.PIPE, env=CHILD_ENV,
                          check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in allowed:
        raise SystemExit(f"command failed with exit status {done.returncode}: {' '.join(cmd)}\n"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed, done


def interleaved(commands: dict[str, Sequence[str]], repeat: int, warmup: int = 1,
                progress: bool = True, allowed: Sequence[int] = (0,)) -> dict[str, list[float]]:
    """Time every command ``repeat`` times, interleaved: one of each per round.

    The order within a round rotates so no command always runs right after the
    same neighbour. ``warmup`` rounds run first and are discarded (they load
    the files into the page cache and write the ``.pyc`` files). ``allowed``: the exit
    statuses accepted (see :func:`run_timed`).
    """
    names = list(commands)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_no in range(warmup + repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            elapsed, _ = run_timed(commands[name], allowed=allowed)
            if round_no >= warmup:
                times[name].append(elapsed)
        if progress:
            print(f"  round {round_no + 1}/{warmup + repeat}"
                  f"{' (warm-up, discarded)' if round_no < warmup else ''}", file=sys.stderr)
    return times


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def table(header: Sequence[str], rows: Sequence[Sequence[object]],
          align: Sequence[str] | None = None) -> str:
    """A Markdown table; ``align`` is one of 'l'/'r' per column (default: first left, rest right)."""
    align = align or ["l"] + ["r"] * (len(header) - 1)
    marks = {"l": "---", "r": "---:"}
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def machine() -> str:
    """One line saying where and when the numbers were taken."""
    cpus = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = cpus
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        one, five, fifteen = os.getloadavg()
        load = f" · load average {one:.2f} {five:.2f} {fifteen:.2f} at the end"
    return (f"{datetime.date.today().isoformat()} · {platform.system()} {platform.release()} · "
            f"{cpu} · {usable} usable cores (of {cpus}) · Python {platform.python_version()} "
            f"({sys.executable}){load} · cnncalc at {revision()}")


def revision() -> str:
    """The git commit measured, and whether cnncalc/ had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cnncalc"], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(not a git checkout)"
    return f"{head}{' + uncommitted changes in cnncalc/' if dirty else ''}"


def run_child(cmd: Sequence[str]) -> str:
    """Run an untimed helper process (same environment as the timed ones); return its stdout."""
    done = subprocess.run(list(cmd), cwd=ROOT, env=CHILD_ENV, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"helper failed with exit status {done.returncode}: {' '.join(cmd)[:200]}\n"
                         f"{done.stderr[-3000:]}")
    return done.stdout


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"
