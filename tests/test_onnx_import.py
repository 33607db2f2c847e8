"""Hostile and unusual ONNX files for ``cnncalc import model.onnx``: each refusal is one line
naming the file (and the node where there is one), exit 2, never a traceback."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

import cnncalc
from cnncalc.cli import cli

onnx = pytest.importorskip("onnx")
helper, numpy_helper, T = onnx.helper, onnx.numpy_helper, onnx.TensorProto


def _save(path: Path, nodes: list[Any], inputs: list[Any], weights: dict[str, Any] | None = None,
          outputs: list[str] | None = None, **save: Any) -> Path:
    graph = helper.make_graph(
        nodes, "g", inputs,
        [helper.make_tensor_value_info(o, T.FLOAT, None) for o in outputs or [nodes[-1].output[0]]],
        [numpy_helper.from_array(np.asarray(v, dtype=np.float32), k) for k, v in (weights or {}).items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path), **save)
    return path


def _image(shape: list[Any] | None = None, name: str = "x") -> Any:
    return helper.make_tensor_value_info(name, T.FLOAT, [1, 3, 8, 8] if shape is None else shape)


def _conv(name: str, x: str, w: str, y: str) -> Any:
    return helper.make_node("Conv", [x, w], [y], name=name)


def _refused(path: Path) -> str:
    """The CLI's one-line refusal of ``path``."""
    done = CliRunner().invoke(cli, ["import", str(path)])
    assert done.exit_code == 2, done.output
    assert "Traceback" not in done.output and len(done.output.strip().splitlines()) == 1, done.output
    assert str(path) in done.output
    return done.output


def test_missing_external_data_is_named(tmp_path: Path) -> None:
    path = _save(tmp_path / "ext.onnx", [_conv("/conv/Conv", "x", "w", "y")], [_image()],
                 {"w": np.ones((64, 3, 3, 3))}, save_as_external_data=True, location="ext.data",
                 size_threshold=0)
    (tmp_path / "ext.data").unlink()
    assert "external data" in _refused(path)


def test_a_file_that_is_no_model_is_named(tmp_path: Path) -> None:
    (tmp_path / "empty.onnx").write_bytes(b"")  # protobuf reads no bytes as an empty model
    assert "not an ONNX model" in _refused(tmp_path / "empty.onnx")


def test_an_operation_of_another_domain_is_named_with_its_node(tmp_path: Path) -> None:
    node = helper.make_node("Foo", ["x"], ["y"], name="/block/Foo", domain="com.example")
    out = _refused(_save(tmp_path / "custom.onnx", [node], [_image()]))
    assert "/block/Foo" in out and "com.example" in out and "not an ONNX model" not in out


def test_a_node_reading_what_nothing_makes_is_named(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["nowhere"], ["y"], name="/act/Relu")
    out = _refused(_save(tmp_path / "undefined.onnx", [node], [_image()]))
    assert "/act/Relu" in out and "nowhere" in out and "not an ONNX model" not in out


@pytest.mark.parametrize("op, weight", [("Conv", (4, 5, 3, 3)), ("ConvTranspose", (5, 4, 3, 3))])
def test_a_weight_for_other_channels_is_named_with_its_node(op: str, weight: tuple[int, ...],
                                                            tmp_path: Path) -> None:
    # ONNX's shape inference gives an output shape even where the weight's channels are not the input's
    node = helper.make_node(op, ["x", "w"], ["y"], name=f"/conv/{op}")
    out = _refused(_save(tmp_path / "channels.onnx", [node], [_image()], {"w": np.ones(weight)}))
    assert f"/conv/{op}" in out and "5" in out and "3 channels" in out


def _export(model: nn.Module, path: Path, **options: Any) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and folding notes
        torch.onnx.export(model.eval(), (torch.randn(1, 3, 16, 16),), str(path), dynamo=False, **options)
    return path


class Gate(nn.Module):
    """A parameter the forward reads itself: a ``parameter`` layer, gate.scale."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, 8, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gated: torch.Tensor = x * self.scale
        return gated


class Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)
        self.gate = Gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.gate(torch.relu(self.bn(self.conv(x))))
        out: torch.Tensor = self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))
        return out


@pytest.mark.parametrize("folding", [True, False])
def test_a_file_exported_without_parameters_has_the_layers_of_one_with(folding: bool, tmp_path: Path) -> None:
    """export_params=False leaves the weights as inputs of their shape, without values: the spec
    needs only their shapes, and the description says where the counts come from."""
    from cnncalc.pytorch.onnx_import import from_onnx

    torch.manual_seed(0)
    model = Small()
    stored = from_onnx(_export(model, tmp_path / "with.onnx", do_constant_folding=folding))
    spec = from_onnx(_export(model, tmp_path / "without.onnx", do_constant_folding=folding,
                             export_params=False))
    assert spec["layers"] == stored["layers"]
    described = spec["description"]
    assert "initializers hold 0 values" in described and "without values" in described
    parameters = cnncalc.analyze(spec).totals.parameters
    assert parameters == cnncalc.analyze(stored).totals.parameters
    if not folding:
        assert parameters == sum(p.numel() for p in model.parameters())
        # the batch norm's 2 × 8 running statistics are fresh (ones and zeros): the exporter stores
        # them once with its weight and bias (ones and zeros), and the sums of values are equal
        assert "16 running means and variances" in described and "16 fewer" in described


def test_a_second_input_that_is_no_weight_is_refused(tmp_path: Path) -> None:
    node = helper.make_node("Add", ["x", "z"], ["y"], name="/Add")
    out = _refused(_save(tmp_path / "two.onnx", [node], [_image(), _image(name="z")]))
    assert "one input" in out and "x, z" in out


def _pad_chain(path: Path, steps: int) -> Path:
    """Each step pads by amounts computed from the shape of the step before (zero, as F.pad of
    a difference of sizes can be): one more round of shape inference per step."""
    nodes, previous = [], "x"
    for k in range(steps):
        nodes += [helper.make_node("Shape", [previous], [f"s{k}"], name=f"/m{k}/Shape"),
                  helper.make_node("Mul", [f"s{k}", "zero"], [f"z{k}"], name=f"/m{k}/Mul"),
                  helper.make_node("Concat", [f"z{k}", f"z{k}"], [f"p{k}"], axis=0, name=f"/m{k}/Concat"),
                  helper.make_node("Pad", [previous, f"p{k}"], [f"y{k}"], name=f"/m{k}/Pad")]
        previous = f"y{k}"
    out = helper.make_tensor_value_info(previous, T.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [_image()], [out],
                              [numpy_helper.from_array(np.array([0], dtype=np.int64), "zero")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_sizes_computed_from_sizes_are_followed_a_bounded_number_of_rounds(tmp_path: Path) -> None:
    from cnncalc.pytorch.onnx_import import MAX_PASSES, from_onnx

    spec = from_onnx(_pad_chain(tmp_path / "short.onnx", 8))
    assert [layer["type"] for layer in spec["layers"]] == ["zeropad2d"] * 8
    # Deeper than the bound: refused by node in a bounded time (it grew as the square of the
    # length before: 172 s and 6.4 GB for 2,500 steps).
    done = CliRunner().invoke(cli, ["import", str(_pad_chain(tmp_path / "long.onnx", MAX_PASSES + 5))])
    assert done.exit_code == 2 and "Traceback" not in done.output
    assert f"/m{MAX_PASSES}/" in done.output and "steps deep" in done.output
