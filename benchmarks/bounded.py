"""Bounded work: the large inputs of issue 7, item 18, each finished or refused within seconds.

Every case is the real CLI in a fresh process, end to end, output to /dev/null; the cases run
interleaved and the table shows medians. The inputs are generated at run time into a temporary
folder (never committed), from a fixed seed:

- ``convolve`` of a 316×316 input (integers −9..9) with a 3×3 kernel, as a table and as JSON;
  with ``--sums`` (98,596 sums of 9 products: refused), and ``--sums`` on 107×107, the largest
  square input whose sums are written (105×105 = 11,025 sums of 9, under the 100,000 products
  written out at most);
- ``pool --values`` of the 316×316 matrix with a 3×3 window at stride 1: as a table, and
  ``--windows -f json`` (refused), and ``--windows -f json`` on 107×107 (written);
- ``analyze`` of a 10,000-layer spec (the block of benchmarks/scaling.py) as the table and as JSON.

Target (issue): each finishes within a few seconds — here at most 3 s on a 2-core machine — or is
refused at once (exit status 2) with a message that says what size is accepted.

    python benchmarks/bounded.py [--repeat 5]
    python benchmarks/bounded.py --cases convolve-316-table analyze-10000-table
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import CHILD_ENV, ROOT, bytecode_note, interleaved, machine, median, parse, table
from scaling import write_spec

MAX_SECONDS = 3.0
KERNEL = "1 0 1; 0 1 0; 1 0 1"


def write_matrix(folder: Path, size: int, seed: int = 18) -> Path:
    rng = random.Random(seed)
    path = folder / f"matrix-{size}.txt"
    path.write_text("\n".join(" ".join(str(rng.randint(-9, 9)) for _ in range(size)) for _ in range(size))
                    + "\n", encoding="utf-8")
    return path


def cases(folder: Path) -> dict[str, tuple[list[str], str]]:
    """name → (cnncalc arguments, what it is)."""
    big, limit = write_matrix(folder, 316), write_matrix(folder, 107)
    spec = write_spec(folder, 10_000, 64)
    conv = ["convolve", "--input", f"@{big}", "--kernel", KERNEL]
    conv_limit = ["convolve", "--input", f"@{limit}", "--kernel", KERNEL]
    pool = ["pool", "--values", f"@{big}", "-F", "3", "-s", "1"]
    pool_limit = ["pool", "--values", f"@{limit}", "-F", "3", "-s", "1"]
    return {
        "convolve-316-table": (conv, "convolve 316×316, 3×3 kernel, table"),
        "convolve-316-json": ([*conv, "-f", "json"], "convolve 316×316, 3×3 kernel, JSON"),
        "convolve-316-sums": ([*conv, "--sums"], "convolve 316×316 --sums (98,596 sums)"),
        "convolve-107-sums": ([*conv_limit, "--sums"], "convolve 107×107 --sums (11,025 sums), table"),
        "convolve-107-sums-json": ([*conv_limit, "--sums", "-f", "json"], "convolve 107×107 --sums, JSON"),
        "pool-316-table": (pool, "pool --values 316×316, 3×3 stride 1, table"),
        "pool-316-windows-json": ([*pool, "--windows", "-f", "json"], "pool 316×316 --windows -f json"),
        "pool-107-windows-json": ([*pool_limit, "--windows", "-f", "json"],
                                  "pool 107×107 --windows -f json (11,025 windows)"),
        "analyze-10000-table": (["analyze", str(spec)], "analyze 10,000 layers, table"),
        "analyze-10000-json": (["analyze", str(spec), "-f", "json"], "analyze 10,000 layers, JSON"),
    }


def outcome(cmd: list[str]) -> tuple[int, int, str]:
    """One untimed run: exit status, lines written, and the message of a refusal."""
    done = subprocess.run(cmd, cwd=ROOT, env=CHILD_ENV, capture_output=True, text=True, check=False)
    if done.returncode not in (0, 2):
        raise SystemExit(f"{' '.join(cmd)[:200]} failed with exit status {done.returncode}:\n"
                         f"{done.stderr[-2000:]}")
    return done.returncode, done.stdout.count("\n"), done.stderr.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds [%(default)s]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first [%(default)s]")
    parser.add_argument("--cases", nargs="+", default=None, help="only these cases (names as in the table)")
    args = parse(parser)

    with tempfile.TemporaryDirectory(prefix="cnncalc-bench-") as tmp:
        chosen = cases(Path(tmp))
        if args.cases:
            unknown = set(args.cases) - set(chosen)
            if unknown:
                raise SystemExit(f"unknown cases: {', '.join(sorted(unknown))}; known: {', '.join(chosen)}")
            chosen = {name: chosen[name] for name in args.cases}
        commands = {name: [sys.executable, "-m", "cnncalc", *argv] for name, (argv, _) in chosen.items()}
        results = {name: outcome(cmd) for name, cmd in commands.items()}
        print(f"Timing {len(commands)} cases, {args.repeat} interleaved rounds ...", file=sys.stderr)
        times = interleaved(commands, args.repeat, args.warmup, allowed=(0, 2))

    print("## Bounded work: `python -m cnncalc ...` on large inputs\n")
    print(f"{machine()}\n")
    print(f"{args.repeat} interleaved rounds (after {args.warmup} discarded); each run a fresh process, "
          f"end to end, output to /dev/null. {bytecode_note()}\n")
    rows, refusals = [], []
    for name, (_, what) in chosen.items():
        status, lines, message = results[name]
        seconds = median(times[name])
        met = seconds <= MAX_SECONDS
        rows.append([f"`{name}`: {what}", f"{seconds:.2f}", f"{min(times[name]):.2f}",
                     f"{max(times[name]):.2f}", "refused (2)" if status == 2 else f"{lines:,} lines",
                     "met" if met else "**MISSED**"])
        if status == 2:
            refusals.append(f"- `{name}`: {message}")
    print(table(["case", "median s", "min s", "max s", "outcome", f"≤ {MAX_SECONDS:.0f} s"], rows,
                ["l", "r", "r", "r", "r", "l"]))
    if refusals:
        print("\nRefusals (standard error):\n")
        print("\n".join(refusals))


if __name__ == "__main__":
    main()
