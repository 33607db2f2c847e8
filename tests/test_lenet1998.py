"""LeNet-5 exactly as LeCun et al. (1998) published it: architectures/lenet5-1998.yaml.

Every number here is the paper's (Proc. IEEE 86(11), section II.B): the parameters
and connections of each layer and the totals, 60,840 and 340,908. The new layer kinds
it needs (a conv2d with a connection table, trainable subsampling, RBF output units)
are checked against torch: per-layer parameters and shapes, values, and gradients that
show the table connects only the input maps it lists.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.lecture.worked import explain_layer
from cnncalc.pytorch.bridge import build

NAME = "lenet5-1998"

# (layer, output shape, parameters, connections), from section II.B of the paper.
PAPER = [
    ("C1", (6, 28, 28), 156, 122_304),
    ("S2", (6, 14, 14), 12, 5_880),
    ("C3", (16, 10, 10), 1_516, 151_600),
    ("S4", (16, 5, 5), 32, 2_000),
    ("C5", (120, 1, 1), 48_120, 48_120),
    ("F6", (84,), 10_164, 10_164),
    ("output", (10,), 840, 840),
]

# Table I: the S2 maps (rows) each C3 map (column) is connected to.
TABLE_I = [
    {0, 1, 2}, {1, 2, 3}, {2, 3, 4}, {3, 4, 5}, {0, 4, 5}, {0, 1, 5},
    {0, 1, 2, 3}, {1, 2, 3, 4}, {2, 3, 4, 5}, {0, 3, 4, 5}, {0, 1, 4, 5}, {0, 1, 2, 5},
    {0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5},
    {0, 1, 2, 3, 4, 5},
]


@pytest.fixture(scope="module")
def rows() -> dict[str, Any]:
    return {row.name: row for row in analyze(load_spec(NAME)).rows}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    yield CliRunner()


# --- the paper's numbers -----------------------------------------------------------------

@pytest.mark.parametrize("name, shape, parameters, connections", PAPER, ids=[p[0] for p in PAPER])
def test_layer_matches_the_paper(rows: dict[str, Any], name: str, shape: tuple[int, ...], parameters: int,
                                 connections: int) -> None:
    row = rows[name]
    assert row.output_shape == shape
    assert row.parameters == parameters
    assert row.connections == connections


def test_totals_match_the_paper() -> None:
    report = analyze(load_spec(NAME))
    assert report.input_shape == (1, 32, 32)
    assert report.totals.parameters == 60_840
    assert report.totals.connections == 340_908
    assert report.warnings == []  # nothing to warn about: --strict passes


def test_c3_is_table_i() -> None:
    c3 = next(layer for layer in load_spec(NAME).layers if layer.name == "C3")
    assert [set(inputs) for inputs in c3.connection_table] == TABLE_I
    # Every S2 map feeds ten C3 maps (the rows of Table I each hold ten X's).
    assert all(sum(i in inputs for inputs in TABLE_I) == 10 for i in range(6))


def test_weights_per_neuron(rows: dict[str, Any]) -> None:
    assert rows["C1"].weights_per_neuron == 26
    assert rows["S2"].weights_per_neuron == 2  # the map's coefficient and bias
    assert rows["C3"].weights_per_neuron == 151  # the largest map's: 1 + 5×5×6 (map 15)
    assert rows["C5"].weights_per_neuron == 401
    assert rows["output"].weights_per_neuron == 84  # one prototype component per input, no bias


def test_the_c3_row_says_how_to_read_it(rows: dict[str, Any]) -> None:
    [note] = rows["C3"].notes
    assert "76 for maps 0–5, 101 for maps 6–14, 151 for map 15" in note
    assert "largest" in note
    assert rows["C1"].notes == ()


def test_worked_c3_sums_over_the_maps(rows: dict[str, Any]) -> None:
    spec = load_spec(NAME)
    c3 = next(layer for layer in spec.layers if layer.name == "C3")
    worked = {w.metric: w.worked for w in explain_layer(c3, rows["C3"])}
    assert worked["parameters"] == "6 × (1 + 5×5×3) + 9 × (1 + 5×5×4) + 1 × (1 + 5×5×6) = 1,516"
    assert worked["connections"] == "10 × 10 × 1,516 = 151,600"
    s2 = next(layer for layer in spec.layers if layer.name == "S2")
    worked = {w.metric: w.worked for w in explain_layer(s2, rows["S2"])}
    assert worked["connections"] == "14 × 14 × 6 × (2×2 + 1) = 5,880"
    assert worked["parameters"] == "2 × 6 = 12"


def test_cli_table_and_json(runner: CliRunner) -> None:
    table = runner.invoke(cli, ["analyze", NAME, "--strict", "--width", "200"])
    assert table.exit_code == 0, table.stderr
    assert "60,840" in table.stdout and "340,908" in table.stdout
    assert "note: C3 (#3): connection_table: weights per neuron differ by output map" in table.stdout
    doc = json.loads(runner.invoke(cli, ["analyze", NAME, "--format", "json"]).stdout)
    layers = {layer["name"]: layer for layer in doc["layers"]}
    assert layers["C3"]["notes"] and "notes" not in layers["C1"]
    assert doc["totals"]["parameters"] == 60_840 and doc["totals"]["connections"] == 340_908


# --- torch: the modules really are the paper's layers --------------------------------------

def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.torch
def test_torch_children_agree_with_the_analysis() -> None:
    spec = load_spec(NAME)
    report = analyze(spec)
    model = build(spec).eval()
    children = list(model.children())
    seen: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    hooks = [child.register_forward_hook(
        lambda _m, args, out: seen.append((tuple(args[0].shape[1:]), tuple(out.shape[1:]))))
        for child in children]
    with torch.no_grad():
        out = model(torch.randn(3, 1, 32, 32))
    for hook in hooks:
        hook.remove()
    assert tuple(out.shape) == (3, 10)
    for row, child, (shape_in, shape_out) in zip(report.rows, children, seen, strict=True):
        assert count(child) == row.parameters, row.name
        assert (shape_in, shape_out) == (row.input_shape, row.output_shape), row.name
    assert count(model) == 60_840


@pytest.mark.torch
def test_c3_stores_only_the_independent_weights() -> None:
    c3 = build(load_spec(NAME)).C3
    shapes = sorted(tuple(p.shape) for p in c3.parameters())
    # 16 filters, one per output map over its L_j inputs, and the 16 biases: no masked 16×6×5×5.
    assert shapes.count((1, 3, 5, 5)) == 6
    assert shapes.count((1, 4, 5, 5)) == 9
    assert shapes.count((1, 6, 5, 5)) == 1
    assert (16,) in shapes and len(shapes) == 17


def _c3_alone() -> nn.Module:
    spec = load_spec(NAME)
    table = next(layer for layer in spec.layers if layer.name == "C3").connection_table
    return build(load_spec({"input": [6, 14, 14], "layers": [
        {"type": "conv2d", "out_channels": 16, "kernel_size": 5, "connection_table": table}]}))


@pytest.mark.torch
@pytest.mark.parametrize("j", range(16))
def test_c3_map_depends_only_on_its_listed_inputs(j: int) -> None:
    model = _c3_alone()
    x = torch.randn(2, 6, 14, 14, requires_grad=True)
    model(x)[:, j].sum().backward()
    assert x.grad is not None
    reached = {i for i in range(6) if x.grad[:, i].abs().sum() > 0}
    assert reached == TABLE_I[j]
    for i in set(range(6)) - TABLE_I[j]:
        assert torch.count_nonzero(x.grad[:, i]) == 0


@pytest.mark.torch
def test_c3_equals_a_full_convolution_with_the_unlisted_weights_zeroed() -> None:
    model = _c3_alone()
    conv = next(iter(model.children()))
    dense = torch.zeros(16, 6, 5, 5)
    for j, weight in enumerate(conv.weights):
        dense[j, sorted(TABLE_I[j])] = weight.detach()[0]
    x = torch.randn(2, 6, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(model(x), F.conv2d(x, dense, conv.bias))


@pytest.mark.torch
def test_subsampling_is_a_window_sum_times_a_coefficient_plus_a_bias() -> None:
    model = build(load_spec({"input": [3, 6, 6], "layers": [{"type": "subsampling", "kernel_size": 2}]}))
    layer = next(iter(model.children()))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, -2.0, 3.0]))
        layer.bias.copy_(torch.tensor([1.0, 0.0, -1.0]))
        x = torch.randn(2, 3, 6, 6)
        sums = x.unfold(2, 2, 2).unfold(3, 2, 2).sum(dim=(-1, -2))
        expected = sums * layer.weight.view(1, 3, 1, 1) + layer.bias.view(1, 3, 1, 1)
        torch.testing.assert_close(model(x), expected)
    assert count(model) == 6


@pytest.mark.torch
def test_rbf_is_the_squared_distance_to_each_prototype() -> None:
    model = build(load_spec({"input": [84, 1, 1], "layers": [
        {"type": "flatten"}, {"type": "rbf", "out_features": 10}]}))
    rbf = list(model.children())[1]
    assert tuple(rbf.weight.shape) == (10, 84) and count(model) == 840
    x = torch.randn(4, 84, 1, 1)
    with torch.no_grad():
        expected = torch.cdist(x.flatten(1), rbf.weight) ** 2
        torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-3)
        # A prototype's own vector is at distance 0.
        assert model(rbf.weight[3].view(1, 84, 1, 1))[0, 3] == 0


# --- bad connection tables: exit status 2 and a clear message --------------------------------

def _spec(tmp_path: Path, conv: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text("input: {channels: 6, height: 14, width: 14}\nlayers:\n"
                    f"  - {{type: conv2d, name: C3, kernel_size: 5, {conv}}}\n")
    return str(path)


@pytest.mark.parametrize("conv, message", [
    ("out_channels: 3, connection_table: [[0, 1], [2, 3]]",
     "connection_table must have one entry per output map: out_channels is 3, but it has 2 entries"),
    ("out_channels: 2, connection_table: [[0, 1], [5, 6]]",
     "connection_table.1 (output map 1) lists input map 6, but the input has 6 maps (maps 0–5)"),
    ("out_channels: 2, groups: 2, connection_table: [[0, 1, 2], [3, 4, 5]]",
     "connection_table must not be combined with groups: 2"),
    ("out_channels: 2, connection_table: [[0, 0], [1]]",
     "connection_table.0 has input map 0 twice; list each input map once"),
    ("out_channels: 2, connection_table: [[0], []]",
     "connection_table.1 has no input maps"),
    ("out_channels: 1, connection_table: [[-1]]",
     "connection_table.0 must hold input-map indices, whole numbers from 0; got -1"),
    ("out_channels: 1, connection_table: [3]",
     "connection_table.0 must be a list of input-map indices such as [0, 1, 2]; got 3"),
], ids=["length", "index", "groups", "duplicate", "empty", "negative", "not_a_list"])
def test_bad_connection_table(runner: CliRunner, tmp_path: Path, conv: str, message: str) -> None:
    path = _spec(tmp_path, conv)
    result = runner.invoke(cli, ["analyze", path])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"{path}:3: layer C3 (#1): {message}")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
