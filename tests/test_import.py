"""Import: a torch model traced into a spec. Round trips on models written in plain torch.nn: the
spec's analysis gives torch's parameter count and every layer's output shape, and cnncalc's own
build of the spec loads the model's state_dict with strict=True and computes the same outputs."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
import torchvision_reference as tv
import yaml
from click.testing import CliRunner
from torch import Tensor, nn

import cnncalc
from cnncalc.cli import cli
from cnncalc.pytorch.importer import ImportProblem, from_module
from cnncalc.spec.writer import spec_yaml

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


class FunctionalNet(nn.Module):
    """Functional operations only where a module could have been: F.relu, F.max_pool2d,
    torch.cat, a sigmoid gate by x * g, x.view(x.size(0), -1) and torch.flatten."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.gate = nn.Conv2d(16, 16, 1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 5)

    def forward(self, x: Tensor) -> Tensor:
        a = F.max_pool2d(F.relu(self.conv1(x)), 2)
        b = torch.relu(self.conv2(a))
        x = torch.cat([a, b], dim=1)
        x = x * torch.sigmoid(self.gate(F.adaptive_avg_pool2d(x, 1)))
        x = F.avg_pool2d(x, kernel_size=2)
        x = F.relu(self.fc1(x.view(x.size(0), -1)))
        return F.log_softmax(self.fc2(torch.flatten(x, 1)), dim=1)


class PaddedUNet(nn.Module):
    """A U-Net with 'same' convolutions: transposed convolutions up, skips joined by torch.cat."""

    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, c, 3, padding=1), nn.ReLU(inplace=True))
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(2)
        self.bottom = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.BatchNorm2d(4 * c), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec1 = nn.Sequential(nn.Conv2d(2 * c, c, 3, padding=1), nn.ReLU())
        self.out = nn.Conv2d(c, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        x = self.bottom(self.pool(e2))
        x = self.dec2(torch.cat([e2, self.up2(x)], 1))
        x = self.dec1(torch.cat([e1, self.up1(x)], 1))
        return self.out(x)


class LayerScaled(nn.Module):
    """Parameters the forward reads itself (fx get_attr): a learned position map added after the
    stem, a layer scale in each residual block, and x.mean((2, 3)) for the pooling."""

    class Block(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.gamma = nn.Parameter(torch.rand(c, 1, 1))

        def forward(self, x: Tensor) -> Tensor:
            return x + torch.relu(self.conv(x)) * self.gamma

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.pos = nn.Parameter(torch.randn(1, 8, 16, 16))
        self.blocks = nn.Sequential(*[self.Block(8) for _ in range(3)])
        self.fc = nn.Linear(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.blocks(self.stem(x) + self.pos)
        return self.fc(x.mean((2, 3)))


def center_crop(x: Tensor, like: Tensor) -> Tensor:
    """The original U-Net's crop, as implementations write it: a slice computed from sizes."""
    _, _, h, w = x.size()
    th, tw = like.size()[2:]
    dy, dx = (h - th) // 2, (w - tw) // 2
    return x[:, :, dy:dy + th, dx:dx + tw]


class OriginalUNet(nn.Module):
    """Ronneberger et al.'s shape: unpadded convolutions, so each skip is cropped to the
    up-convolution's size before the concatenation; and one skip padded up instead with F.pad."""

    def __init__(self, c: int = 4) -> None:
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(1, c, 3), nn.ReLU(), nn.Conv2d(c, c, 3), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3), nn.ReLU(), nn.Conv2d(2 * c, 2 * c, 3), nn.ReLU())
        self.pool = nn.MaxPool2d(2)
        self.bottom = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3), nn.ReLU())
        self.up2 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec2 = nn.Sequential(nn.Conv2d(4 * c, 2 * c, 3), nn.ReLU())
        self.up1 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.out = nn.Conv2d(2 * c, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        x = self.up2(self.bottom(self.pool(e2)))
        x = self.dec2(torch.cat([center_crop(e2, x), x], 1))
        x = self.up1(x)
        dy, dx = e1.size(2) - x.size(2), e1.size(3) - x.size(3)
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])  # padded up to the skip instead
        return self.out(torch.cat([e1, x], 1))


MODELS: dict[str, tuple[Callable[[], nn.Module], tuple[int, int, int]]] = {
    "resnet-projection": (lambda: tv.ResNet(tv.BasicBlock, [1, 1, 1, 1], num_classes=10), (3, 64, 64)),
    "resnet50": (lambda: tv.ResNet(tv.Bottleneck, [3, 4, 6, 3]), (3, 64, 64)),
    "inception": (tv.GoogLeNet, (3, 64, 64)),
    "densenet": (lambda: tv.DenseNet(growth_rate=8, block_config=(2, 3), num_init_features=16), (3, 64, 64)),
    "mobilenet_v2": (tv.MobileNetV2, (3, 64, 64)),
    "efficientnet-se": (tv.EfficientNetB0, (3, 64, 64)),
    "unet": (PaddedUNet, (1, 32, 32)),
    "functional": (FunctionalNet, (3, 16, 16)),
    "layer-scale": (LayerScaled, (3, 16, 16)),
    "unet-cropped": (OriginalUNet, (1, 44, 44)),
}
FLAT = {"unet", "functional", "unet-cropped"}  # no submodule type used twice: no blocks


def _leaf_shapes(model: nn.Module, x: Tensor) -> dict[str, tuple[int, ...]]:
    """Each leaf module's output shape (its first call) from a real forward pass."""
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = []
    for path, module in model.named_modules():
        if path and not list(module.children()):
            def hook(m: nn.Module, args: Any, out: Tensor, path: str = path) -> None:
                shapes.setdefault(path, tuple(out.shape[1:]))
            hooks.append(module.register_forward_hook(hook))
    with torch.no_grad():
        model(x)
    for handle in hooks:
        handle.remove()
    return shapes


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip(name: str) -> None:
    make, shape = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    spec = cnncalc.from_module(model, shape)
    # A submodule type used more than once is a block (the folded spec is checked as the flat one).
    assert ("blocks" in spec) == (name not in FLAT), sorted(spec)
    report = cnncalc.analyze(yaml.safe_load(spec_yaml(spec)))  # survives YAML as it is written
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, *shape)
    rows = {row.name: row for row in report.rows}
    traced = _leaf_shapes(model, x)
    assert traced and set(traced) <= set(rows)  # every module is a row, under its own path
    for path, out in traced.items():
        assert tuple(rows[path].output_shape) == out, path
        module = model.get_submodule(path)
        assert rows[path].parameters == sum(p.numel() for p in module.parameters()), path
    with torch.no_grad():
        expected = model(x)
    assert tuple(report.output_shape) == tuple(expected.shape[1:])
    built = cnncalc.build(spec).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(built(x), expected, atol=1e-5, rtol=1e-4)


def test_functional_operations_are_layers_named_in_their_module() -> None:
    spec = from_module(tv.ResNet(tv.BasicBlock, [2, 2, 2, 2]), (3, 224, 224), blocks=False)
    layers = {layer["name"]: layer for layer in spec["layers"]}
    assert layers["layer1.0.add"] == {"name": "layer1.0.add", "type": "add",
                                      "from": ["layer1.0.bn2", "maxpool"]}
    assert layers["layer2.0.add"]["from"] == ["layer2.0.bn2", "layer2.0.downsample.1"]
    # The block's one ReLU module, called twice, is a layer per call.
    assert layers["layer1.0.relu"]["type"] == layers["layer1.0.relu_1"]["type"] == "relu"
    head = [layers[n]["type"] for n in ("avgpool", "flatten", "fc")]
    assert head == ["adaptiveavgpool2d", "flatten", "linear"]
    assert cnncalc.analyze(spec).totals.parameters == 11_689_512
    flat = from_module(FunctionalNet(), (3, 16, 16), blocks=False)
    functional = [layer["type"] for layer in flat["layers"]]
    assert functional == ["conv2d", "relu", "maxpool2d", "conv2d", "relu", "concat", "adaptiveavgpool2d",
                          "conv2d", "sigmoid", "mul", "avgpool2d", "flatten", "linear", "relu", "flatten",
                          "linear", "logsoftmax"]


def test_resnet_imports_as_a_block_with_repeat_as_written_by_hand() -> None:
    model = tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])
    spec = from_module(model, (3, 224, 224))
    text = spec_yaml(spec)
    assert len(text.splitlines()) < 40, text
    (block_name, block), = spec["blocks"].items()
    assert block["params"] == {"c": 64, "stride": 1, "downsample": False}
    layers = {layer["name"]: layer for layer in block["layers"]}
    assert layers["conv1"]["stride"] == layers["downsample.0"]["stride"] == "$stride"
    assert layers["downsample.1"]["when"] == "$downsample"
    calls = {layer["name"]: layer for layer in spec["layers"] if "block" in layer}
    assert calls["layer1"] == {"name": "layer1", "block": block_name, "repeat": 2}
    assert calls["layer2"] == {"name": "layer2", "block": block_name, "repeat": 2, "c": 128,
                               "first": {"stride": 2, "downsample": True}}
    # The rows are the module paths, as in the flat import: layer1 with repeat makes layer1.0.conv1.
    rows = [row.name for row in cnncalc.analyze(spec).rows]
    assert rows == [layer["name"] for layer in from_module(model, (3, 224, 224), blocks=False)["layers"]]
    assert "layer2.0.downsample.0" in rows and "layer2.1.downsample.0" not in rows
    assert cnncalc.analyze(spec).totals.parameters == 11_689_512


def test_analyze_takes_a_module_as_torchinfo_does() -> None:
    model = FunctionalNet()
    report = cnncalc.analyze(model, (3, 16, 16))
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    assert report.output_shape == (5,) or list(report.output_shape) == [5]
    with pytest.raises(TypeError):
        cnncalc.analyze(model)


class Custom(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return torch.sin(x)


class Shifted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.register_buffer("shift", torch.ones(4, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) + self.shift


class Shared(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.conv(x))


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        if x.sum() > 0:
            return x
        return -x


@pytest.mark.parametrize("model, words", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), Custom()), ["torch.sin", "1's forward", "test_import.py:"]),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 6, 6])), ["module 1 (LayerNorm)"]),
    (Shifted(), ["buffer", "shift"]),
    (Shared(), ["module conv", "called again"]),
    (nn.Sequential(nn.Conv2d(3, 4, 3), Branchy()), ["1's forward", "if x.sum() > 0:", "test_import.py:"]),
])
def test_what_cannot_be_mapped_is_named(model: nn.Module, words: list[str]) -> None:
    with pytest.raises(ImportProblem) as caught:
        from_module(model, (3, 8, 8))
    message = str(caught.value)
    for word in words:
        assert word in message, message


MODEL_FILE = '''
import torch
from torch import nn


class Tiny(nn.Module):
    def __init__(self, width=4, num_classes=3):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(torch.relu(self.conv(x)), 1), 1)
        return self.head(x)


def tiny(**kwargs):
    return Tiny(**kwargs)


class Loop(nn.Module):
    def forward(self, x):
        while x.mean() > 0:
            x = x - 1
        return x
'''


def test_cli_import_writes_a_spec_that_analyze_reads(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODEL_FILE)
    out = tmp_path / "tiny.yaml"
    runner = CliRunner()
    done = runner.invoke(cli, ["import", f"{tmp_path / 'models.py'}:tiny", "--input", "3,32,32",
                               "--args", "width=6", "--args", '{"num_classes": 7}', "-o", str(out)])
    assert done.exit_code == 0, done.output
    text = out.read_text()
    assert "  - {name: conv, type: conv2d, out_channels: 6, kernel_size: 3, padding: 1}\n" in text
    report = cnncalc.analyze(out)
    assert report.totals.parameters == 3 * 6 * 9 + 6 + 6 * 7 + 7
    direct = runner.invoke(cli, ["analyze", f"{tmp_path / 'models.py'}:Tiny", "--input", "3,32,32",
                                 "-f", "json"])
    assert direct.exit_code == 0, direct.output
    assert '"parameters": 127' in direct.output  # width 4, 3 classes: (3·9 + 1)·4 + (4 + 1)·3


@pytest.mark.parametrize("args, words", [
    (["import", "MODELS:Loop", "--input", "3,8,8"], ["models.py:23", "while x.mean() > 0:"]),
    (["import", "MODELS:Nope", "--input", "3,8,8"], ["no 'Nope'"]),
    (["import", "MODELS:Tiny", "--input", "3,8"], ["C,H,W"]),
    (["import", "MODELS:Tiny", "--input", "3,8,8", "--args", "depth=2"], ["depth"]),
    (["import", "no_such_package_xyz:Net", "--input", "3,8,8"], ["no such module"]),
])
def test_cli_import_errors_exit_2_in_one_line(args: list[str], words: list[str], tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODEL_FILE)
    args = [a.replace("MODELS", str(tmp_path / "models.py")) for a in args]
    done = CliRunner().invoke(cli, args)
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output
    for word in words:
        assert word in done.output, done.output


class SmallMobile(nn.Module):
    """ReLU6, SiLU written as x * sigmoid(x), a residual add and a flatten, for ONNX."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.act1 = nn.ReLU6()
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act1(self.conv1(x))
        y = self.conv2(x)
        x = x + y * torch.sigmoid(y)
        return self.fc(torch.flatten(self.pool(x), 1))


def _export(model: nn.Module, shape: tuple[int, int, int], path: Path) -> Path:
    pytest.importorskip("onnx")
    # The TorchScript exporter needs no onnxscript; whether torch calls it deprecated is torch's
    # business, not what these tests check.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)  # the exporter's notes on its own constant folding
        torch.onnx.export(model.eval(), (torch.randn(1, *shape),), str(path), dynamo=False)
    return path


def test_onnx_import_undoes_what_export_did(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = SmallMobile()
    spec = from_onnx(_export(model, (3, 16, 16), tmp_path / "small.onnx"))
    types = {layer["name"]: layer["type"] for layer in spec["layers"]}
    assert types == {"conv1": "conv2d", "act1": "relu6", "conv2": "conv2d", "silu": "silu", "add": "add",
                     "pool": "adaptiveavgpool2d", "flatten": "flatten", "fc": "linear"}
    report = cnncalc.analyze(spec)
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    assert list(report.output_shape) == [4]


def test_onnx_import_of_a_resnet_reports_the_folded_batch_norms(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = tv.ResNet(tv.BasicBlock, [1, 1, 1, 1], num_classes=10)
    spec = from_onnx(_export(model, (3, 64, 64), tmp_path / "resnet.onnx"))
    report = cnncalc.analyze(spec)
    rows = {row.name: row for row in report.rows}
    expected = _leaf_shapes(model.eval(), torch.randn(1, 3, 64, 64))
    for path in ("conv1", "layer1.0.conv1", "layer2.0.downsample.0", "fc"):
        assert tuple(rows[path].output_shape) == expected[path], path
    # Each batch norm is folded into its convolution: the convolutions have a bias of C values
    # and the batch norms' 2·C parameters are gone.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    biases = sum(c.out_channels for c in convs)
    norm_parameters = sum(2 * n.num_features for n in norms)
    assert report.totals.parameters == sum(p.numel() for p in model.parameters()) + biases - norm_parameters
    assert "folded into the convolution" in spec["description"]
    assert "layer1.0.conv1" in spec["description"]


def test_cli_imports_an_onnx_file(tmp_path: Path) -> None:
    path = _export(SmallMobile(), (3, 16, 16), tmp_path / "small.onnx")
    done = CliRunner().invoke(cli, ["import", str(path), "-o", str(tmp_path / "small.yaml")])
    assert done.exit_code == 0, done.output
    assert cnncalc.analyze(tmp_path / "small.yaml").totals.parameters == sum(
        p.numel() for p in SmallMobile().parameters())
    (tmp_path / "bad.onnx").write_text("not a model")
    bad = CliRunner().invoke(cli, ["import", str(tmp_path / "bad.onnx")])
    assert bad.exit_code == 2 and "not an ONNX model" in bad.output and "Traceback" not in bad.output


class Mixer(nn.Module):
    """What cnncalc has no types for: a GroupNorm, a learned scale and pixel_unshuffle."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(1, c)
        self.proj = nn.Conv2d(c, 2 * c, 1)
        self.gamma = nn.Parameter(torch.ones(2 * c, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return F.pixel_unshuffle(self.proj(self.norm(x)) * self.gamma, 2)


class MixerNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.mix = nn.Sequential(Mixer(8), nn.Conv2d(64, 8, 1), Mixer(8))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.mix(torch.relu(self.stem(x))))


def test_a_leaf_module_is_one_opaque_layer_with_its_parameters_and_traced_shape() -> None:
    model = MixerNet().eval()
    with pytest.raises(ImportProblem, match="GroupNorm"):
        from_module(model, (3, 32, 32))
    spec = from_module(model, (3, 32, 32), leaves=["Mixer"])
    opaque = [layer for layer in spec["layers"] if layer["type"] == "opaque"]
    assert opaque == [
        {"name": "mix.0", "type": "opaque", "module": f"{__name__}.Mixer", "input_shape": [8, 32, 32],
         "output_shape": [64, 16, 16], "parameters": 8 + 8 + 8 * 16 + 16 + 16},
        {"name": "mix.2", "type": "opaque", "module": f"{__name__}.Mixer", "input_shape": [8, 16, 16],
         "output_shape": [64, 8, 8], "parameters": 8 + 8 + 8 * 16 + 16 + 16},
    ]
    assert "description" not in spec  # the leaves' own submodules are not "left out"
    report = cnncalc.analyze(model, (3, 32, 32), leaves=["Mixer"])
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    rows = {row.name: row for row in report.rows}
    traced = _leaf_shapes(model, torch.randn(1, 3, 32, 32))
    for path in ("stem", "mix.1", "head.2"):
        assert tuple(rows[path].output_shape) == traced[path]
    assert [(w.layer, w.kind) for w in report.warnings] == [("mix.0", "opaque"), ("mix.2", "opaque")]
    assert rows["mix.1"].receptive_field is None  # unknown past an opaque layer
    # The qualified names work too; a type the model lacks is named with the ones it has.
    assert from_module(model, (3, 32, 32), leaves=[f"{__name__}.Mixer"]) == spec
    with pytest.raises(ImportProblem, match=r"--leaf Mixr: .*Mixer"):
        from_module(model, (3, 32, 32), leaves=["Mixr"])


def test_an_opaque_layer_is_analysed_but_never_built(tmp_path: Path) -> None:
    path = tmp_path / "mixer.yaml"
    path.write_text(spec_yaml(from_module(MixerNet(), (3, 32, 32), leaves=["Mixer"])))
    runner = CliRunner()
    for command in (["verify", str(path)], ["export", str(path)]):
        done = runner.invoke(cli, command)
        assert done.exit_code == 2 and "Traceback" not in done.output, done.output
        assert "mix.0" in done.output and "opaque" in done.output and "mixer.yaml:" in done.output
    with pytest.raises(cnncalc.SpecError):
        cnncalc.build(path)
    # At another input size the opaque layer's output is not known: refused, not guessed.
    other = path.read_text().replace("input: [3, 32, 32]", "input: [3, 64, 64]")
    (tmp_path / "other.yaml").write_text(other)
    done = runner.invoke(cli, ["analyze", str(tmp_path / "other.yaml")])
    assert done.exit_code == 2 and "mix.0" in done.output and "import the model again" in done.output


def test_cli_leaf_option(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODEL_FILE)
    runner = CliRunner()
    done = runner.invoke(cli, ["analyze", f"{tmp_path / 'models.py'}:Tiny", "--input", "3,8,8",
                               "--leaf", "models.Tiny", "-f", "json"])
    assert done.exit_code == 2 and "--leaf models.Tiny" in done.output  # the model itself is no leaf
    wrapped = MODEL_FILE + '''

class Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Tiny()
        self.out = nn.Linear(3, 2)

    def forward(self, x):
        return self.out(self.inner(x))
'''
    (tmp_path / "models.py").write_text(wrapped)
    done = runner.invoke(cli, ["import", f"{tmp_path / 'models.py'}:Wrapped", "--input", "3,8,8",
                               "--leaf", "models.Tiny"])
    assert done.exit_code == 0, done.output
    assert "# cnncalc import" in done.output and "--leaf models.Tiny" in done.output
    assert "{name: inner, type: opaque, module: Tiny, input_shape: [3, 8, 8], output_shape: [3]," \
           " parameters: 127}" in done.output
    assert runner.invoke(cli, ["analyze", "lenet5", "--leaf", "Tiny"]).exit_code == 2


def test_parameters_the_forward_reads_are_layers_at_their_paths() -> None:
    model = LayerScaled().eval()
    spec = from_module(model, (3, 16, 16))
    (block,) = spec["blocks"].values()
    assert {"name": "gamma", "type": "parameter", "shape": [8, 1, 1]} in block["layers"]
    assert {"name": "mul", "type": "mul", "from": ["relu", "gamma"]} in block["layers"]
    assert spec["layers"][1:3] == [{"name": "pos", "type": "parameter", "shape": [1, 8, 16, 16]},
                                   {"name": "add", "type": "add", "from": ["stem", "pos"]}]
    rows = {row.name: row for row in cnncalc.analyze(spec).rows}
    assert (rows["pos"].parameters, rows["pos"].output_shape) == (8 * 16 * 16, (8, 16, 16))
    assert rows["blocks.2.gamma"].parameters == 8
    # A parameter adds nothing to the receptive field and no global context to what it meets.
    assert rows["add"].receptive_field == rows["stem"].receptive_field
    assert not rows["blocks.0.mul"].global_context
    verified = cnncalc.verify(spec, runs=1, warmup=0, batch=2)
    assert verified.ok, [(c.name, c.actual_shape, c.actual_parameters) for c in verified.layers if not c.ok]


class Resampled(nn.Module):
    """A convolution, then ``up`` (a module or a function of the tensor), then a convolution."""

    def __init__(self, up: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = up
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.up(self.conv(x)))


def _same_model(spec: dict[str, Any], model: nn.Module, shape: tuple[int, int, int]) -> None:
    """The spec's analysis has the model's parameters, every module's shape and the output's; its
    build loads the model's state_dict and computes the same outputs."""
    report = cnncalc.analyze(yaml.safe_load(spec_yaml(spec)))
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    x = torch.randn(2, *shape)
    rows = {row.name: row for row in report.rows}
    for path, out in _leaf_shapes(model, x).items():
        if isinstance(model.get_submodule(path), (nn.Conv2d, nn.Linear, nn.Upsample, nn.ZeroPad2d)):
            assert tuple(rows[path].output_shape) == out, path
    with torch.no_grad():
        expected = model(x)
    assert tuple(report.output_shape) == tuple(expected.shape[1:])
    built = cnncalc.build(spec).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(built(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("up, opset, fields", [
    (nn.Upsample(scale_factor=2), 17, {"scale_factor": 2}),
    (nn.Upsample(scale_factor=2, mode="bilinear"), 17, {"scale_factor": 2, "mode": "bilinear"}),
    (nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), 17,
     {"scale_factor": 2, "mode": "bilinear", "align_corners": True}),
    (lambda x: F.interpolate(x, size=(11, 14)), 17, {"size": [11, 14]}),
    (lambda x: F.interpolate(x, size=(11, 14), mode="bilinear"), 17, {"size": [11, 14], "mode": "bilinear"}),
    (lambda x: F.interpolate(x, scale_factor=1.5), 17, {"scale_factor": 1.5}),
    (nn.Upsample(scale_factor=3), 9, {"scale_factor": 3}),  # the Upsample operator of old opsets
])
def test_onnx_resize_is_upsample(up: Any, opset: int, fields: dict[str, Any], tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = Resampled(up).eval()
    path = tmp_path / "up.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("onnx")
        torch.onnx.export(model, (torch.randn(1, 3, 6, 7),), str(path), dynamo=False, opset_version=opset)
    spec = from_onnx(path)
    (layer,) = [layer for layer in spec["layers"] if layer["type"] == "upsample"]
    assert layer["name"] == ("up" if isinstance(up, nn.Module) else "interpolate")
    assert {k: v for k, v in layer.items() if k not in ("name", "type")} == fields
    _same_model(spec, model, (3, 6, 7))


class Linear3d(nn.Module):
    """nn.Linear on a [N, C, L] and on an [N, C, H, W] tensor: ONNX writes MatMul with the weight
    transposed ([in, out]) and an Add of the bias, not Gemm."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.rows = nn.Linear(8, 6)  # on the width of each row of the map
        self.fc = nn.Linear(7 * 6, 5)
        self.proj = nn.Linear(5, 3, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = self.rows(self.conv(x))
        return self.proj(self.fc(torch.flatten(x, 2)))


def test_onnx_matmul_and_add_of_its_bias_is_linear(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = Linear3d()
    spec = from_onnx(_export(model, (3, 7, 8), tmp_path / "linear.onnx"))
    layers = {layer["name"]: layer for layer in spec["layers"]}
    assert layers["rows"] == {"name": "rows", "type": "linear", "out_features": 6}
    assert layers["flatten"] == {"name": "flatten", "type": "flatten", "start_dim": 2}
    assert layers["fc"] == {"name": "fc", "type": "linear", "out_features": 5}
    assert layers["proj"] == {"name": "proj", "type": "linear", "out_features": 3, "bias": False}
    rows = {row.name: row for row in cnncalc.analyze(spec).rows}
    assert (rows["rows"].parameters, rows["fc"].parameters, rows["proj"].parameters) == (
        8 * 6 + 6, 42 * 5 + 5, 5 * 3)
    assert tuple(rows["fc"].output_shape) == (4, 5)
    _same_model(spec, model, (3, 7, 8))


def _graph_file(path: Path, nodes: list[Any], weights: dict[str, Any], shape: list[int]) -> Path:
    """A hand-written ONNX model (what exporters other than torch's write)."""
    import numpy as np

    onnx = pytest.importorskip("onnx")
    helper = onnx.helper
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(nodes[-1].output[0], onnx.TensorProto.FLOAT, None)],
        [onnx.numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in weights.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_onnx_linear_written_by_other_exporters(tmp_path: Path) -> None:
    """MatMul + Add on [N, features] with the weight as [in, out], Gemm without transB, LRN."""
    import numpy as np

    from cnncalc.pytorch.onnx_import import from_onnx

    helper = pytest.importorskip("onnx").helper
    nodes = [
        helper.make_node("LRN", ["x"], ["n"], name="/norm/LRN", size=5, alpha=1e-4, beta=0.75, bias=2.0),
        helper.make_node("Flatten", ["n"], ["f"], name="/Flatten"),
        helper.make_node("MatMul", ["f", "w1"], ["m"], name="/dense/MatMul"),
        helper.make_node("Add", ["m", "b1"], ["a"], name="/dense/Add"),
        helper.make_node("Relu", ["a"], ["r"], name="/relu/Relu"),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], name="/out/Gemm"),
    ]
    weights = {"w1": np.ones((48, 10)), "b1": np.zeros(10), "w2": np.ones((10, 4)), "b2": np.zeros(4)}
    spec = from_onnx(_graph_file(tmp_path / "dense.onnx", nodes, weights, [1, 3, 4, 4]))
    assert [(layer["name"], layer["type"]) for layer in spec["layers"]] == [
        ("norm", "localresponsenorm"), ("flatten", "flatten"), ("dense", "linear"), ("relu", "relu"),
        ("out", "linear")]
    assert spec["layers"][0]["k"] == 2
    assert spec["layers"][2] == {"name": "dense", "type": "linear", "out_features": 10}
    assert spec["layers"][4]["out_features"] == 4
    assert cnncalc.analyze(spec).totals.parameters == 48 * 10 + 10 + 10 * 4 + 4


class Padded(nn.Module):
    """F.pad, nn.ZeroPad2d, a squeeze-and-excitation gate by x.mean((2, 3), keepdim=True) and ELU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.pad = nn.ZeroPad2d((0, 1, 2, 1))
        self.reduce = nn.Conv2d(8, 2, 1)
        self.expand = nn.Conv2d(2, 8, 1)
        self.act = nn.ELU(alpha=0.5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pad(self.conv(F.pad(x, (1, 2, 3, 0))))
        gate = torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3), keepdim=True)))))
        return self.act(x * gate)


def test_onnx_pad_and_squeeze_excitation(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = Padded()
    spec = from_onnx(_export(model, (3, 9, 10), tmp_path / "padded.onnx"))
    layers = {layer["name"]: layer for layer in spec["layers"]}
    # F.pad in the model's forward (left, right, top, bottom); the module keeps its path as name
    assert layers["pad_1"]["padding"] == [1, 2, 3, 0]
    assert layers["pad"]["padding"] == [0, 1, 2, 1]  # the module
    assert layers["pad"]["type"] == layers["pad_1"]["type"] == "zeropad2d"
    assert layers["mean"]["type"] == "globalavgpool"
    assert layers["mul"]["type"] == "mul"
    assert layers["act"] == {"name": "act", "type": "elu", "alpha": 0.5}
    _same_model(spec, model, (3, 9, 10))


class Unmappable(nn.Module):
    def __init__(self, op: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.op = op

    def forward(self, x: Tensor) -> Tensor:
        return self.op(self.conv(x))


@pytest.mark.parametrize("op, opset, words", [
    (lambda x: F.interpolate(x, scale_factor=2, mode="bicubic"), 17, ["/Resize", "cubic"]),
    (lambda x: F.interpolate(x, scale_factor=2, mode="bilinear"), 9, ["/Upsample", "linear"]),
    (lambda x: F.pad(x, (1, 1, 1, 1), mode="reflect"), 17, ["/Pad", "reflect"]),
    (lambda x: F.pad(x, (1, 1, 1, 1), value=1.0), 17, ["/Pad", "of 1"]),
    (lambda x: x.mean(2, keepdim=True), 17, ["/ReduceMean", "over H and W"]),
    (lambda x: x.mean((2, 3)), 17, []),  # global pooling, then flatten
    (lambda x: x.mean((2, 3), keepdim=True), 18, []),  # axes as an input (opset 18) map too
    (lambda x: x * 2, 17, ["/Mul", "constant"]),
    (lambda x: torch.sin(x), 17, ["/Sin", "no cnncalc layer type"]),
])
def test_onnx_what_cannot_be_mapped_is_named(op: Any, opset: int, words: list[str], tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    path = tmp_path / "op.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("onnx")
        torch.onnx.export(Unmappable(op).eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False,
                          opset_version=opset)
    if not words:  # global pooling, flattened where the mean drops H and W
        flat = Unmappable(op)(torch.randn(1, 3, 8, 8)).dim() == 2
        assert [layer["type"] for layer in from_onnx(path)["layers"]][-2:] == (
            ["globalavgpool", "flatten"] if flat else ["conv2d", "globalavgpool"])
        return
    with pytest.raises(ImportProblem) as caught:
        from_onnx(path)
    for word in words:
        assert word in str(caught.value), str(caught.value)
    done = CliRunner().invoke(cli, ["import", str(path)])
    assert done.exit_code == 2 and "Traceback" not in done.output and words[0] in done.output, done.output


def test_onnx_resnet18_folds_into_a_block_with_repeat(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import from_onnx

    model = tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])
    path = _export(model, (3, 64, 64), tmp_path / "resnet18.onnx")
    spec = from_onnx(path)
    flat = from_onnx(path, blocks=False)
    assert "blocks" not in flat
    (block_name, block), = spec["blocks"].items()
    assert block_name == "block"
    assert block["params"] == {"c": 64, "stride": 1, "downsample": False}
    calls = {layer["name"]: layer for layer in spec["layers"] if "block" in layer}
    assert calls["layer1"] == {"name": "layer1", "block": "block", "repeat": 2}
    assert calls["layer4"] == {"name": "layer4", "block": "block", "repeat": 2, "c": 512,
                               "first": {"stride": 2, "downsample": True}}
    folded, unfolded = cnncalc.analyze(spec), cnncalc.analyze(flat)
    assert [(r.name, tuple(r.output_shape), r.parameters) for r in folded.rows] == [
        (r.name, tuple(r.output_shape), r.parameters) for r in unfolded.rows]
    assert [r.name for r in folded.rows] == [layer["name"] for layer in flat["layers"]]
    expected = _leaf_shapes(model.eval(), torch.randn(1, 3, 64, 64))
    rows = {row.name: row for row in folded.rows}
    for name, row in rows.items():
        if name in expected:
            assert tuple(row.output_shape) == expected[name], name
    assert len(spec_yaml(spec).splitlines()) < 30
    runner = CliRunner()
    done = runner.invoke(cli, ["import", str(path), "--flat", "-o", str(tmp_path / "flat.yaml")])
    assert done.exit_code == 0, done.output
    assert "blocks" not in yaml.safe_load((tmp_path / "flat.yaml").read_text())
    done = runner.invoke(cli, ["import", str(path), "-o", str(tmp_path / "blocks.yaml")])
    assert done.exit_code == 0 and "1 block" in done.output, done.output


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_import_of_the_round_trip_models(name: str, tmp_path: Path) -> None:
    """Each model of the torch round trips through ONNX (transposed convolutions, concatenation,
    ReLU6 and groups, squeeze-and-excitation, SiLU): every module's shape is torch's, and the
    spec with blocks has the flat spec's rows, shapes and parameters."""
    from cnncalc.pytorch.onnx_import import from_onnx

    make, shape = MODELS[name]
    torch.manual_seed(0)
    model = make().eval()
    path = _export(model, shape, tmp_path / f"{name}.onnx")
    spec, flat = from_onnx(path), from_onnx(path, blocks=False)
    assert ("blocks" in spec) == (name not in FLAT), sorted(spec)
    rows = {row.name: row for row in cnncalc.analyze(spec).rows}
    assert [(r.name, tuple(r.output_shape), r.parameters) for r in rows.values()] == [
        (r.name, tuple(r.output_shape), r.parameters) for r in cnncalc.analyze(flat).rows]
    traced = _leaf_shapes(model, torch.randn(1, *shape))
    convolutions = [p for p in traced if isinstance(model.get_submodule(p), (nn.Conv2d, nn.ConvTranspose2d))]
    assert convolutions and set(convolutions) <= set(rows)
    for path_name in convolutions:
        assert tuple(rows[path_name].output_shape) == traced[path_name], path_name


def test_the_original_unets_crop_and_pad_are_layers() -> None:
    spec = from_module(OriginalUNet(), (1, 44, 44))
    layers = {layer["name"]: layer for layer in spec["layers"]}
    # The slice computed from the decoder's size is centercrop reading that tensor: right at any size.
    assert layers["crop"] == {"name": "crop", "type": "centercrop", "from": ["enc2.3", "up2"]}
    assert layers["pad"]["type"] == "zeropad2d"
    # The crop follows the decoder at another input size too, as the model does.
    model = OriginalUNet().eval()
    with torch.no_grad():
        out = model(torch.randn(1, 1, 60, 60))
    assert cnncalc.analyze(dict(spec, input=[1, 60, 60])).output_shape == tuple(out.shape[1:])
    # An uncentred slice is the same cut by its numbers: a zeropad2d with negative padding.
    corner = Unsliced(lambda x: x[:, :, 1:5, :-2])
    assert from_module(corner, (3, 8, 8))["layers"][-1] == {
        "name": "crop", "type": "zeropad2d", "padding": [0, -2, -1, -3]}
    for index in (lambda x: x[:, :2], lambda x: x[0], lambda x: x[:, :, ::2]):
        with pytest.raises(ImportProblem, match="has no cnncalc layer type"):
            from_module(Unsliced(index), (3, 8, 8))


class Unsliced(nn.Module):
    def __init__(self, index: Callable[[Tensor], Tensor]) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.index = index

    def forward(self, x: Tensor) -> Tensor:
        return self.index(self.conv(x))


class Joined(nn.Module):
    """DenseNet's first layer joins a list of one tensor; dropout in training mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.conv(torch.cat([x], 1)))


def test_a_join_of_one_tensor_is_that_tensor_and_a_training_model_is_traced_for_inference() -> None:
    model = Joined().train()
    spec = from_module(model, (3, 8, 8))
    assert [layer["type"] for layer in spec["layers"]] == ["conv2d", "dropout"]
    assert "from" not in spec["layers"][0]  # the conv reads the input itself
    assert model.training  # left as it was given


class Scale(nn.Module):
    """A module with a parameter and no layer: the forward of the model around it reads it
    through Scale's forward, so the trace sees a get_attr of scale.gamma, not a call of scale."""

    def __init__(self) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(4, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


def test_a_parameter_read_through_a_modules_forward_is_not_left_out() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Scale())
    spec = from_module(model, (3, 8, 8))
    assert {"name": "1.gamma", "type": "parameter", "shape": [4, 1, 1]} in spec["layers"]
    assert "description" not in spec  # nothing is left out: all 20 parameters are in the spec
    assert cnncalc.analyze(spec).totals.parameters == sum(p.numel() for p in model.parameters())
    # A module whose forward is never called is still named, with its parameters' count.
    assert "4 parameters of modules its forward does not call are left out (spare)" in \
        from_module(Spare(), (3, 8, 8))["description"]


class Spare(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.spare = Scale()

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class GateOfParameters(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.gate = nn.Parameter(torch.zeros(4, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * torch.sigmoid(self.gate)


class ScalarOut(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sum()


class WithScalar(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.total = ScalarOut()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x) * self.total(x)


def test_what_a_parameter_or_a_leaf_cannot_be_is_named() -> None:
    with pytest.raises(ImportProblem, match=r"torch.sigmoid computes on parameters alone \(gate\)"):
        from_module(GateOfParameters(), (3, 8, 8))
    with pytest.raises(ImportProblem, match=r"module total \(ScalarOut\) returns no tensor of one value per"):
        from_module(WithScalar(), (3, 8, 8), leaves=["ScalarOut"])
    # torch's own types by their public names too (kept whole, as any module)
    spec = from_module(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()), (3, 8, 8), leaves=["torch.nn.Conv2d"])
    assert spec["layers"][0]["type"] == "opaque" and spec["layers"][0]["module"].endswith("Conv2d")


class AttentionGate(nn.Module):
    """Attention U-Net's gate, kept whole with --leaf: a module called with two tensors."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.wg, self.wx, self.psi = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1), nn.Conv2d(c, 1, 1)

    def forward(self, g: Tensor, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.psi(torch.relu(self.wg(g) + self.wx(x))))


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, padding=1)
        self.mid = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, padding=1), nn.Upsample(scale_factor=2))
        self.gate = AttentionGate(8)
        self.out = nn.Conv2d(16, 2, 1)

    def forward(self, x: Tensor) -> Tensor:
        skip = self.enc(x)
        g = self.mid(skip)
        return self.out(torch.cat([self.gate(g, skip), g], 1))


def test_a_leaf_called_with_several_tensors_reads_them_all() -> None:
    model = Gated()
    traced = cnncalc.analyze(model, (3, 32, 32))  # without --leaf the gate's own layers are rows
    assert {"gate.wg", "gate.psi", "gate.add", "gate.mul"} <= {row.name for row in traced.rows}
    spec = from_module(model, (3, 32, 32), leaves=["AttentionGate"])
    gate = next(layer for layer in spec["layers"] if layer["name"] == "gate")
    assert gate["from"] == ["mid.2", "enc"] and gate["input_shapes"] == [[8, 32, 32], [8, 32, 32]]
    report = cnncalc.analyze(spec)
    assert report.totals.parameters == traced.totals.parameters == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert report.output_shape == tuple(model(torch.randn(1, 3, 32, 32)).shape[1:])
