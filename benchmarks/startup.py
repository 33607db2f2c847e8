"""Cold start: `cnncalc analyze SPEC --format json` versus `python -c "import torch"`.

Every run is a fresh interpreter ("cold" process; the page cache and .pyc files
are warm after the discarded warm-up round). The commands run interleaved, one
of each per round, and the table shows medians. The target (issue): analyze
takes at most 0.15 x the time of importing torch (aim: 0.10), and never imports
torch, which is checked twice: in-process (``sys.modules`` after the CLI ran)
and with ``python -X importtime``.

    python benchmarks/startup.py [--repeat 15] [--spec architectures/vgg16.yaml]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from _bench import (
    CHILD_ENV,
    ROOT,
    bytecode_note,
    interleaved,
    machine,
    median,
    ms,
    parse,
    run_child,
    table,
)

TARGET, AIM = 0.15, 0.10

# Runs the real CLI entry point in-process, then reports what got imported.
_IN_PROCESS = r"""
import contextlib, io, json, sys
sys.argv = ["cnncalc", "analyze", SPEC, "--format", "json"]
from cnncalc.cli import main
out, code = io.StringIO(), 0
with contextlib.redirect_stdout(out):
    try:
        main()
    except SystemExit as stop:
        code = stop.code or 0
report = json.loads(out.getvalue())
torch = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"exit": code, "layers": len(report["layers"]), "torch_modules": torch,
                  "modules": len(sys.modules)}))
"""

# Where the time of one analyze goes, measured inside one fresh process.
_PHASES = r"""
import json, time
t = [time.perf_counter()]
import cnncalc.cli                                   # click, the CLI module
t.append(time.perf_counter())
from cnncalc.spec.loader import load_spec                 # PyYAML, pydantic, the spec models
t.append(time.perf_counter())
from cnncalc.analysis.walk import analyze                 # the walk
t.append(time.perf_counter())
spec = load_spec(SPEC)                               # read, parse, validate
t.append(time.perf_counter())
report = analyze(spec)
t.append(time.perf_counter())
text = report.render("json")                         # renderers (lazy imports included)
t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""
_PHASE_NAMES = ["import cnncalc.cli (click)", "import cnncalc.spec.loader (yaml, pydantic, spec models)",
                "import cnncalc.analysis.walk", "load_spec (read + parse + validate)", "analyze",
                "render json"]


def torch_check(spec: str) -> dict[str, object]:
    code = _IN_PROCESS.replace("SPEC", repr(spec))
    return json.loads(run_child([sys.executable, "-c", code]))


def importtime(spec: str) -> list[tuple[int, int, int, str]]:
    """(self µs, cumulative µs, depth, module) for every import of one analyze."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "cnncalc", "analyze", spec,
                           "--format", "json"], cwd=ROOT, env=CHILD_ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=True)
    text = done.stderr
    rows = []
    for line in text.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), len(match[3]) // 2, match[4]))
    return rows


def phases(spec: str, repeat: int) -> list[float]:
    code = _PHASES.replace("SPEC", repr(spec))
    runs = []
    for _ in range(repeat):
        runs.append(json.loads(run_child([sys.executable, "-c", code])))
    return [median(column) for column in zip(*runs, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default="architectures/vgg16.yaml",
                        help="spec to analyse (relative to the repository root) [%(default)s]")
    parser.add_argument("--repeat", type=int, default=15, help="timed rounds [%(default)s]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first [%(default)s]")
    parser.add_argument("--top", type=int, default=12,
                        help="rows of the -X importtime breakdown to show (0: none) [%(default)s]")
    parser.add_argument("--explain", action="store_true",
                        help="also time variants that show where fixed costs go: the same run with "
                             "the cyclic GC disabled, and with the interpreter's teardown skipped")
    args = parse(parser)

    py = sys.executable
    commands = {
        "python -c pass (interpreter start-up)": [py, "-c", "pass"],
        f"python -m cnncalc analyze {args.spec} --format json":
            [py, "-m", "cnncalc", "analyze", args.spec, "--format", "json"],
        'python -c "import torch"': [py, "-c", "import torch"],
    }
    if args.explain:
        run = f"import runpy, sys; sys.argv = ['cnncalc', 'analyze', {args.spec!r}, '--format', 'json']\n"
        commands["variant: same, via runpy (reference for the two below)"] = \
            [py, "-c", run + "runpy.run_module('cnncalc', run_name='__main__')"]
        commands["variant: gc.disable() first"] = \
            [py, "-c", "import gc; gc.disable()\n" + run + "runpy.run_module('cnncalc', run_name='__main__')"]
        commands["variant: os._exit(0) after the output (no interpreter teardown)"] = \
            [py, "-c", run + "import os\ntry:\n    runpy.run_module('cnncalc', run_name='__main__')\n"
                             "except SystemExit:\n    pass\nsys.stdout.flush()\nos._exit(0)"]
    script = Path(py).parent / "cnncalc"
    if script.is_file() and os.access(script, os.X_OK):
        commands[f"cnncalc analyze {args.spec} --format json (console script)"] = \
            [str(script), "analyze", args.spec, "--format", "json"]

    print(f"Timing {len(commands)} commands, {args.repeat} interleaved rounds ...", file=sys.stderr)
    times = interleaved(commands, args.repeat, args.warmup)
    torch_ms = median(times['python -c "import torch"'])

    print(f"## Cold start: `cnncalc analyze {args.spec}` vs `import torch`\n")
    print(f"{machine()}\n")
    print(f"{args.repeat} interleaved rounds (after {args.warmup} discarded); each run a fresh process. "
          f"{bytecode_note()}\n")
    rows = []
    for name, values in times.items():
        rows.append([f"`{name}`", ms(median(values)), ms(min(values)), ms(max(values)),
                     f"{median(values) / torch_ms:.3f}"])
    print(table(["command", "median ms", "min ms", "max ms", "÷ import torch"], rows))

    analyze_key = next(k for k in commands if k.startswith("python -m cnncalc"))
    ratio = median(times[analyze_key]) / torch_ms
    verdict = ("met" if ratio <= TARGET else "MISSED") + (
        f", and the aim of {AIM} too" if ratio <= AIM else f"; the aim of {AIM} is not reached")
    print(f"\n**Ratio** (python -m cnncalc analyze ÷ import torch, medians): **{ratio:.3f}** — "
          f"target ≤ {TARGET}: {verdict}.")
    budget = TARGET * torch_ms
    print(f"The target allows {ms(budget)} ms here (the aim {ms(AIM * torch_ms)} ms).")

    check = torch_check(args.spec)
    imported = importtime(args.spec)
    torch_rows = [name for _, _, _, name in imported if name == "torch" or name.startswith("torch.")]
    ok = not check["torch_modules"] and not torch_rows and check["exit"] == 0
    print(f"\n**torch imported by analyze:** {'no' if ok else 'YES'} — in-process check: "
          f"{len(check['torch_modules'])} `torch*` entries in `sys.modules` after the CLI ran "
          f"({check['modules']} modules loaded in all, {check['layers']} layers reported); "
          f"`-X importtime`: {len(torch_rows)} `torch*` imports of {len(imported)}.")

    split = phases(args.spec, max(3, args.repeat // 3))
    print(f"\n### Where one analyze spends its time (in-process, median of {max(3, args.repeat // 3)})\n")
    rest = median(times[analyze_key]) - sum(split)
    print(table(["phase", "ms"], [[name, ms(value)] for name, value in zip(_PHASE_NAMES, split, strict=True)]
                + [["**sum**", ms(sum(split))],
                   ["rest of the end-to-end median: interpreter start-up (incl. site), `-m` lookup, "
                    "teardown at exit", ms(rest)]]))

    if args.top:
        print(f"\n### `python -X importtime` — top {args.top} imports by cumulative time\n")
        top = sorted(imported, key=lambda row: -row[1])[:args.top]
        print(table(["module", "depth", "self ms", "cumulative ms"],
                    [[f"`{name}`", depth, f"{own / 1000:.1f}", f"{cum / 1000:.1f}"]
                     for own, cum, depth, name in top]))
        print(f"\nTop {args.top} by self time:\n")
        top = sorted(imported, key=lambda row: -row[0])[:args.top]
        print(table(["module", "self ms", "cumulative ms"],
                    [[f"`{name}`", f"{own / 1000:.1f}", f"{cum / 1000:.1f}"] for own, cum, _, name in top]))
        print("\n(-X importtime adds its own overhead; use it for proportions, the table above for time.)")


if __name__ == "__main__":
    main()
