"""`cnncalc verify`'s timing against `torch.utils.benchmark.Timer` on the same model.

For each bundled architecture (or those given), in one process: build the model once with
cnncalc's bridge, then alternately time its forward pass with `cnncalc.pytorch.verification.verify`'s timer
(the median of `--runs` runs after `--warmup`) and with `torch.utils.benchmark.Timer`
(`blocked_autorange`, its median), under `torch.inference_mode()` in eval mode, on the same
input and thread count. The goal: verify's median within 5 % of the Timer's.

    python benchmarks/verify_timer.py                     # every bundled architecture, CPU
    python benchmarks/verify_timer.py --device cuda --dtype bfloat16 --batch 64
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

import torch
import torch.utils.benchmark as tbench
from _bench import ARCHITECTURES, machine, table

from cnncalc import analyze, load_spec
from cnncalc.pytorch.bridge import build
from cnncalc.pytorch.verification import _time  # the very timer verify uses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specs", nargs="*", type=Path, default=sorted(ARCHITECTURES.glob("*.yaml")))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--runs", type=int, default=30, help="verify's timed runs per round")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the two timers")
    parser.add_argument("--min-run-time", type=float, default=1.0, help="Timer.blocked_autorange, seconds")
    args = parser.parse_args()

    device = torch.device(args.device)
    rows = []
    for path in args.specs:
        spec = load_spec(path)
        report = analyze(spec)
        model: Any = build(spec).to(device=device, dtype=getattr(torch, args.dtype)).eval()
        x = torch.randn(args.batch, *report.input_shape, device=device, dtype=getattr(torch, args.dtype))
        flops = 2 * report.totals.macs * args.batch
        ours, theirs = [], []
        with torch.inference_mode():
            # Round 0 is discarded: the first runs of a new model pay one-time costs (oneDNN
            # primitive creation, allocator growth) that neither timer should see.
            for round_ in range(args.rounds + 1):
                timing = _time(torch, device, lambda m=model, i=x: m(i), args.runs, args.warmup, args.batch,
                               flops, None)
                ours.append(timing.median_ms)
                timer = tbench.Timer(stmt="model(x)", globals={"model": model, "x": x},
                                     num_threads=torch.get_num_threads())
                measurement = timer.blocked_autorange(min_run_time=args.min_run_time)
                theirs.append(measurement.median * 1000)
                if round_ == 0:
                    ours.pop()
                    theirs.pop()
        mine, reference = statistics.median(ours), statistics.median(theirs)
        difference = (mine - reference) / reference
        rows.append([path.stem, f"{mine:.3f}", f"{reference:.3f}", f"{100 * difference:+.1f}%",
                     "yes" if abs(difference) <= 0.05 else "no"])
        print(f"{path.stem}: verify {mine:.3f} ms, Timer {reference:.3f} ms", file=sys.stderr)

    print(f"\n{machine()}; device {args.device}, {args.dtype}, batch {args.batch}, "
          f"{torch.get_num_threads()} threads; {args.rounds} alternating rounds, medians\n")
    print(table(["architecture", "verify median ms", "Timer median ms", "difference", "within 5 %"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
