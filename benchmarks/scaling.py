"""Scaling: time of `cnncalc analyze --format json` against the number of layers and the input size.

Specs are generated at run time into a temporary folder (never committed): a
repeating, always valid block of four layers that keeps the feature map's size,

    conv2d 16 filters 3x3 padding 1 · batchnorm2d · relu · maxpool2d 3x3 stride 1 padding 1

cut to the requested number of layers. Every run is the real CLI in a fresh
process, end to end; the cases run interleaved and the table shows medians.

Targets (issue): 10,000 layers in at most 3 s; the cost per layer flat from 1,000
to 10,000 layers; a 65536x65536 input costs no more than a 64x64 one.

    python benchmarks/scaling.py [--repeat 5] [--layers 1000 2000 5000 10000]
    python benchmarks/scaling.py --phases --profile 10000   # where the time goes
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _bench import (
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

BLOCK = [
    "{type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}",
    "{type: batchnorm2d}",
    "{type: relu}",
    "{type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}",
]
CHANNELS = 16
MAX_SECONDS = 3.0
FLAT = 1.25  # "flat": the largest marginal cost per layer at most 1.25x the smallest
SIZE_SLACK = 1.05  # "no more": the large input within 5 % (run-to-run noise) of the small one


def write_spec(folder: Path, layers: int, size: int) -> Path:
    lines = [f"name: generated-{layers}-layers-{size}px",
             f"input: {{channels: {CHANNELS}, height: {size}, width: {size}}}",
             "layers:"]
    lines += [f"  - {BLOCK[i % len(BLOCK)]}" for i in range(layers)]
    path = folder / f"gen-{layers}-{size}.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def verify(path: Path, layers: int, size: int) -> None:
    """One untimed run: the report must have every layer and keep the size."""
    _, done = run_timed([sys.executable, "-m", "cnncalc", "analyze", str(path), "--format", "json"],
                        capture=True)
    report = json.loads(done.stdout)
    assert len(report["layers"]) == layers, (path, len(report["layers"]))
    assert report["output_shape"] == [CHANNELS, size, size], report["output_shape"]


_PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
from cnncalc.spec.loader import read_yaml, spec_from_data
from cnncalc.analysis.walk import analyze
from pathlib import Path
t.append(time.perf_counter())
data, root = read_yaml(Path(PATH))
t.append(time.perf_counter())
spec = spec_from_data(data, root, source=PATH)
t.append(time.perf_counter())
report = analyze(spec)
t.append(time.perf_counter())
text = report.render("json")
t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""
_PHASE_NAMES = ["imports", "read_yaml (read + YAML parse)", "spec_from_data (validate)", "analyze",
                "render json"]

_PROFILE = r"""
import cProfile, io, pstats
from pathlib import Path
from cnncalc.spec.loader import load_spec
from cnncalc.analysis.walk import analyze
profile = cProfile.Profile()
profile.enable()
text = analyze(load_spec(Path(PATH))).render("json")
profile.disable()
for key in ("tottime", "cumulative"):
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(key).print_stats(TOP)
    print(out.getvalue())
"""


def phases(path: Path, repeat: int) -> list[float]:
    code = _PHASES.replace("PATH", repr(str(path)))
    runs = [json.loads(run_child([sys.executable, "-c", code])) for _ in range(repeat)]
    return [median(column) for column in zip(*runs, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds [%(default)s]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first [%(default)s]")
    parser.add_argument("--layers", type=int, nargs="+", default=[1000, 2000, 5000, 10000],
                        help="layer counts at a 64x64 input [%(default)s]")
    parser.add_argument("--base-layers", type=int, default=4,
                        help="the small spec whose time is the fixed cost (start-up) [%(default)s]")
    parser.add_argument("--size-layers", type=int, default=1000,
                        help="layers of the 64x64 vs 65536x65536 comparison [%(default)s]")
    parser.add_argument("--sizes", type=int, nargs=2, default=[64, 65536], metavar=("SMALL", "LARGE"),
                        help="input sizes compared [%(default)s]")
    parser.add_argument("--phases", action="store_true",
                        help="also split each case in-process: imports, YAML, validation, analyze, json")
    parser.add_argument("--profile", type=int, metavar="LAYERS", default=0,
                        help="also print a cProfile of load+analyze+render of a spec this long")
    parser.add_argument("--top", type=int, default=15, help="rows of the profile [%(default)s]")
    args = parse(parser)

    small, large = args.sizes
    with tempfile.TemporaryDirectory(prefix="cnncalc-bench-") as tmp:
        folder = Path(tmp)
        cases: dict[str, tuple[Path, int, int]] = {}
        for layers in [args.base_layers, *args.layers]:
            cases[f"{layers}@{small}"] = (write_spec(folder, layers, small), layers, small)
        cases[f"{args.size_layers}@{large}"] = (write_spec(folder, args.size_layers, large),
                                                args.size_layers, large)
        cases.setdefault(f"{args.size_layers}@{small}",
                         (write_spec(folder, args.size_layers, small), args.size_layers, small))
        for path, layers, size in cases.values():
            verify(path, layers, size)

        commands = {key: [sys.executable, "-m", "cnncalc", "analyze", str(path), "--format", "json"]
                    for key, (path, _, _) in cases.items()}
        print(f"Timing {len(commands)} specs, {args.repeat} interleaved rounds ...", file=sys.stderr)
        times = interleaved(commands, args.repeat, args.warmup)
        split = ({key: phases(path, max(3, args.repeat)) for key, (path, _, _) in cases.items()}
                 if args.phases else {})

        print("## Scaling: `python -m cnncalc analyze GENERATED.yaml --format json`\n")
        print(f"{machine()}\n")
        print(f"{args.repeat} interleaved rounds (after {args.warmup} discarded); each run a fresh "
              f"process, end to end. Block: {' · '.join(BLOCK)}; input {CHANNELS} channels. "
              f"{bytecode_note()}\n")

        base = median(times[f"{args.base_layers}@{small}"])
        rows, marginal = [], {}
        for layers in [args.base_layers, *args.layers]:
            values = times[f"{layers}@{small}"]
            total = median(values)
            per = "—"
            if layers != args.base_layers:
                marginal[layers] = (total - base) / (layers - args.base_layers)
                per = f"{marginal[layers] * 1e6:.1f}"
            rows.append([f"{layers:,}", f"{small}×{small}", f"{total:.3f}", f"{min(values):.3f}",
                         f"{max(values):.3f}", f"{total / layers * 1e6:.1f}", per])
        print(table(["layers", "input", "median s", "min s", "max s", "µs per layer (total ÷ layers)",
                     f"µs per layer (marginal: − {args.base_layers}-layer time)"], rows))

        biggest = max(args.layers)
        big_time = median(times[f"{biggest}@{small}"])
        spread = max(marginal.values()) / min(marginal.values())
        print(f"\n- **{biggest:,} layers end to end:** {big_time:.2f} s — target ≤ {MAX_SECONDS:.0f} s: "
              f"{'met' if big_time <= MAX_SECONDS else 'MISSED'}.")
        print(f"- **Cost per layer {min(args.layers):,}–{biggest:,}:** marginal µs/layer from "
              f"{min(marginal.values()) * 1e6:.1f} to {max(marginal.values()) * 1e6:.1f} "
              f"(max ÷ min = {spread:.2f}; flat means ≤ {FLAT}): {'met' if spread <= FLAT else 'MISSED'}.")

        t_small = median(times[f"{args.size_layers}@{small}"])
        t_large = median(times[f"{args.size_layers}@{large}"])
        print(f"- **Input size ({args.size_layers:,} layers):** {small}×{small}: {t_small:.3f} s, "
              f"{large}×{large}: {t_large:.3f} s (ratio {t_large / t_small:.3f}; no more means "
              f"≤ {SIZE_SLACK} for noise): {'met' if t_large <= SIZE_SLACK * t_small else 'MISSED'}.")

        if split:
            print(f"\n### In-process split (median of {max(3, args.repeat)} fresh processes, ms)\n")
            print(table(["case", *_PHASE_NAMES, "sum"],
                        [[key.replace("@", " layers @ "), *(ms(v) for v in values), ms(sum(values))]
                         for key, values in split.items()]))

        if args.profile:
            path = write_spec(folder, args.profile, small)
            code = _PROFILE.replace("PATH", repr(str(path))).replace("TOP", str(args.top))
            profile = run_child([sys.executable, "-c", code])
            print(f"\n### cProfile: load + analyze + render json, {args.profile:,} layers\n")
            print("```\n" + profile.strip() + "\n```")


if __name__ == "__main__":
    main()
