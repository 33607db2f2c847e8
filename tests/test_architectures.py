"""Every bundled architecture against its published parameter count, and built in torch."""

from __future__ import annotations

import pytest
import torch

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
