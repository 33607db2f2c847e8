"""Expansion of blocks, repeats, `when`, values and references (contract §1b) into a graph.

The expander is given the two functions it needs; here they are small and exact for the
few layer types these tests use (conv with k/s/p, relu, add, concat), so that expansion is
tested on its own. The analysis's real handlers are tested through it elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cnncalc.errors import SpecError
from cnncalc.graph import (
    INPUT,
    MAX_NESTING,
    MAX_STEPS,
    BlockDef,
    Call,
    Entry,
    Graph,
    Node,
    expand,
    shape_error,
)

Shape = tuple[int, ...]


def make_layer(fields: dict[str, Any] | None, entry: Entry, path: str) -> dict[str, Any]:
    assert fields is not None
    if fields.get("type") not in ("conv", "relu", "add", "concat"):
        raise SpecError([], None)
    return fields


def infer(node: Node, shapes: Sequence[Shape]) -> Shape:
    layer, path = node.layer, node.path
    kind = layer["type"]
    if kind == "conv":
        (_c, h, w), k, s, p = shapes[0], layer.get("k", 1), layer.get("s", 1), layer.get("p", 0)
        return (layer["c"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
    if kind == "add":
        if len(set(shapes)) != 1:
            raise shape_error(f"shapes differ: {shapes}", path, Entry({}), None)
        return shapes[0]
    if kind == "concat":
        return (sum(s[0] for s in shapes), *shapes[0][1:])
    return shapes[0]


def run(layers: list[dict[str, Any]], blocks: dict[str, dict[str, Any]] | None = None,
        shape: Shape = (3, 32, 32)) -> Graph:
    defs = {name: BlockDef(name, b.get("params", {}), tuple(Entry(e, line=i + 100) for i, e in
                                                            enumerate(b["layers"])))
            for name, b in (blocks or {}).items()}
    return expand([Entry(e, line=i + 1) for i, e in enumerate(layers)], defs, shape, make_layer, infer)


def table(graph: Graph) -> list[tuple[str, tuple[str, ...], Shape]]:
    return [(n.path, n.inputs, graph.shapes[n.path]) for n in graph.nodes]


BASIC = {
    "params": {"c": 64, "stride": 1},
    "layers": [
        {"name": "conv1", "type": "conv", "c": "$c", "k": 3, "s": "$stride", "p": 1},
        {"name": "relu", "type": "relu"},
        {"name": "conv2", "type": "conv", "c": "$c", "k": 3, "p": 1},
        {"name": "downsample.0", "type": "conv", "from": "input", "c": "$c", "k": 1, "s": "$stride",
         "when": "${stride != 1 or in_channels != c}"},
        {"name": "add", "type": "add", "from": ["conv2", "downsample.0"]},
    ],
}


def test_a_chain_reads_the_entry_before() -> None:
    graph = run([{"type": "conv", "c": 8, "k": 3}, {"type": "relu"}, {"type": "conv", "c": 4, "k": 3},
                 {"name": "out", "type": "relu"}])
    assert graph.is_chain
    assert table(graph) == [("conv_1", (INPUT,), (8, 30, 30)), ("relu_1", ("conv_1",), (8, 30, 30)),
                            ("conv_2", ("relu_1",), (4, 28, 28)), ("out", ("conv_2",), (4, 28, 28))]
    assert graph.output == "out"


def test_resnet_stages_identity_and_projection_shortcuts() -> None:
    graph = run([{"name": "stem", "type": "conv", "c": 64, "k": 3, "p": 1},
                 {"name": "layer1", "block": "basic", "repeat": 2, "c": 64},
                 {"name": "layer2", "block": "basic", "repeat": 2, "c": 128, "first": {"stride": 2}}],
                {"basic": BASIC})
    rows = {path: (inputs, shape) for path, inputs, shape in table(graph)}
    # layer1: 64 → 64 at stride 1, so no downsample; the add reads the block's input
    assert "layer1.0.downsample.0" not in rows
    assert rows["layer1.0.add"] == (("layer1.0.conv2", "stem"), (64, 32, 32))
    assert rows["layer1.1.conv1"][0] == ("layer1.0.add",)
    # layer2.0: stride 2 from `first`, and a projection; layer2.1 has neither
    assert rows["layer2.0.conv1"][1] == (128, 16, 16)
    assert rows["layer2.0.downsample.0"] == (("layer1.1.add",), (128, 16, 16))
    assert rows["layer2.0.add"][0] == ("layer2.0.conv2", "layer2.0.downsample.0")
    assert "layer2.1.downsample.0" not in rows
    assert rows["layer2.1.add"][0] == ("layer2.1.conv2", "layer2.0.add")
    assert graph.output == "layer2.1.add"
    assert not graph.is_chain
    assert graph.calls["layer2.0"] == Call("basic", 3)
    assert graph.calls["layer2"] == Call("basic", 3, repeat=2)
    assert graph.nodes[-1].calls == ("layer2", "layer2.1")


def test_a_call_without_repeat_names_its_layers_by_the_call() -> None:
    graph = run([{"name": "b", "block": "basic", "c": 16}], {"basic": BASIC})
    assert [n.path for n in graph.nodes] == ["b.conv1", "b.relu", "b.conv2", "b.downsample.0", "b.add"]
    assert graph.nodes[0].calls == ("b",)


def test_paths_into_earlier_calls_and_names_with_dots() -> None:
    graph = run([{"name": "layer1", "block": "basic", "repeat": 2, "c": 8},
                 {"name": "tap", "type": "relu", "from": "layer1.0"},
                 {"name": "tap2", "type": "relu", "from": "layer1.1.conv1"},
                 {"name": "tap3", "type": "relu", "from": "layer1.0.downsample.0"},
                 {"name": "out", "type": "concat", "from": ["layer1", "tap", "tap2"]}],
                {"basic": BASIC})
    rows = {path: inputs for path, inputs, _ in table(graph)}
    assert rows["tap"] == ("layer1.0.add",)
    assert rows["tap2"] == ("layer1.1.conv1",)
    assert rows["tap3"] == ("layer1.0.downsample.0",)
    assert rows["out"] == ("layer1.1.add", "tap", "tap2")
    assert graph.shapes["out"] == (24, 32, 32)


def test_left_out_references_follow_back() -> None:
    """A reference to a left-out entry means its input; a block whose last entry is left out
    outputs that entry's input."""
    graph = run([{"name": "a", "type": "conv", "c": 4},
                 {"name": "b", "type": "conv", "c": 5, "when": False},
                 {"name": "c", "type": "relu", "from": "b"},
                 {"name": "d", "block": "tail"},
                 {"name": "e", "type": "relu"}],
                {"tail": {"layers": [{"name": "x", "type": "relu"},
                                     {"name": "y", "type": "relu", "when": "${in_channels == 0}"}]}})
    rows = {path: inputs for path, inputs, _ in table(graph)}
    assert rows["c"] == ("a",)
    assert rows["d.x"] == ("c",)
    assert rows["e"] == ("d.x",)


def test_parameters_as_names_list_items_and_types() -> None:
    graph = run([{"name": "a", "type": "conv", "c": 4},
                 {"name": "b", "block": "merge", "skip": "a", "kind": "relu"}],
                {"merge": {"params": {"skip": "input", "kind": "relu", "width": 2},
                           "layers": [{"name": "up", "type": "conv", "c": "${in_channels * width}"},
                                      {"name": "act", "type": "$kind"},
                                      {"name": "cat", "type": "concat", "from": ["$skip", "act"]}]}})
    rows = {path: (inputs, shape) for path, inputs, shape in table(graph)}
    assert rows["b.up"][1] == (8, 32, 32)
    assert rows["b.cat"] == (("a", "b.act"), (12, 32, 32))


def test_expression_defaults_see_the_blocks_input_and_literal_parameters() -> None:
    graph = run([{"name": "a", "type": "conv", "c": 24},
                 {"name": "m", "block": "mb", "t": 6}],
                {"mb": {"params": {"t": 1, "hidden": "${make_divisible(in_channels * t)}"},
                        "layers": [{"name": "expand", "type": "conv", "c": "$hidden"}]}})
    assert graph.shapes["m.expand"] == (144, 32, 32)


def test_call_arguments_are_evaluated_where_the_call_is_written() -> None:
    graph = run([{"name": "a", "type": "conv", "c": 8},
                 {"name": "outer", "block": "outer"}],
                {"outer": {"params": {"n": 3},
                           "layers": [{"name": "inner", "block": "inner", "c": "${in_channels * n}"}]},
                 "inner": {"params": {"c": 1}, "layers": [{"name": "x", "type": "conv", "c": "$c"}]}})
    assert graph.shapes["outer.inner.x"] == (24, 32, 32)


@pytest.mark.parametrize("layers, blocks, needle", [
    ([{"name": "a", "type": "relu", "from": "b"}, {"name": "b", "type": "relu"}], None,
     "written later"),
    ([{"name": "a", "type": "relu", "from": "nowhere"}], None, "no entry named 'nowhere'"),
    ([{"name": "a", "type": "relu"}, {"name": "a", "type": "relu"}], None, "already used"),
    ([{"name": "input", "type": "relu"}], None, "reserved"),
    ([{"name": "a", "block": "loop"}], {"loop": {"layers": [{"block": "loop"}]}}, "calls itself"),
    ([{"name": "a", "block": "p"}], {"p": {"layers": [{"block": "q"}]}, "q": {"layers": [{"block": "p"}]}},
     "p → q → p"),
    ([{"name": "a", "block": "missing"}], {"basic": BASIC}, "no block named 'missing'"),
    ([{"name": "a", "block": "basic", "strde": 3}], {"basic": BASIC}, "did you mean 'stride'"),
    ([{"name": "a", "block": "basic", "first": {"strid": 2}}], {"basic": BASIC}, "no parameter 'strid'"),
    ([{"name": "a", "type": "conv", "c": "$c"}], None, "at the top level"),
    ([{"name": "a", "type": "conv", "c": "${in_channels}"}], None, "unknown name 'in_channels'"),
    ([{"name": "a", "type": "relu", "when": "yes"}], None, "when must be true"),
    ([{"name": "a", "type": "relu", "when": "${1 + 1}"}], None, "when must be true"),
    ([{"name": "a", "block": "basic", "repeat": 0}], {"basic": BASIC}, "repeat must be"),
    ([{"name": "a", "block": "basic", "repeat": "${10 ** 3}"}], {"basic": BASIC}, "**"),
    ([{"name": "a", "type": "add", "from": ["input", "b"]}, {"name": "b", "type": "relu"}], None,
     "written later"),
    ([{"name": "x", "type": "conv", "c": 4}, {"name": "y", "type": "add", "from": ["input", "x"]}],
     None, "shapes differ"),
    ([{"name": "a", "type": "relu", "from": []}], None, "empty list"),
    ([{"name": "a..b", "type": "relu"}], None, "empty part"),
])
def test_refused(layers: list[dict[str, Any]], blocks: dict[str, Any] | None, needle: str) -> None:
    with pytest.raises(SpecError) as raised:
        run(layers, blocks)
    assert any(needle in message for message in raised.value.messages()), raised.value.messages()


def test_an_error_inside_a_call_names_the_call() -> None:
    with pytest.raises(SpecError) as raised:
        run([{"name": "layer1", "block": "b"}],
            {"b": {"layers": [{"name": "x", "type": "conv", "c": "${in_channels / 0}"}]}})
    (message,) = raised.value.messages()
    assert "divides by zero" in message and "called as layer1" in message


def test_forward_reference_wins_over_an_outer_name() -> None:
    """A later entry of the same scope is an error even where an outer scope has that name."""
    with pytest.raises(SpecError, match="written later"):
        run([{"name": "x", "type": "relu"}, {"name": "b", "block": "b"}],
            {"b": {"layers": [{"name": "y", "type": "relu", "from": "x"}, {"name": "x", "type": "relu"}]}})


def test_nesting_is_bounded() -> None:
    blocks = {f"b{i}": {"layers": [{"block": f"b{i + 1}"}]} for i in range(MAX_NESTING + 1)}
    blocks[f"b{MAX_NESTING + 1}"] = {"layers": [{"type": "relu"}]}
    with pytest.raises(SpecError, match=f"nested more than {MAX_NESTING}"):
        run([{"block": "b0"}], blocks)


def test_work_is_bounded_even_when_nothing_is_kept() -> None:
    blocks = {"never": {"layers": [{"type": "relu", "when": False}] * 10}}
    with pytest.raises(SpecError, match=f"more than {MAX_STEPS:,} entries"):
        run([{"block": "never", "repeat": 20_000}], blocks)


def test_layers_are_bounded() -> None:
    blocks = {"two": {"layers": [{"type": "relu"}, {"type": "relu"}]}}
    with pytest.raises(SpecError, match="more than 20,000 layers"):
        run([{"block": "two", "repeat": 10_001}], blocks)
