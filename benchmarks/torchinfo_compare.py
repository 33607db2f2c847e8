"""cnncalc versus torchinfo on every bundled architecture: same totals, and the time a user waits.

torchinfo is not a dependency of cnncalc: it lives in this benchmark's own
virtual environment (default ``benchmarks/.venv-torchinfo``, created with
``--system-site-packages`` so that it sees the installed torch and cnncalc; the
script creates it when it is missing). For each architecture, interleaved:

- cnncalc: ``python -m cnncalc analyze SPEC --format json``, a fresh process;
- torchinfo: a fresh process that imports torch and torchinfo, builds the model
  with ``cnncalc.pytorch.bridge.build(cnncalc.load_spec(SPEC))`` and runs
  ``torchinfo.summary(model, input_size=(1, C, H, W), verbose=0)``; timed end to
  end from outside, as a user experiences it (the import, build and summary
  phases are also timed inside).

Totals compared: ``summary.total_params`` with ``totals.parameters`` and
``summary.total_mult_adds`` with ``totals.macs``. cnncalc counts MACs for conv and
linear layers only (connections, the bias one multiply-add per output);
torchinfo also counts every BatchNorm parameter once per sample, so with batch 1
their MACs differ by exactly the BatchNorm parameters; the table shows it.

    python benchmarks/torchinfo_compare.py [--repeat 5] [--specs architectures/vgg16.yaml ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from _bench import (
    ARCHITECTURES,
    ROOT,
    bytecode_note,
    interleaved,
    machine,
    median,
    ms,
    parse,
    run_child,
    run_timed,
    table,
)

DEFAULT_VENV = ROOT / "benchmarks" / ".venv-torchinfo"
BATCH = 1
NORMS = ("batchnorm2d", "batchnorm1d")

# Runs under the torchinfo virtual environment's interpreter.
_TORCHINFO = r"""
import json, time
t0 = time.perf_counter()
import torch, torchinfo
t1 = time.perf_counter()
import cnncalc
from cnncalc.pytorch.bridge import build
spec = cnncalc.load_spec(PATH)
model = build(spec)
t2 = time.perf_counter()
stats = torchinfo.summary(model, input_size=(BATCH, *spec.input.shape), verbose=0)
t3 = time.perf_counter()
print(json.dumps({"params": stats.total_params, "macs": stats.total_mult_adds,
                  "phases": [t1 - t0, t2 - t1, t3 - t2],
                  "versions": [torch.__version__, getattr(torchinfo, "__version__", "?")]}))
"""


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def ensure_venv(venv: Path) -> Path:
    """The venv's interpreter, creating the venv (and installing torchinfo) when missing."""
    python = venv_python(venv)
    if not python.exists():
        print(f"Creating {venv} (--system-site-packages) and installing torchinfo ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    probe = subprocess.run([str(python), "-c", "import torchinfo"], capture_output=True, check=False)
    if probe.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "torchinfo"], check=True)
    return python


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per architecture [%(default)s]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first [%(default)s]")
    parser.add_argument("--specs", nargs="+", type=Path, default=None,
                        help="spec files [default: every architectures/*.yaml]")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV,
                        help="virtual environment with torchinfo (created when missing) [%(default)s]")
    args = parse(parser)

    python = ensure_venv(args.venv.resolve())
    specs = [path.resolve() for path in (args.specs or sorted(ARCHITECTURES.glob("*.yaml")))]

    checks, timings, versions = [], [], None
    for path in specs:
        name = path.stem
        print(f"{name}: {args.repeat} interleaved rounds ...", file=sys.stderr)
        cnncalc_cmd = [sys.executable, "-m", "cnncalc", "analyze", str(path), "--format", "json"]
        torchinfo_cmd = [str(python), "-c",
                         _TORCHINFO.replace("PATH", repr(str(path))).replace("BATCH", str(BATCH))]

        _, done = run_timed(cnncalc_cmd, capture=True)
        report = json.loads(done.stdout)
        ours = report["totals"]
        norm_params = sum(row["parameters"] for row in report["layers"] if row["type"] in NORMS)
        theirs = json.loads(run_child(torchinfo_cmd))
        versions = theirs["versions"]

        times = interleaved({"cnncalc": cnncalc_cmd, "torchinfo": torchinfo_cmd}, args.repeat,
                            args.warmup, progress=False)
        inner = [json.loads(run_child(torchinfo_cmd))["phases"] for _ in range(max(1, args.repeat // 2))]

        mac_diff = theirs["macs"] - ours["macs"]
        if theirs["params"] != ours["parameters"]:
            verdict = "**parameters differ**"
        elif mac_diff == 0:
            verdict = "equal"
        elif mac_diff == BATCH * norm_params:
            verdict = f"MACs differ by the BatchNorm parameters × batch ({norm_params:,} × {BATCH})"
        else:
            verdict = "**MACs differ, unexplained**"
        checks.append([name, "×".join(map(str, report["input_shape"])), len(report["layers"]),
                       f"{ours['parameters']:,}", f"{theirs['params']:,}", f"{ours['macs']:,}",
                       f"{theirs['macs']:,}", f"{mac_diff:+,}", verdict])
        ours_t, theirs_t = median(times["cnncalc"]), median(times["torchinfo"])
        phase = [median(column) for column in zip(*inner, strict=True)]
        timings.append([name, ms(ours_t), ms(theirs_t), f"{theirs_t / ours_t:.1f}×",
                        *(ms(value) for value in phase)])

    print("## cnncalc vs torchinfo on the bundled architectures\n")
    print(f"{machine()}\n")
    print(f"torch {versions[0]}, torchinfo {versions[1]} (in {args.venv}); batch {BATCH}; "
          f"{args.repeat} interleaved rounds per architecture (after {args.warmup} discarded), each run "
          f"a fresh process. {bytecode_note()}\n")
    print("### Totals\n")
    print(table(["architecture", "input", "layers", "parameters (cnncalc)", "total_params (torchinfo)",
                 "MACs (cnncalc)", "total_mult_adds (torchinfo)", "torchinfo − cnncalc", "verdict"],
                checks, align=["l", "l", "r", "r", "r", "r", "r", "r", "l"]))
    print("\n### End-to-end time (median ms)\n")
    print(table(["architecture", "cnncalc analyze", "torchinfo (import + build + summary)",
                 "torchinfo ÷ cnncalc", "↳ import torch, torchinfo", "↳ import cnncalc + build",
                 "↳ summary()"], timings))
    print("\nThe ↳ columns are measured inside the torchinfo process (median of "
          f"{max(1, args.repeat // 2)} extra runs); the end-to-end time adds interpreter start-up.")


if __name__ == "__main__":
    main()
