"""An imported PyTorch model analysed by cnncalc against torchinfo on the same model (issue 10).

The model is a torchvision-style ResNet-50 written in plain torch.nn (a file this script writes;
torchvision itself is not needed). At each input size (224², 1024², 4096²), each a fresh process:

- ``cnncalc import model.py:resnet50 --input 3,S,S -o spec.yaml``: the one-time import (torch.fx
  trace, shapes on the meta device);
- ``cnncalc analyze spec.yaml``: the imported spec analysed, torch not imported;
- ``cnncalc analyze model.py:resnet50 --input 3,S,S``: import and analysis in one command;
- torchinfo: import torch, torchinfo and the model file, ``torchinfo.summary(model,
  input_size=(1, 3, S, S))`` (a forward pass).

Time (median, wall clock) and peak memory (the child's maximum resident set, ``os.wait4``) of
each; the parameter totals are checked equal. torchinfo lives in its own virtual environment,
as in ``torchinfo_compare.py``.

    python benchmarks/importing.py [--sides 224 1024 4096] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from _bench import machine, median, parse, table
from branching import run_measured
from torchinfo_compare import DEFAULT_VENV, ensure_venv

MODEL = r'''
import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, cin, c, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, c, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, 4 * c, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(4 * c)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != 4 * c:
            self.downsample = nn.Sequential(nn.Conv2d(cin, 4 * c, 1, stride, bias=False),
                                            nn.BatchNorm2d(4 * c))

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, repeats=(3, 4, 6, 3), num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(repeats):
            blocks = []
            for k in range(n):
                blocks.append(Bottleneck(cin, 64 * 2 ** i, 2 if i and k == 0 else 1))
                cin = 64 * 2 ** i * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet50():
    return ResNet()
'''

_TORCHINFO = r"""
import json, sys
import torch, torchinfo
sys.path.insert(0, FOLDER)
from resnet_model import resnet50
model = resnet50().eval()
stats = torchinfo.summary(model, input_size=(1, 3, SIDE, SIDE), verbose=0)
print(json.dumps({"params": stats.total_params, "versions": [torch.__version__, torchinfo.__version__]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[224, 1024, 4096])
    parser.add_argument("--repeat", type=int, default=3, help="rounds at ≤ 1024² (above: one) [%(default)s]")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV)
    args = parse(parser)
    python = ensure_venv(args.venv.resolve())
    rows, versions, lines = [], ["?", "?"], 0
    with tempfile.TemporaryDirectory(prefix="cnncalc-import-") as tmp:
        folder = Path(tmp)
        model = folder / "resnet_model.py"
        model.write_text(MODEL, encoding="utf-8")
        reference = f"{model}:resnet50"
        for side in args.sides:
            spec = folder / f"resnet50-{side}.yaml"
            shape = f"3,{side},{side}"
            cnncalc = [sys.executable, "-m", "cnncalc"]
            commands = {
                "import": [*cnncalc, "import", reference, "--input", shape, "-o", str(spec)],
                "analyze spec": [*cnncalc, "analyze", str(spec), "--format", "json"],
                "analyze model": [*cnncalc, "analyze", reference, "--input", shape, "--format", "json"],
                "torchinfo": [str(python), "-c", _TORCHINFO.replace("FOLDER", repr(tmp))
                              .replace("SIDE", str(side))],
            }
            rounds = args.repeat if side <= 1024 else 1
            print(f"{side}² × {rounds} ...", file=sys.stderr)
            measured: dict[str, list[tuple[float, int]]] = {name: [] for name in commands}
            outputs: dict[str, bytes] = {}
            for _ in range(rounds):  # interleaved: one of each per round
                for name, cmd in commands.items():
                    seconds, rss, out = run_measured(cmd)
                    measured[name].append((seconds, rss))
                    outputs[name] = out
            ours = json.loads(outputs["analyze spec"])["totals"]["parameters"]
            direct = json.loads(outputs["analyze model"])["totals"]["parameters"]
            theirs = json.loads(outputs["torchinfo"])
            versions = theirs["versions"]
            if not ours == direct == theirs["params"]:
                raise SystemExit(f"parameters differ at {side}²: {ours:,}, {direct:,}, {theirs['params']:,}")
            lines = len(spec.read_text(encoding="utf-8").splitlines())
            cells = [f"{side}×{side}", f"{ours:,}"]
            for name in commands:
                cells += [f"{median([t for t, _ in measured[name]]):.2f}",
                          f"{max(m for _, m in measured[name]) / 1024:,.0f}"]
            rows.append([*cells, rounds])
    print("## Imported ResNet-50 against torchinfo (`benchmarks/importing.py`, issue 10)\n")
    print(f"{machine()}\n")
    print(f"torch {versions[0]}, torchinfo {versions[1]}; batch 1; the imported spec is {lines} lines of "
          f"YAML. Each run a fresh process; s = median wall seconds, MiB = peak resident memory.\n")
    print(table(["input", "parameters (all equal)", "import s", "import MiB", "analyze spec s",
                 "analyze spec MiB", "analyze model s", "analyze model MiB", "torchinfo s", "torchinfo MiB",
                 "runs"], rows))


if __name__ == "__main__":
    main()
