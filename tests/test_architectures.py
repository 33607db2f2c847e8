"""Every bundled architecture against its published parameter count, and built in torch.

The branching ones are also compared with reference modules that mirror torchvision's classes
(tests/torchvision_reference.py): the state_dict the analysis implies, key for key and shape for
shape, is the reference's, so a module built at the spec's paths loads torchvision's weights.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torchvision_reference import REFERENCES

from cnncalc import analyze, load_spec
from cnncalc.pytorch.bridge import build
from cnncalc.spec import bundled

# Published counts: the header comment of each file names its source.
PUBLISHED = {
    "lenet5": 61_706,
    "lenet5-1998": 60_840,
    "alexnet": 60_965_224,
    "alexnet-torchvision": 61_100_840,
    "vgg16": 138_357_544,
    "mnist-cnn": 1_199_882,
    "cifar10-cnn": 62_006,
    "resnet18": 11_689_512,
    "resnet50": 25_557_032,
    "googlenet": 6_624_904,
    "densenet121": 7_978_856,
    "mobilenet_v2": 3_504_872,
    "efficientnet_b0": 5_288_548,
    "unet": 31_030_658,  # computed: the paper gives none (see the file's header)
}


def test_every_bundled_architecture_has_a_published_count() -> None:
    assert sorted(PUBLISHED) == bundled.names()


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count(name: str) -> None:
    assert analyze(load_spec(name)).totals.parameters == PUBLISHED[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_header_cites_a_source(name: str) -> None:
    text = (bundled.directory() / f"{name}.yaml").read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert "Source:" in header
    assert f"{PUBLISHED[name]:,}" in header


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_torch_agrees(name: str) -> None:
    spec = load_spec(name)
    report = analyze(spec)
    model = build(spec).eval()
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[name]
    with torch.no_grad():
        out = model(torch.zeros(1, *report.input_shape))
    assert tuple(out.shape[1:]) == report.output_shape


def test_lecture_alexnet_shapes() -> None:
    shapes = {row.name: row.output_shape for row in analyze(load_spec("alexnet")).rows}
    assert shapes["conv1"] == (96, 55, 55)
    assert shapes["pool1"] == (96, 27, 27)
    assert shapes["conv2"] == (256, 27, 27)
    assert shapes["pool2"] == (256, 13, 13)
    assert shapes["conv5"] == (256, 13, 13)
    assert shapes["pool5"] == (256, 6, 6)
    assert shapes["fc8"] == (1000,)


OUTPUT_SHAPES = {
    "resnet18": (1000,),
    "resnet50": (1000,),
    "googlenet": (1000,),
    "densenet121": (1000,),
    "mobilenet_v2": (1000,),
    "efficientnet_b0": (1000,),
    "unet": (2, 388, 388),
}


@pytest.mark.parametrize("name", sorted(OUTPUT_SHAPES))
def test_branching_output_shape(name: str) -> None:
    report = analyze(load_spec(name))
    assert report.output_shape == OUTPUT_SHAPES[name]
    assert report.branches


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_fits_on_a_screen(name: str) -> None:
    """Contract §1b: each network in about a screenful, under 80 lines."""
    assert len((bundled.directory() / f"{name}.yaml").read_text().splitlines()) < 80


def implied_state_dict(name: str) -> dict[str, tuple[int, ...]]:
    """The state_dict a module built at the spec's paths has, from the analysis alone: each row
    with parameters is a torch module at its path, with torch's parameter and buffer names."""
    report = analyze(load_spec(name))
    entries: dict[str, tuple[int, ...]] = {}
    for row, layer in zip(report.rows, report.layers, strict=True):
        tensors: dict[str, tuple[int, ...]] = {}
        layer_kind: Any = layer
        if row.type == "conv2d":
            kh, kw = layer_kind.kernel_size
            tensors["weight"] = (layer_kind.out_channels, row.input_shape[0] // layer_kind.groups, kh, kw)
            if layer_kind.bias:
                tensors["bias"] = (layer_kind.out_channels,)
        elif row.type == "convtranspose2d":
            kh, kw = layer_kind.kernel_size
            tensors["weight"] = (row.input_shape[0], layer_kind.out_channels // layer_kind.groups, kh, kw)
            if layer_kind.bias:
                tensors["bias"] = (layer_kind.out_channels,)
        elif row.type == "linear":
            tensors["weight"] = (layer_kind.out_features, row.input_shape[0])
            if layer_kind.bias:
                tensors["bias"] = (layer_kind.out_features,)
        elif row.type in ("batchnorm2d", "batchnorm1d"):
            channels = row.input_shape[0]
            if layer_kind.affine:
                tensors.update(weight=(channels,), bias=(channels,))
            if layer_kind.track_running_stats:
                tensors.update(running_mean=(channels,), running_var=(channels,), num_batches_tracked=())
        else:
            assert row.parameters == 0, f"{row.name}: {row.type} with parameters"
        learnable = sum(_numel(shape) for key, shape in tensors.items()
                        if key in ("weight", "bias"))
        assert learnable == row.parameters, row.name
        entries.update({f"{row.name}.{key}": shape for key, shape in tensors.items()})
    return entries


def _numel(shape: tuple[int, ...]) -> int:
    size = 1
    for side in shape:
        size *= side
    return size


def _reference(name: str) -> torch.nn.Module:
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        return REFERENCES[name]().eval()


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_paths_give_torchvisions_state_dict(name: str) -> None:
    """The keys, their order and their shapes equal the reference module's (torchvision's
    classes), so `load_state_dict(torchvision_weights, strict=True)` finds every tensor."""
    expected = [(key, tuple(value.shape)) for key, value in _reference(name).state_dict().items()]
    assert list(implied_state_dict(name).items()) == expected


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_module_agrees(name: str) -> None:
    """The reference module, run on meta tensors, has the analysis' parameters and output."""
    report = analyze(load_spec(name))
    model = _reference(name)
    assert sum(p.numel() for p in model.parameters()) == report.totals.parameters == PUBLISHED[name]
    with torch.no_grad():
        out = model(torch.zeros(1, *report.input_shape, device="meta"))
    assert tuple(out.shape[1:]) == report.output_shape


def test_unet_shapes_as_in_the_paper() -> None:
    """Fig. 1 of Ronneberger et al.: the sizes at every level of both paths."""
    shapes = {row.name: row.output_shape for row in analyze(load_spec("unet")).rows}
    assert shapes["enc1.relu2"] == (64, 568, 568)
    assert shapes["enc4.relu2"] == (512, 64, 64)
    assert shapes["bottom.relu2"] == (1024, 28, 28)
    assert shapes["dec4.upconv"] == (512, 56, 56)
    assert shapes["dec4.crop"] == (512, 56, 56)
    assert shapes["dec4.cat"] == (1024, 56, 56)
    assert shapes["dec1.relu2"] == (64, 388, 388)
    assert shapes["out"] == (2, 388, 388)


def test_when_leaves_out_what_torchvision_leaves_out() -> None:
    """Identity shortcuts where the stride and width stay, projections where they change."""
    names = {row.name for row in analyze(load_spec("resnet50")).rows}
    assert "layer1.0.downsample.0" in names  # 64 → 256 channels
    assert "layer1.1.downsample.0" not in names
    assert {"layer2.0.downsample.0", "layer3.0.downsample.0", "layer4.0.downsample.0"} <= names
    names = {row.name for row in analyze(load_spec("densenet121")).rows}
    assert "features.denseblock1.denselayer6.conv2" in names
    assert "features.denseblock1.denselayer7.conv2" not in names
    assert "features.denseblock3.denselayer24.conv2" in names
    assert "features.denseblock4.denselayer17.conv2" not in names
    rows = {row.name: row for row in analyze(load_spec("mobilenet_v2")).rows}
    assert rows["features.3.add"].inputs == ("features.3.conv.3", "features.2.conv.3")
    assert "features.4.add" not in rows  # stride 2
    assert "features.11.add" not in rows  # 64 → 96 channels


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_built_module_loads_torchvisions_weights(name: str) -> None:
    """What the paths promise: the module cnncalc builds takes the reference's state_dict with
    strict=True (every key present, none extra, every shape equal) and then computes the same."""
    torch.manual_seed(0)
    reference = REFERENCES[name]().eval()
    model = build(load_spec(name)).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    side = 188 if name == "unet" else 32  # U-Net's smallest tile; the classifiers end at 1×1
    x = torch.randn(1, analyze(load_spec(name)).input_shape[0], side, side)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-5)
