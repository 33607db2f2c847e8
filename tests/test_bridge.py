"""The torch bridge on networks that branch: module paths equal the spec's names (torchvision's
state_dict keys come out exactly), the forward pass follows `from`, and chains keep their
Sequential."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from cnncalc.analysis.walk import analyze
from cnncalc.pytorch.bridge import NN_MODULE_ATTRIBUTES, build, module_names, module_paths
from cnncalc.spec.loader import load_spec

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]

# The bundled ResNet-18, on a smaller input so that the forward pass is quick.
RESNET18 = re.sub(r"(?m)^input: .*$", "input: [3, 64, 64]",
                  (Path(__file__).resolve().parent.parent / "architectures" / "resnet18.yaml").read_text())


# torchvision.models.resnet's BasicBlock and ResNet-18 (torchvision/models/resnet.py), cut to
# what ResNet-18 uses, as the reference for module names and for the computation.
class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = [(64, 64, 1), (64, 128, 2), (128, 256, 2), (256, 512, 2)]
        for k, (inplanes, planes, stride) in enumerate(widths, 1):
            setattr(self, f"layer{k}", nn.Sequential(BasicBlock(inplanes, planes, stride),
                                                     BasicBlock(planes, planes)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def randomised(model: nn.Module) -> nn.Module:
    """Batch norm statistics that are not the identity, so that a misplaced one shows."""
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    return model


def test_resnet18_has_torchvisions_state_dict_and_computes_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "resnet18.yaml"
    path.write_text(RESNET18, encoding="utf-8")
    spec = load_spec(path)
    built = build(spec).eval()
    reference = randomised(ResNet18()).eval()
    wanted = reference.state_dict()
    state = built.state_dict()
    assert sorted(state) == sorted(wanted)
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in wanted.items()}
    assert "layer2.0.downsample.0.weight" in state and "layer1.0.downsample.0.weight" not in state
    built.load_state_dict(wanted, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(built(x.clone()), reference(x.clone()))
    assert module_names(spec) == [row.name for row in analyze(spec).rows]  # no name needed changing


def test_a_chain_keeps_its_sequential_and_names() -> None:
    spec = load_spec("lenet5")
    model = build(spec)
    assert type(model) is nn.Sequential
    names = [name for name, _ in model.named_children()]
    assert names == module_names(spec) == [row.name for row in analyze(spec).rows]


def test_a_chain_named_by_module_paths_is_built_at_them() -> None:
    """torchvision's AlexNet is a chain, but its names are paths: features.0 is module 0 of
    features, so that the state_dict keys are torchvision's."""
    spec = load_spec("alexnet-torchvision")
    model = build(spec)
    assert type(model) is not nn.Sequential
    assert module_names(spec)[0] == "features.0"
    assert "features.0.conv2d.weight" in model.state_dict()  # activation: relu fused in, as always


def paths(names: list[str], reserved: set[str] | None = None) -> list[str]:
    return module_paths(names, (reserved or set()).__contains__)


def test_module_paths() -> None:
    assert paths(["a", "b.0", "b.1.c", "b.1.d"]) == ["a", "b.0", "b.1.c", "b.1.d"]
    # Reserved parts get a '_' each, wherever they stand; a path reached twice gets a number.
    assert paths(["forward.training", "forward.x", "x", "x"], {"forward", "training"}) == \
        ["forward_.training_", "forward_.x", "x", "x_2"]
    # A layer whose path also holds another layer: the container keeps the name.
    assert paths(["b", "b.1", "b_2"]) == ["b_2", "b.1", "b_2_2"]


def test_names_torch_forbids_are_changed_part_by_part() -> None:
    spec = load_spec({"input": [2, 6, 6], "blocks": {"blk": {"layers": [
        {"name": "training", "type": "conv2d", "out_channels": 2, "kernel_size": 1},
        {"name": "0", "type": "add", "from": ["input", "training"]}]}},
        "layers": [{"name": "forward", "block": "blk", "repeat": 2},
                   {"name": "b", "type": "relu"}, {"name": "b.1", "type": "relu", "from": "forward.0"}]})
    names = module_names(spec)
    assert names == ["forward_.0.training_", "forward_.0.0", "forward_.1.training_", "forward_.1.0", "b_2",
                     "b.1"]
    assert all(part not in NN_MODULE_ATTRIBUTES for name in names for part in name.split("."))
    model = build(spec)
    assert isinstance(model.get_submodule("forward_.1.training_"), nn.Conv2d)
    assert model.training is True and callable(model.forward)  # nothing was shadowed
    assert tuple(model(torch.randn(1, 2, 6, 6)).shape) == (1, 2, 6, 6)


def test_an_in_place_layer_does_not_change_what_another_reads() -> None:
    spec = load_spec({"input": [1, 4, 4], "layers": [
        {"name": "relu", "type": "relu", "inplace": True},
        {"name": "neg", "type": "leakyrelu", "negative_slope": -1.0, "from": "input"},
        {"name": "act", "type": "relu6", "inplace": True, "from": "neg"},
        {"name": "sum", "type": "add", "from": ["relu", "neg", "act"]}]})
    model = build(spec).eval()
    x = torch.randn(1, 1, 4, 4)
    kept = x.clone()
    with torch.no_grad():
        out = model(x)
    assert torch.equal(x, kept)  # the caller's input untouched
    neg = torch.where(kept > 0, kept, -kept)
    torch.testing.assert_close(out, kept.relu() + neg + neg.clamp(max=6))


@pytest.mark.parametrize("spec, shape", [
    ({"input": [2, 5, 5], "layers": [{"type": "relu", "when": False}]}, (2, 5, 5)),
    ({"input": [2, 5, 5], "layers": [{"type": "relu", "name": "r"}, {"type": "tanh", "from": "input"},
                                     {"type": "concat", "from": ["r", "input"]}]}, (4, 5, 5)),
])
def test_the_graphs_output_is_returned(spec: dict[str, Any], shape: tuple[int, ...]) -> None:
    x = torch.randn(3, 2, 5, 5)
    with torch.no_grad():
        assert tuple(build(load_spec(spec))(x).shape[1:]) == shape


def test_merges_compute_what_the_contract_says() -> None:
    spec = load_spec({"input": [2, 7, 6], "layers": [
        {"name": "small", "type": "maxpool2d", "kernel_size": 2},
        {"name": "crop", "type": "centercrop", "from": ["input", "small"]},
        {"name": "gate", "type": "globalavgpool", "from": "input"},
        {"name": "prod", "type": "mul", "from": ["gate", "crop"]},
        {"name": "cat", "type": "concat", "from": ["prod", "small", "crop"]}]})
    x = torch.randn(1, 2, 7, 6)
    with torch.no_grad():
        out = build(spec)(x)
    crop = x[..., 2:5, 1:4]  # 7×6 to 3×3: top (7 − 3) // 2 = 2, left (6 − 3) // 2 = 1
    prod = x.mean(dim=(2, 3), keepdim=True) * crop
    torch.testing.assert_close(out, torch.cat([prod, nn.functional.max_pool2d(x, 2), crop], dim=1))
