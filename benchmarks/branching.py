"""Networks that branch (issue 8, "Speed"): cold start on ResNet-50, a 20,000-layer residual
stack, and torchinfo side by side on ResNets at 224², 1024² and 4096².

Three parts, each printed as a Markdown table with its target, met or not:

- ``cold``: ``cnncalc analyze SPEC --format json`` against ``python -c "import torch"``, fresh
  processes, interleaved, medians; target ratio ≤ 0.15 (aim 0.10). SPEC is ``--spec``, by
  default ``architectures/resnet50.yaml``, or, where that is not bundled, a ResNet-50 written
  with blocks into a temporary folder (torchvision's, 25,557,032 parameters).
- ``deep``: a residual stack written with a block and ``repeat`` (conv · batchnorm · relu ·
  conv · add, the add reading the block's input), expanded to 1,000 … 20,000 layers; the CLI
  end to end, JSON; target: 20,000 layers in under 2 s, the marginal cost per layer flat
  (largest ÷ smallest ≤ 1.25).
- ``torchinfo``: ResNet-18 and ResNet-50 at 224², 1024² and 4096²: ``cnncalc analyze`` against
  a process that imports torch and torchinfo, builds the network (a torch ResNet written out in
  this script, as torchvision's, since ``cnncalc.build`` may not build graphs yet: it is used
  when it can) and runs ``torchinfo.summary`` (a forward pass): time and peak memory (the
  child's maximum resident set, from ``os.wait4``) of each. torchinfo lives in its own virtual
  environment, as in ``torchinfo_compare.py``.

    python benchmarks/branching.py [--parts cold deep torchinfo] [--repeat 5] [--spec PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _bench import (
    ARCHITECTURES,
    CHILD_ENV,
    ROOT,
    bytecode_note,
    interleaved,
    machine,
    median,
    ms,
    parse,
    run_timed,
    table,
)
from torchinfo_compare import DEFAULT_VENV, ensure_venv

COLD_TARGET, COLD_AIM = 0.15, 0.10
DEEP_SECONDS = 2.0
FLAT = 1.25

BASIC = """\
  basic:
    params: {c: 64, stride: 1}
    layers:
      - {name: conv1, type: conv2d, out_channels: $c, kernel_size: 3, stride: $stride, padding: 1,
         bias: false}
      - {name: bn1, type: batchnorm2d}
      - {name: relu, type: relu}
      - {name: conv2, type: conv2d, out_channels: $c, kernel_size: 3, padding: 1, bias: false}
      - {name: bn2, type: batchnorm2d}
      - {name: downsample.0, type: conv2d, from: input, out_channels: $c, kernel_size: 1, stride: $stride,
         bias: false, when: "${stride != 1 or in_channels != c}"}
      - {name: downsample.1, type: batchnorm2d, when: "${stride != 1 or in_channels != c}"}
      - {name: add, type: add, from: [bn2, downsample.1]}
      - {name: relu2, type: relu}
"""
BOTTLENECK = """\
  bottleneck:
    params: {c: 64, stride: 1}
    layers:
      - {name: conv1, type: conv2d, out_channels: $c, kernel_size: 1, bias: false}
      - {name: bn1, type: batchnorm2d}
      - {name: relu, type: relu}
      - {name: conv2, type: conv2d, out_channels: $c, kernel_size: 3, stride: $stride, padding: 1,
         bias: false}
      - {name: bn2, type: batchnorm2d}
      - {name: relu2, type: relu}
      - {name: conv3, type: conv2d, out_channels: "${4 * c}", kernel_size: 1, bias: false}
      - {name: bn3, type: batchnorm2d}
      - {name: downsample.0, type: conv2d, from: input, out_channels: "${4 * c}", kernel_size: 1,
         stride: $stride, bias: false, when: "${stride != 1 or in_channels != 4 * c}"}
      - {name: downsample.1, type: batchnorm2d, when: "${stride != 1 or in_channels != 4 * c}"}
      - {name: add, type: add, from: [bn3, downsample.1]}
      - {name: relu3, type: relu}
"""
RESNETS = {  # name: (block, repeats, published parameters)
    "resnet18": ("basic", (2, 2, 2, 2), 11_689_512),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 25_557_032),
}


def resnet_spec(name: str, side: int) -> str:
    """ResNet-18 or -50 in the contract's syntax (torchvision's module names)."""
    block, repeats, params = RESNETS[name]
    stages = "\n".join(
        f"  - {{name: layer{i + 1}, block: {block}, repeat: {n}, c: {64 * 2 ** i}"
        + (", first: {stride: 2}}" if i else "}") for i, n in enumerate(repeats))
    return (f"name: {name}\ndescription: He et al. 2016, as torchvision builds it ({params:,} parameters)\n"
            f"input: [3, {side}, {side}]\nblocks:\n{BASIC if block == 'basic' else BOTTLENECK}layers:\n"
            "  - {name: conv1, type: conv2d, out_channels: 64, kernel_size: 7, stride: 2, padding: 3,"
            " bias: false}\n"
            "  - {name: bn1, type: batchnorm2d}\n  - {name: relu, type: relu}\n"
            "  - {name: maxpool, type: maxpool2d, kernel_size: 3, stride: 2, padding: 1}\n"
            f"{stages}\n"
            "  - {name: avgpool, type: adaptiveavgpool2d, output_size: 1}\n  - {type: flatten}\n"
            "  - {name: fc, type: linear, out_features: 1000}\n")


def deep_spec(layers: int) -> str:
    """A residual stack of ``layers`` layers after expansion (5 per block instance)."""
    assert layers % 5 == 0, layers
    return f"""name: residual-stack-{layers}
input: [16, 32, 32]
blocks:
  res:
    layers:
      - {{name: conv1, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}}
      - {{name: bn1, type: batchnorm2d}}
      - {{name: relu, type: relu}}
      - {{name: conv2, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}}
      - {{name: add, type: add, from: [conv2, input]}}
layers:
  - {{name: body, block: res, repeat: {layers // 5}}}
"""


def analyze_cmd(path: Path) -> list[str]:
    return [sys.executable, "-m", "cnncalc", "analyze", str(path), "--format", "json"]


def checked(path: Path, layers: int | None = None, parameters: int | None = None) -> dict[str, object]:
    """One untimed run; the report must have the layers and parameters expected."""
    _, done = run_timed(analyze_cmd(path), capture=True)
    report = json.loads(done.stdout)
    if layers is not None:
        assert len(report["layers"]) == layers, (path, len(report["layers"]))
    if parameters is not None:
        assert report["totals"]["parameters"] == parameters, (path, report["totals"]["parameters"])
    return report  # type: ignore[no-any-return]


# --- cold start -------------------------------------------------------------------------------

def cold(folder: Path, spec: Path | None, repeat: int, warmup: int) -> None:
    if spec is None:
        bundled = ARCHITECTURES / "resnet50.yaml"
        spec = bundled if bundled.exists() else folder / "resnet50.yaml"
        if not bundled.exists():
            spec.write_text(resnet_spec("resnet50", 224), encoding="utf-8")
    report = checked(spec)
    commands = {"cnncalc analyze": analyze_cmd(spec), "import torch": [sys.executable, "-c", "import torch"]}
    print(f"cold: {repeat} interleaved rounds ...", file=sys.stderr)
    times = interleaved(commands, repeat, warmup, progress=False)
    ours, torch_time = median(times["cnncalc analyze"]), median(times["import torch"])
    ratio = ours / torch_time
    where = spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else f"{spec.name} (written by this script)"
    print(f"### Cold start: `cnncalc analyze {where} --format json` ({len(report['layers'])} rows)\n")  # type: ignore[arg-type]
    print(table(["command", "median ms", "min ms", "max ms"],
                [[name, ms(median(v)), ms(min(v)), ms(max(v))] for name, v in times.items()]))
    verdict = "met" if ratio <= COLD_TARGET else "MISSED"
    aim = "reached" if ratio <= COLD_AIM else "not reached"
    print(f"\n- **ratio {ratio:.3f}** (target ≤ {COLD_TARGET}: {verdict}; aim {COLD_AIM}: {aim})\n")


# --- the deep residual stack ------------------------------------------------------------------

def deep(folder: Path, sizes: Sequence[int], repeat: int, warmup: int) -> None:
    base = 5
    paths = {}
    for layers in [base, *sizes]:
        path = folder / f"stack-{layers}.yaml"
        path.write_text(deep_spec(layers), encoding="utf-8")
        checked(path, layers=layers)
        paths[layers] = path
    print(f"deep: {len(paths)} specs, {repeat} interleaved rounds ...", file=sys.stderr)
    times = interleaved({str(n): analyze_cmd(p) for n, p in paths.items()}, repeat, warmup, progress=False)
    t_base = median(times[str(base)])
    rows, marginal = [], {}
    for layers in [base, *sizes]:
        values = times[str(layers)]
        per = "—"
        if layers != base:
            marginal[layers] = (median(values) - t_base) / (layers - base)
            per = f"{marginal[layers] * 1e6:.1f}"
        rows.append([f"{layers:,}", f"{median(values):.3f}", f"{min(values):.3f}", f"{max(values):.3f}", per])
    print("### A residual stack written with a block and repeat, `--format json`, end to end\n")
    print(table(["layers after expansion", "median s", "min s", "max s",
                 f"µs per layer (− {base}-layer run)"], rows))
    biggest = max(sizes)
    spread = max(marginal.values()) / min(marginal.values())
    big = median(times[str(biggest)])
    print(f"\n- **{biggest:,} layers: {big:.2f} s** (target < {DEEP_SECONDS:.0f} s: "
          f"{'met' if big < DEEP_SECONDS else 'MISSED'})")
    print(f"- **cost per layer** {min(marginal.values()) * 1e6:.1f}–{max(marginal.values()) * 1e6:.1f} µs "
          f"(largest ÷ smallest {spread:.2f}; flat: ≤ {FLAT}: {'met' if spread <= FLAT else 'MISSED'})\n")


# --- torchinfo side by side -------------------------------------------------------------------

# Runs under the torchinfo venv's interpreter: a torchvision-style ResNet written out (or
# cnncalc's build where it can build graphs), then torchinfo.summary: one forward pass.
_TORCHINFO = r"""
import json, time
t0 = time.perf_counter()
import torch, torchinfo
from torch import nn
t1 = time.perf_counter()
BLOCK, REPEATS, SIDE, SPEC = ARGS

class Basic(nn.Module):
    expansion = 1
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(c, c, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(c)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
                           if stride != 1 or cin != c else None)
    def forward(self, x):
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))

class Bottleneck(nn.Module):
    expansion = 4
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False); self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, 4 * c, 1, bias=False); self.bn3 = nn.BatchNorm2d(4 * c)
        self.relu = nn.ReLU()
        self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False), nn.BatchNorm2d(4 * c))
                           if stride != 1 or cin != 4 * c else None)
    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))

class ResNet(nn.Module):
    def __init__(self, block, repeats):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False); self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(); self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(repeats):
            layers = []
            for k in range(n):
                layers.append(block(cin, 64 * 2 ** i, 2 if i and k == 0 else 1))
                cin = 64 * 2 ** i * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(cin, 1000)
    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))

built_by = "written out"
try:
    import cnncalc
    from cnncalc.pytorch.bridge import build
    model = build(cnncalc.load_spec(SPEC))
    built_by = "cnncalc.build"
except NotImplementedError:
    model = ResNet(Basic if BLOCK == "basic" else Bottleneck, REPEATS)
model.eval()
t2 = time.perf_counter()
stats = torchinfo.summary(model, input_size=(1, 3, SIDE, SIDE), verbose=0)
t3 = time.perf_counter()
print(json.dumps({"params": stats.total_params, "macs": stats.total_mult_adds, "built_by": built_by,
                  "phases": [t1 - t0, t2 - t1, t3 - t2],
                  "versions": [torch.__version__, getattr(torchinfo, "__version__", "?")]}))
"""


def run_measured(cmd: Sequence[str]) -> tuple[float, int, bytes]:
    """Wall time, peak resident memory (KiB, the child's ru_maxrss) and stdout of one fresh process."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen(list(cmd), cwd=ROOT, stdout=out, stderr=subprocess.PIPE, env=CHILD_ENV)
        assert child.stderr is not None
        error = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            raise SystemExit(f"failed ({child.returncode}): {' '.join(cmd)[:300]}\n{error.decode()[-2000:]}")
        out.seek(0)
        return elapsed, usage.ru_maxrss, out.read()


def torchinfo_side_by_side(folder: Path, venv: Path, nets: Sequence[str], sides: Sequence[int],
                           repeat: int) -> None:
    python = ensure_venv(venv.resolve())
    rows, checks, versions = [], [], None
    for name in nets:
        block, repeats, published = RESNETS[name]
        for side in sides:
            spec = folder / f"{name}-{side}.yaml"
            spec.write_text(resnet_spec(name, side), encoding="utf-8")
            report = checked(spec, parameters=published)
            ours_cmd = analyze_cmd(spec)
            code = _TORCHINFO.replace("ARGS", repr((block, repeats, side, str(spec))))
            theirs_cmd = [str(python), "-c", code]
            rounds = repeat if side <= 1024 else 1
            print(f"torchinfo: {name} at {side}² × {rounds} ...", file=sys.stderr)
            ours, theirs, result = [], [], {}
            for _ in range(rounds):  # interleaved: one of each per round
                ours.append(run_measured(ours_cmd)[:2])
                seconds, rss, out = run_measured(theirs_cmd)
                theirs.append((seconds, rss))
                result = json.loads(out)
            versions = result["versions"]
            totals = report["totals"]  # type: ignore[index]
            checks.append([name, f"{side}²", f"{totals['parameters']:,}", f"{result['params']:,}",  # type: ignore[index]
                           f"{totals['macs']:,}", f"{result['macs']:,}", result["built_by"]])  # type: ignore[index]
            t_ours, t_theirs = median([t for t, _ in ours]), median([t for t, _ in theirs])
            m_ours, m_theirs = max(m for _, m in ours), max(m for _, m in theirs)
            rows.append([name, f"{side}×{side}", f"{t_ours:.2f}", f"{m_ours / 1024:.0f}", f"{t_theirs:.2f}",
                         f"{m_theirs / 1024:,.0f}", f"{t_theirs / t_ours:.0f}×", rounds])
    print(f"### torchinfo side by side (torch {versions[0]}, torchinfo {versions[1]}; batch 1)\n")  # type: ignore[index]
    print(table(["network", "input", "cnncalc s", "cnncalc peak MiB", "torchinfo s", "torchinfo peak MiB",
                 "torchinfo ÷ cnncalc", "runs"], rows))
    print("\nTotals (parameters equal; torchinfo's mult-adds also count each BatchNorm parameter once):\n")
    print(table(["network", "input", "parameters (cnncalc)", "total_params (torchinfo)", "MACs (cnncalc)",
                 "total_mult_adds (torchinfo)", "torch model"], checks))
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=["cold", "deep", "torchinfo"],
                        default=["cold", "deep", "torchinfo"])
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds [%(default)s]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds first [%(default)s]")
    parser.add_argument("--spec", type=Path, default=None,
                        help="cold start spec [architectures/resnet50.yaml, else one written here]")
    parser.add_argument("--layers", type=int, nargs="+", default=[1000, 2000, 5000, 10000, 20000],
                        help="sizes of the residual stack (multiples of 5) [%(default)s]")
    parser.add_argument("--nets", nargs="+", choices=sorted(RESNETS), default=sorted(RESNETS))
    parser.add_argument("--sides", type=int, nargs="+", default=[224, 1024, 4096],
                        help="input sizes for torchinfo (above 1024: one run) [%(default)s]")
    parser.add_argument("--torchinfo-repeat", type=int, default=3, help="rounds at ≤ 1024² [%(default)s]")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parse(parser)
    with tempfile.TemporaryDirectory(prefix="cnncalc-bench-") as tmp:
        folder = Path(tmp)
        print("## Networks that branch (`benchmarks/branching.py`)\n")
        if "cold" in args.parts:
            cold(folder, args.spec.resolve() if args.spec else None, args.repeat, args.warmup)
        if "deep" in args.parts:
            deep(folder, args.layers, args.repeat, args.warmup)
        if "torchinfo" in args.parts:
            torchinfo_side_by_side(folder, args.venv, args.nets, args.sides, args.torchinfo_repeat)
        print(f"{machine()}\n\n{bytecode_note()}")


if __name__ == "__main__":
    main()
