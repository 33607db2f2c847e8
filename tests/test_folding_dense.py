"""Folding instances that read several names from outside (cnncalc/pytorch/folding.py): as in
torchvision's DenseNet, where each dense layer takes the list of every earlier feature map and
joins it itself, the join reads a list argument (``from: $inputs``) that each call passes.

The first tests are torch-free (fold() reads plain data); the others import a model written
as torchvision writes DenseNet (a ``_DenseLayer`` whose forward takes a list, a
``_DenseBlock(nn.ModuleDict)`` that keeps the list) and compare with torch."""

from __future__ import annotations

from typing import Any

import pytest

import cnncalc
from cnncalc.pytorch.folding import fold
from cnncalc.spec.writer import spec_yaml


def _wiring(spec: dict[str, Any]) -> list[tuple[str, tuple[int, ...], int, tuple[str, ...]]]:
    """Each row: its name, shape, parameters and the rows it reads."""
    return [(row.name, tuple(row.output_shape), row.parameters, tuple(row.inputs))
            for row in cnncalc.analyze(spec).rows]


def _dense(config: tuple[int, ...], stem: str = "conv0") -> tuple[dict[str, Any], dict[str, str]]:
    """A flat DenseNet as the importer writes it, and its instances: dense layer k of a block
    joins the block's input and layers 1 … k−1 (layer 1 reads the input itself), the block
    joins its input and every layer, a 1×1 convolution between blocks."""
    layers: list[dict[str, Any]] = [{"name": stem, "type": "conv2d", "out_channels": 8, "kernel_size": 3,
                                     "padding": 1}]
    instances: dict[str, str] = {}
    source = stem
    for b, n in enumerate(config, 1):
        instances[f"block{b}"] = "DenseBlock"
        joined = [source]
        for k in range(1, n + 1):
            path = f"block{b}.layer{k}"
            instances[path] = "DenseLayer"
            if k > 1:
                layers.append({"name": f"{path}.cat", "type": "concat", "from": list(joined)})
            layers += [{"name": f"{path}.norm", "type": "batchnorm2d"},
                       {"name": f"{path}.relu", "type": "relu"},
                       {"name": f"{path}.conv", "type": "conv2d", "out_channels": 4, "kernel_size": 3,
                        "padding": 1}]
            joined.append(f"{path}.conv")
        layers.append({"name": f"block{b}.cat", "type": "concat", "from": joined})
        layers.append({"name": f"trans{b}", "type": "conv2d", "out_channels": 8, "kernel_size": 1})
        source = f"trans{b}"
    return {"name": "Dense", "input": [3, 8, 8], "layers": layers}, instances


DENSE_LAYER = {"params": {"cat": True, "inputs": ["input"]},
               "layers": [{"name": "cat", "type": "concat", "from": "$inputs", "when": "$cat"},
                          {"name": "norm", "type": "batchnorm2d"}, {"name": "relu", "type": "relu"},
                          {"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 3,
                           "padding": 1}]}


def test_a_layer_joining_every_earlier_map_reads_a_list_each_call_passes() -> None:
    flat, instances = _dense((3, 3))
    folded = fold(flat, {}, instances, {})
    assert folded is not None
    assert folded["blocks"]["dense_layer"] == DENSE_LAYER
    # The blocks are alike: the calls inside pass the same lists, named in the outer block.
    assert folded["blocks"]["dense_block"] == {"layers": [
        {"name": "layer1", "block": "dense_layer", "cat": False},
        {"name": "layer2", "block": "dense_layer", "from": "input", "inputs": ["input", "layer1"]},
        {"name": "layer3", "block": "dense_layer", "from": "input", "inputs": ["input", "layer1", "layer2"]},
        {"name": "cat", "type": "concat", "from": ["input", "layer1", "layer2", "layer3"]}]}
    assert [entry["name"] for entry in folded["layers"]] == ["conv0", "block1", "trans1", "block2", "trans2"]
    assert _wiring(folded) == _wiring(flat)


def test_dense_blocks_of_other_lengths_keep_their_layers_as_calls() -> None:
    # The blocks' joins read 3 and 4 maps: no one block; each dense layer is still one call.
    flat, instances = _dense((2, 3))
    folded = fold(flat, {}, instances, {})
    assert folded is not None
    assert list(folded["blocks"]) == ["dense_layer"]
    calls = {entry["name"]: entry for entry in folded["layers"] if "block" in entry}
    assert calls["block1.layer1"] == {"name": "block1.layer1", "block": "dense_layer", "cat": False}
    assert calls["block2.layer3"] == {"name": "block2.layer3", "block": "dense_layer", "from": "trans1",
                                      "inputs": ["trans1", "block2.layer1", "block2.layer2"]}
    assert _wiring(folded) == _wiring(flat)
    assert len(spec_yaml(folded).splitlines()) == 21 < len(spec_yaml(flat).splitlines()) == 26


def test_a_list_naming_what_the_block_itself_names_is_not_folded() -> None:
    # The stem is called "norm", as the dense layer's own batch norm: inside a call, "norm" would
    # name the block's layer (written later: an error), so the dense layers stay flat.
    flat, instances = _dense((2, 3), stem="norm")
    # Nothing else folds: the dense blocks differ in length.
    assert fold(flat, {}, instances, {}) is None


# --- torchvision's structure, in torch ---------------------------------------------------------


def _model(config: tuple[int, ...]) -> Any:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    from torchvision_reference import _Transition  # torchvision's, as the reference DenseNet has it

    class _DenseLayer(nn.Module):  # torchvision's: it takes the list of maps and joins them itself
        def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
            super().__init__()
            self.norm1 = nn.BatchNorm2d(num_input_features)
            self.relu1 = nn.ReLU(inplace=True)
            self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
            self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
            self.relu2 = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

        def bn_function(self, inputs: list[Any]) -> Any:
            return self.conv1(self.relu1(self.norm1(torch.cat(inputs, 1))))

        def forward(self, input: Any) -> Any:
            prev_features = [input] if isinstance(input, torch.Tensor) else input
            return self.conv2(self.relu2(self.norm2(self.bn_function(prev_features))))

    class _DenseBlock(nn.ModuleDict):
        def __init__(self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int) -> None:
            super().__init__()
            for i in range(num_layers):
                self.add_module(f"denselayer{i + 1}",
                                _DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size))

        def forward(self, init_features: Any) -> Any:
            features = [init_features]
            for _, layer in self.items():
                features.append(layer(features))
            return torch.cat(features, 1)

    class DenseNet(nn.Module):
        def __init__(self, growth_rate: int = 8, num_init_features: int = 16, bn_size: int = 4) -> None:
            super().__init__()
            self.features = nn.Sequential()
            self.features.add_module("conv0", nn.Conv2d(3, num_init_features, 7, 2, 3, bias=False))
            self.features.add_module("norm0", nn.BatchNorm2d(num_init_features))
            self.features.add_module("relu0", nn.ReLU(inplace=True))
            self.features.add_module("pool0", nn.MaxPool2d(3, 2, 1))
            num_features = num_init_features
            for i, num_layers in enumerate(config):
                self.features.add_module(f"denseblock{i + 1}",
                                         _DenseBlock(num_layers, num_features, bn_size, growth_rate))
                num_features += num_layers * growth_rate
                if i != len(config) - 1:
                    self.features.add_module(f"transition{i + 1}",
                                             _Transition(num_features, num_features // 2))
                    num_features //= 2
            self.features.add_module("norm5", nn.BatchNorm2d(num_features))
            self.classifier = nn.Linear(num_features, 10)

        def forward(self, x: Any) -> Any:
            out = torch.relu(self.features(x))
            out = nn.functional.adaptive_avg_pool2d(out, (1, 1))
            return self.classifier(torch.flatten(out, 1))

    torch.manual_seed(0)
    return DenseNet().eval()


# YAML lines of the import (spec_yaml); the flat import has 83 either way. Before lists were
# folded, 51 and 78: only each block's first dense layer (it reads one map) was a call.
@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize(("config", "lines"), [((3, 3, 3), 41), ((2, 4, 3), 44)])
def test_torchvisions_densenet_folds_and_round_trips(config: tuple[int, ...], lines: int) -> None:
    import torch

    from cnncalc.pytorch.importer import from_module

    model = _model(config)
    spec = from_module(model, (3, 32, 32))
    flat = from_module(model, (3, 32, 32), blocks=False)
    layer = spec["blocks"]["_dense_layer"]
    assert layer["layers"][0] == {"name": "cat", "type": "concat", "from": "$inputs", "when": "$cat"}
    # Equal blocks fold into one block of dense-layer calls; blocks of other lengths do not.
    assert ("_dense_block" in spec["blocks"]) == (len(set(config)) == 1)
    text = spec_yaml(spec)
    assert len(text.splitlines()) == lines, text
    assert len(spec_yaml(flat).splitlines()) == 83
    # The rows are the flat import's: names, order, shapes, parameters and what each reads.
    assert _wiring(spec) == _wiring(flat)
    assert cnncalc.analyze(spec).totals.parameters == sum(p.numel() for p in model.parameters())
    built = cnncalc.build(spec).eval()
    built.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(built(x), model(x), atol=1e-5, rtol=1e-4)
