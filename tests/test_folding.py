"""Folding an imported flat spec into blocks at every level (cnncalc/pytorch/folding.py): inner
submodule types are blocks called from inside outer blocks, numbered instances in a row one call
with repeat, and the analysis of the folded spec has the flat spec's rows, shapes and wiring.

The first tests are torch-free: fold() reads plain data. The others import the hand-written
copies of torchvision's classifiers (tests/torchvision_reference.py) and compare with torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import cnncalc
from cnncalc.pytorch.folding import fold
from cnncalc.spec.writer import spec_yaml


def _wiring(spec: dict[str, Any]) -> list[tuple[str, tuple[int, ...], int, tuple[str, ...]]]:
    """Each row: its name, shape, parameters and the rows it reads (a sum's terms in any order:
    MobileNetV2's residual is written x + y in one block and y + x in the other)."""
    return [(row.name, tuple(row.output_shape), row.parameters,
             tuple(sorted(row.inputs)) if row.type in ("add", "mul") else tuple(row.inputs))
            for row in cnncalc.analyze(spec).rows]


def _unit(path: str, c: int, k: int = 3) -> list[dict[str, Any]]:
    return [{"name": f"{path}.conv", "type": "conv2d", "out_channels": c, "kernel_size": k,
             "padding": (k - 1) // 2},
            {"name": f"{path}.relu", "type": "relu"}]


def test_fold_nests_a_repeat_of_inner_blocks_inside_an_outer_block() -> None:
    # Two Stage instances, each a Sequential "units" of three Unit instances (conv + relu), then
    # a pooling layer of the stage's own; the stages differ in their units' width.
    layers: list[dict[str, Any]] = []
    for stage, c in (("stage1", 8), ("stage2", 16)):
        for k in range(3):
            layers += _unit(f"{stage}.units.{k}", c)
        layers.append({"name": f"{stage}.pool", "type": "maxpool2d", "kernel_size": 2})
    layers += [{"name": "flatten", "type": "flatten"}, {"name": "fc", "type": "linear", "out_features": 10}]
    flat = {"name": "Staged", "input": [3, 32, 32], "layers": layers}
    instances = {f"{s}.units.{k}": "Unit" for s in ("stage1", "stage2") for k in range(3)}
    instances |= {"stage1": "Stage", "stage2": "Stage"}
    children = {f"{s}.units": ["0", "1", "2"] for s in ("stage1", "stage2")}
    folded = fold(flat, {}, instances, children)
    assert folded is not None
    assert folded["blocks"] == {
        "unit": {"params": {"c": 8},
                 "layers": [{"name": "conv", "type": "conv2d", "out_channels": "$c", "kernel_size": 3,
                             "padding": 1},
                            {"name": "relu", "type": "relu"}]},
        "stage": {"params": {"c": 8},
                  "layers": [{"name": "units", "block": "unit", "repeat": 3, "c": "$c"},
                             {"name": "pool", "type": "maxpool2d", "kernel_size": 2}]}}
    assert folded["layers"][:2] == [{"name": "stage1", "block": "stage"},
                                    {"name": "stage2", "block": "stage", "c": 16}]
    # The same rows (module paths), shapes, parameters and inputs as the flat spec.
    assert _wiring(folded) == _wiring(flat)


def test_fold_threads_an_inner_parameter_through_the_outer_block() -> None:
    # Inception-like: a 1×1 branch and a 1×1-then-3×3 branch read the module's input, a concat
    # joins them; the two Mixed instances differ in each convolution's width, and one Unit (3×3)
    # stands alone before them.
    layers: list[dict[str, Any]] = _unit("stem", 8)
    for mixed, (a, r, b) in (("mixed1", (4, 3, 6)), ("mixed2", (10, 5, 12))):
        source = layers[-1]["name"]
        layers += _unit(f"{mixed}.branch1", a, k=1)
        layers += _unit(f"{mixed}.branch2.0", r, k=1)
        layers[-2]["from"] = source
        layers += _unit(f"{mixed}.branch2.1", b)
        layers.append({"name": f"{mixed}.cat", "type": "concat",
                       "from": [f"{mixed}.branch1.relu", f"{mixed}.branch2.1.relu"]})
    flat = {"name": "Mixed", "input": [3, 16, 16], "layers": layers}
    instances = {"stem": "Unit", "mixed1": "Mixed", "mixed2": "Mixed"}
    instances |= {f"{m}.{b}": "Unit" for m in ("mixed1", "mixed2")
                  for b in ("branch1", "branch2.0", "branch2.1")}
    children = {f"{m}.branch2": ["0", "1"] for m in ("mixed1", "mixed2")}
    folded = fold(flat, {}, instances, children)
    assert folded is not None
    assert list(folded["blocks"]) == ["unit", "mixed"]  # the inner block first
    assert folded["blocks"]["unit"]["params"] == {"c": 8, "k": 1, "padding": 0}  # the most common k
    # branch2's two units have two roles (their widths are two parameters): two calls, no repeat.
    assert folded["blocks"]["mixed"] == {
        "params": {"c": 4, "c2": 3, "c3": 6},
        "layers": [{"name": "branch1", "block": "unit", "c": "$c"},
                   {"name": "branch2.0", "block": "unit", "from": "input", "c": "$c2"},
                   {"name": "branch2.1", "block": "unit", "c": "$c3", "k": 3, "padding": 1},
                   {"name": "cat", "type": "concat", "from": ["branch1", "branch2.1"]}]}
    assert folded["layers"] == [{"name": "stem", "block": "unit", "k": 3, "padding": 1},
                                {"name": "mixed1", "block": "mixed"},
                                {"name": "mixed2", "block": "mixed", "c": 10, "c2": 5, "c3": 12}]
    assert _wiring(folded) == _wiring(flat)


def test_fold_keeps_the_inner_blocks_where_the_outer_instances_differ() -> None:
    # Two Pair instances whose units sit in another order do not share a block; their units do.
    layers = _unit("p1.a", 8) + _unit("p1.b", 8, k=1) + _unit("p2.b", 8, k=1) + _unit("p2.a", 8)
    flat = {"name": "Pairs", "input": [3, 16, 16], "layers": layers}
    instances = {"p1": "Pair", "p2": "Pair", "p1.a": "Unit", "p1.b": "Unit", "p2.a": "Unit", "p2.b": "Unit"}
    folded = fold(flat, {}, instances, {})
    assert folded is not None
    assert list(folded["blocks"]) == ["unit"]
    assert [entry["name"] for entry in folded["layers"]] == ["p1.a", "p1.b", "p2.b", "p2.a"]
    assert _wiring(folded) == _wiring(flat)


# --- the reference models: imported with torch -------------------------------------------------

# YAML lines of each imported spec (224², spec_yaml) when only the outermost instances folded.
ONE_LEVEL_LINES = {"googlenet": 53, "efficientnet_b0": 51, "densenet121": 198, "mobilenet_v2": 49,
                   "resnet50": 30, "resnet18": 27}


def _models() -> dict[str, Callable[[], Any]]:
    tv = pytest.importorskip("torchvision_reference")
    return {"googlenet": tv.GoogLeNet, "efficientnet_b0": tv.EfficientNetB0, "densenet121": tv.DenseNet,
            "mobilenet_v2": tv.MobileNetV2,
            "resnet50": lambda: tv.ResNet(tv.Bottleneck, [3, 4, 6, 3]),
            "resnet18": lambda: tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])}


def _import(name: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    from cnncalc.pytorch.importer import from_module

    model = _models()[name]().eval()
    return from_module(model, (3, 224, 224)), from_module(model, (3, 224, 224), blocks=False), model


def _calls(layers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in layers if "block" in entry}


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("name", sorted(ONE_LEVEL_LINES))
def test_imported_spec_folds_at_every_level_with_the_flat_rows(name: str) -> None:
    spec, flat, model = _import(name)
    assert "blocks" in spec
    report = cnncalc.analyze(spec)
    assert [row.name for row in report.rows] == [entry["name"] for entry in flat["layers"]]
    assert _wiring(spec) == _wiring(flat)
    assert report.totals.parameters == sum(p.numel() for p in model.parameters())
    lines = len(spec_yaml(spec).splitlines())
    if name.startswith("resnet"):  # one block type, nothing inside it to fold
        assert lines == ONE_LEVEL_LINES[name]
    else:
        assert lines < ONE_LEVEL_LINES[name]


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_googlenet_inception_calls_the_basic_conv_block() -> None:
    spec, _, _ = _import("googlenet")
    blocks = spec["blocks"]
    assert list(blocks) == ["basic_conv2d", "inception"]
    assert [entry["type"] for entry in blocks["basic_conv2d"]["layers"]] == ["conv2d", "batchnorm2d", "relu"]
    inception = _calls(blocks["inception"]["layers"])
    assert list(inception) == ["branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1", "branch4.1"]
    assert {call["block"] for call in inception.values()} == {"basic_conv2d"}
    # Each branch's width is a parameter of the inception block, passed on to the inner call.
    widths = [call["c"] for call in inception.values()]
    assert all(w.startswith("$") for w in widths) and len(set(widths)) == 6
    assert inception["branch2.1"]["k"] == 3
    top = _calls(spec["layers"])
    assert [top[n]["block"] for n in ("conv1", "conv2", "conv3")] == ["basic_conv2d"] * 3
    assert [n for n, call in top.items() if call["block"] == "inception"] == [
        "inception3a", "inception3b", "inception4a", "inception4b", "inception4c", "inception4d",
        "inception4e", "inception5a", "inception5b"]
    assert top["inception5b"]["c"] == 384


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_efficientnet_mbconv_calls_conv_and_squeeze_excitation_blocks() -> None:
    spec, _, _ = _import("efficientnet_b0")
    blocks = spec["blocks"]
    mbconv = _calls(blocks["mbconv"]["layers"])
    assert {n: c["block"] for n, c in mbconv.items()} == {
        "block.0": "conv2d_norm_activation", "block.1": "conv2d_norm_activation",
        "block.2": "squeeze_excitation", "block.3": "conv2d_norm_activation"}
    assert mbconv["block.1"]["groups"] == mbconv["block.1"]["c"] == mbconv["block.0"]["c"]  # depthwise
    assert mbconv["block.3"]["silu"] is False  # the projection has no activation
    top = _calls(spec["layers"])
    assert top["features.4"] == {**top["features.4"], "block": "mbconv", "repeat": 3}
    assert top["features.0"]["block"] == top["features.8"]["block"] == "conv2d_norm_activation"
    # The first MBConv (no expansion) is not an mbconv: its inner calls are written out.
    assert top["features.1.0.block.1"]["block"] == "squeeze_excitation"


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_densenet_block_calls_the_dense_layer_block() -> None:
    spec, _, _ = _import("densenet121")
    dense_block = spec["blocks"]["_dense_block"]["layers"]
    calls = _calls(dense_block)
    assert list(calls) == [f"denselayer{k}" for k in range(1, 25)]
    assert {call["block"] for call in calls.values()} == {"_dense_layer"}
    assert "when" not in calls["denselayer6"] and "when" in calls["denselayer7"]
    top = _calls(spec["layers"])
    assert [top[f"features.denseblock{k}"]["block"] for k in range(1, 5)] == ["_dense_block"] * 4
    assert [top[f"features.transition{k}"]["block"] for k in range(1, 4)] == ["_transition"] * 3


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_mobilenet_v2_inverted_residual_calls_the_conv_block() -> None:
    spec, _, _ = _import("mobilenet_v2")
    calls = _calls(spec["blocks"]["inverted_residual"]["layers"])
    assert {n: c["block"] for n, c in calls.items()} == {"conv.0": "conv2d_norm_activation",
                                                          "conv.1": "conv2d_norm_activation"}
    assert calls["conv.1"]["groups"] == calls["conv.1"]["c"] == "$c"  # depthwise, the expanded width
    top = _calls(spec["layers"])
    assert top["features.0"]["block"] == top["features.18"]["block"] == "conv2d_norm_activation"
    assert sum(call["block"] == "inverted_residual" for call in top.values()) == 16


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_a_fold_that_reads_differently_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # The importer compares the folded spec's wiring with the flat one's: a sum that reads bn1
    # instead of bn2 has the same shapes and parameters, and is still refused.
    from cnncalc.pytorch import folding

    real = folding.fold

    def miswired(spec: dict[str, Any], *args: Any) -> dict[str, Any] | None:
        folded = real(spec, *args)
        assert folded is not None
        for block in folded["blocks"].values():
            for entry in block["layers"]:
                if entry.get("type") == "add":
                    entry["from"] = ["bn1" if f == "bn2" else f for f in entry["from"]]
        return folded

    monkeypatch.setattr(folding, "fold", miswired)
    spec, flat, _ = _import("resnet18")
    assert spec == flat


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_where_the_nested_fold_fails_the_outer_one_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from cnncalc.pytorch import folding

    real = folding.fold

    def nested_fails(spec: dict[str, Any], defaults: Any, instances: dict[str, str], children: Any
                     ) -> dict[str, Any] | None:
        if "inception3a.branch1" in instances:
            return {**spec, "layers": spec["layers"][1:]}  # not the model's layers
        return real(spec, defaults, instances, children)

    monkeypatch.setattr(folding, "fold", nested_fails)
    spec, flat, _ = _import("googlenet")
    assert [row.name for row in cnncalc.analyze(spec).rows] == [entry["name"] for entry in flat["layers"]]
    inception = spec["blocks"]["inception"]["layers"]
    assert not _calls(inception) and inception[0]["name"] == "branch1.conv"  # written out, one level
    assert _calls(spec["layers"])["conv1"]["block"] == "basic_conv2d"
