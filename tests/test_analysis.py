"""The walk: warnings, receptive fields, memory and MACs on small hand-checked specs."""

from __future__ import annotations

import itertools
from fractions import Fraction

import pytest

from cnncalc import ShapeError, SpecError, analyze, load_spec
from cnncalc.analysis.walk import Report


def report_of(input_shape: list[int], *layers: dict) -> Report:
    return analyze(load_spec({"input": input_shape, "layers": list(layers)}))


def messages(report: Report, kind: str) -> list[str]:
    return [w.message for w in report.warnings if w.kind == kind]


def test_fraction_names_the_unread_input() -> None:
    # (224 − 11)/4 = 53.25: windows start at 0, 4, …, 212 and end at 222, so input
    # position 224 (1-based) is never read.
    report = report_of([3, 224, 224], {"type": "conv2d", "out_channels": 8, "kernel_size": 11, "stride": 4})
    assert messages(report, "fraction") == [
        "(224 − 11)/4 = 53.25 is not whole; PyTorch rounds it down: 1 + 53 = 54 rows and columns, "
        "and no window reaches the last 1 row and column of the input (row and column 224 of 224)"]


def test_fraction_per_axis_when_they_differ() -> None:
    report = report_of([1, 10, 9], {"type": "maxpool2d", "kernel_size": 2})
    assert messages(report, "fraction") == [
        "(9 − 2)/2 = 3.5 is not whole; PyTorch rounds it down: 1 + 3 = 4 columns, "
        "and no window reaches the last 1 column of the input (column 9 of 9)"]


def test_fraction_recurring_decimal() -> None:
    # (13 − 3)/3 = 3.333…: windows start at 0, 3, 6, 9 and end at 11, so position 13 is unread.
    report = report_of([1, 13, 13], {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 3})
    assert messages(report, "fraction") == [
        "(13 − 3)/3 ≈ 3.33 is not whole; PyTorch rounds it down: 1 + 3 = 4 rows and columns, "
        "and no window reaches the last 1 row and column of the input (row and column 13 of 13)"]


def test_whole_fraction_does_not_warn() -> None:
    report = report_of([1, 13, 13], {"type": "conv2d", "out_channels": 1, "kernel_size": 4, "stride": 3})
    assert messages(report, "fraction") == []


def test_stride_larger_than_kernel() -> None:
    report = report_of([1, 9, 9], {"type": "conv2d", "out_channels": 1, "kernel_size": 1, "stride": 2})
    assert messages(report, "stride_gap") == [
        "stride 2 is larger than the convolution window (1): 1 of every 2 rows and columns fall "
        "between windows and are never read"]


def test_ceil_mode_adds_a_partial_window() -> None:
    report = report_of([1, 6, 6], {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "ceil_mode": True})
    assert report.rows[0].output_shape == (1, 3, 3)
    assert messages(report, "ceil_mode") == [
        "ceil_mode adds a partial last window: 2 → 3 rows and columns, the last window reaching "
        "1 row and column past the padded input"]


def test_ceil_mode_rule_drops_a_window_starting_in_padding() -> None:
    # J = 5, F = 2, s = 2, P = 1: ceil((5 + 2 − 2)/2) + 1 = 4, but window 3 would start at
    # 6 ≥ J + P = 6, inside the right padding, so PyTorch keeps 3.
    report = report_of([1, 5, 5], {"type": "maxpool2d", "kernel_size": 2, "stride": 2, "padding": 1,
                                   "ceil_mode": True})
    assert report.rows[0].output_shape == (1, 3, 3)
    assert any("PyTorch drops it" in m for m in messages(report, "ceil_mode"))


def test_asymmetric_same_padding() -> None:
    report = report_of([1, 8, 8], {"type": "conv2d", "out_channels": 1, "kernel_size": 4, "padding": "same"})
    assert report.rows[0].output_shape == (1, 8, 8)
    assert messages(report, "asymmetric_padding") == [
        "padding 'same' pads unevenly: 1 top / 2 bottom, 1 left / 2 right (the extra row or column "
        "goes bottom/right, as PyTorch's padding='same' does)"]


def test_same_at_stride_two_follows_tensorflow() -> None:
    # ceil(7/2) = 4; total pad (4 − 1)·2 + 3 − 7 = 2, split 1/1.
    report = report_of([1, 7, 7], {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2,
                                   "padding": "same"})
    assert report.rows[0].output_shape == (1, 4, 4)
    assert messages(report, "asymmetric_padding") == []


def test_collapse_to_one_by_one_with_spatial_layers_after() -> None:
    report = report_of([1, 8, 8],
                       {"type": "conv2d", "name": "squash", "out_channels": 4, "kernel_size": 8},
                       {"type": "conv2d", "name": "wasted", "out_channels": 4, "kernel_size": 3,
                        "padding": 1},
                       {"type": "flatten"})
    assert messages(report, "collapse") == [
        "the feature map collapses to 1×1 here, but 1 conv/pool layer still follows (wasted); "
        "it sees a single position"]
    assert report.warnings[0].layer == "squash"


def test_global_pooling_before_the_classifier_is_fine() -> None:
    report = report_of([4, 7, 7], {"type": "adaptiveavgpool2d", "output_size": 1}, {"type": "flatten"},
                       {"type": "linear", "out_features": 10})
    assert report.warnings == []


def test_receptive_field_of_vgg16() -> None:
    # Known values: conv5_3 sees 196 × 196 input pixels with jump 16; pool5 212 with jump 32.
    rows = {row.name: row for row in analyze(load_spec("vgg16")).rows}
    rf = rows["conv5_3"].receptive_field
    assert rf is not None and (rf[0].size, rf[0].jump) == (196, 16)
    rf = rows["pool5"].receptive_field
    assert rf is not None and (rf[0].size, rf[0].jump) == (212, 32)
    assert rows["fc6"].receptive_field is None


def test_receptive_field_start_in_padding_and_dilation() -> None:
    report = report_of([1, 32, 32],
                       {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": 1},
                       {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "dilation": 2})
    first, second = (row.receptive_field for row in report.rows)
    assert first is not None and second is not None
    assert (first[0].size, first[0].jump, first[0].start) == (3, 1, Fraction(0))
    assert (second[0].size, second[0].jump, second[0].start) == (7, 1, Fraction(2))


def test_memory_and_macs() -> None:
    report = report_of([3, 32, 32], {"type": "conv2d", "out_channels": 6, "kernel_size": 5},
                       {"type": "maxpool2d", "kernel_size": 2})
    conv, pool = report.rows
    assert conv.output_bytes == 6 * 28 * 28 * 4
    assert conv.parameter_bytes == 456 * 4
    assert conv.macs == conv.connections == 357_504
    assert pool.macs == 0 and pool.connections == 6 * 14 * 14 * 4


def test_adaptive_pooling_connections_sum_the_windows() -> None:
    # 5 → 3: windows [0,2), [1,4), [3,5): 2 + 3 + 2 = 7 per axis, so 49 per channel.
    report = report_of([2, 5, 5], {"type": "adaptivemaxpool2d", "output_size": 3})
    assert report.rows[0].connections == 2 * 7 * 7
    assert report.rows[0].neurons == 2 * 3 * 3


def test_groups_and_no_bias() -> None:
    report = report_of([8, 10, 10], {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "groups": 2,
                                     "bias": False})
    row = report.rows[0]
    assert row.weights_per_neuron == 4 * 3 * 3
    assert row.parameters == 4 * 4 * 3 * 3


@pytest.mark.parametrize(("layers", "needle"), [
    ([{"type": "conv2d", "out_channels": 4, "kernel_size": 5}], "kernel 5×5 does not fit its 4×4 input"),
    ([{"type": "flatten"}, {"type": "conv2d", "out_channels": 4, "kernel_size": 1}],
     "conv2d needs a feature map [channels, height, width]; got [64]"),
    ([{"type": "conv2d", "out_channels": 3, "kernel_size": 1, "groups": 2}], "groups 2 must divide"),
    ([{"type": "rbf", "out_features": 3}], "rbf needs a flat input [features]; got [4, 4, 4]"),
])
def test_shape_errors(layers: list[dict], needle: str) -> None:
    with pytest.raises(ShapeError) as caught:
        report_of([4, 4, 4], *layers)
    assert needle in caught.value.issues[0].message


# --- which warnings a sliding window gets, from first principles -----------------------------

def expected_kinds(size: int, kernel: int, stride: int, pads: tuple[int, int], dilation: int,
                   ceil_mode: bool) -> tuple[set[str], bool] | None:
    """The warning kinds one square sliding-window layer must get, found by listing its windows
    along one axis (padded positions 0 … J + P_before + P_after − 1, the input at
    P_before … P_before + J − 1), and whether any input position after the last window is unread.
    None where the window does not fit."""
    before, after = pads
    extent = dilation * (kernel - 1) + 1
    padded = size + before + after
    if padded < extent:
        return None
    span = padded - extent
    out = span // stride + 1
    if ceil_mode and span % stride:
        out += 1
        if (out - 1) * stride >= size + before:  # PyTorch's rule: no window starts in the right padding
            out -= 1
    read = [set(range(i * stride, i * stride + extent)) for i in range(out)]
    covered = set().union(*read)
    first, last = min(covered), max(covered)
    between = {q for q in range(first, last + 1) if q not in covered}
    tail_input = {q for q in range(last + 1, padded) if before <= q < before + size}
    kinds = set()
    if span % stride and (not ceil_mode or tail_input):
        kinds.add("fraction")  # PyTorch rounded a fraction down (a ceil_mode warning says the rest)
    if between:
        kinds.add("stride_gap")
    if ceil_mode and span % stride:
        kinds.add("ceil_mode")
    if before != after:
        kinds.add("asymmetric_padding")
    if out == 1 and size > 1:  # the 1×1 conv after it sees one position
        kinds.add("collapse")
    return kinds, bool(tail_input)


def window_cases() -> list[tuple[dict, int, tuple[int, int], bool]]:
    """(layer, J, (P_before, P_after), ceil_mode) over small k, s, P, dilation and ceil_mode."""
    cases = []
    for size, kernel, stride, dilation in itertools.product(range(1, 9), range(1, 5), range(1, 6), (1, 2)):
        extent = dilation * (kernel - 1) + 1
        for pad in range(3):
            cases.append(({"type": "conv2d", "out_channels": 1, "kernel_size": kernel, "stride": stride,
                           "padding": pad, "dilation": dilation}, size, (pad, pad), False))
        out = -(-size // stride)  # TensorFlow's SAME: ceil(J/s), the odd pad at the bottom/right
        total = max((out - 1) * stride + extent - size, 0)
        cases.append(({"type": "conv2d", "out_channels": 1, "kernel_size": kernel, "stride": stride,
                       "padding": "same", "dilation": dilation}, size, (total // 2, total - total // 2),
                      False))
        for pad, ceil_mode in itertools.product(range(kernel // 2 + 1), (False, True)):
            cases.append(({"type": "maxpool2d", "kernel_size": kernel, "stride": stride, "padding": pad,
                           "dilation": dilation, "ceil_mode": ceil_mode}, size, (pad, pad), ceil_mode))
            if dilation == 1:
                cases.append(({"type": "avgpool2d", "kernel_size": kernel, "stride": stride, "padding": pad,
                               "ceil_mode": ceil_mode}, size, (pad, pad), ceil_mode))
        if dilation == 1:
            cases.append(({"type": "subsampling", "kernel_size": kernel, "stride": stride}, size, (0, 0),
                          False))
    return cases


def test_each_warning_is_decided_on_its_own() -> None:
    """No warning hides another (ceil_mode once hid the stride gap): over every small layer, the
    kinds reported are exactly those its windows call for."""
    wrong = []
    checked = 0
    for layer, size, pads, ceil_mode in window_cases():
        found = expected_kinds(size, layer["kernel_size"], layer["stride"], pads, layer.get("dilation", 1),
                               ceil_mode)
        if found is None:
            continue
        kinds, input_lost = found
        spec = {"input": [1, size, size], "layers": [layer, {"type": "conv2d", "out_channels": 1,
                                                             "kernel_size": 1}]}
        report = analyze(load_spec(spec))
        got = [w for w in report.warnings if w.index == 1]
        checked += 1
        if sorted(w.kind for w in got) != sorted(kinds):
            wrong.append((layer, size, sorted(kinds), [w.kind for w in got]))
        # The fraction warning says whether input is lost, as the windows show.
        for w in got:
            if w.kind == "fraction" and ("of the input" in w.message) != input_lost:
                wrong.append((layer, size, "fraction message", w.message))
    assert checked > 2500
    assert wrong == [], wrong[:10]


def test_stride_gap_shows_with_ceil_mode() -> None:
    # The issue's example: k = 2, s = 3 on 10×10. ceil_mode adds a fourth window; rows 3, 6 and 9
    # (1-based) still fall between windows.
    report = report_of([1, 10, 10], {"type": "maxpool2d", "kernel_size": 2, "stride": 3, "ceil_mode": True})
    assert sorted(w.kind for w in report.warnings) == ["ceil_mode", "stride_gap"]


def test_each_collapse_is_its_own_warning() -> None:
    report = report_of([1, 8, 8],
                       {"type": "conv2d", "name": "squash", "out_channels": 4, "kernel_size": 8},
                       {"type": "maxpool2d", "name": "sees_one", "kernel_size": 1},
                       {"type": "zeropad2d", "name": "grow", "padding": 2},
                       {"type": "conv2d", "name": "squash_again", "out_channels": 4, "kernel_size": 5},
                       {"type": "conv2d", "name": "sees_one_again", "out_channels": 4, "kernel_size": 1})
    collapses = [(w.layer, w.message) for w in report.warnings if w.kind == "collapse"]
    assert [layer for layer, _ in collapses] == ["squash", "squash_again"]
    assert "(sees_one)" in collapses[0][1] and "(sees_one_again)" in collapses[1][1]
# --- what torch accepts, with torch's shapes and counts; what has no per-image meaning, refused --

def test_negative_zeropad_crops_and_moves_the_receptive_field() -> None:
    # torch's (left, right, top, bottom): crop 1 left, 2 right, 3 bottom; pad 1 on top.
    report = report_of([3, 8, 10], {"type": "zeropad2d", "padding": [-1, -2, 1, -3]})
    row = report.rows[0]
    assert row.output_shape == (3, 6, 7)
    height, width = row.receptive_field
    assert (height.start, width.start) == (-1, 1)  # first output row is padding, first column input 1
    assert report.warnings == []


def test_zeropad_cropping_the_whole_input_warns() -> None:
    # torch allows it when the other side pads: the output is only zeros.
    report = report_of([1, 4, 4], {"type": "zeropad2d", "padding": [-4, 2, 0, 0]})
    assert report.rows[0].output_shape == (1, 4, 2)
    assert messages(report, "cropped_away") == [
        "negative padding crops all 4 columns of the input: the output holds only padding (zeros)"]


@pytest.mark.parametrize(("padding", "needle"), [
    (-2, "crops 4 rows of the input's 4 (leaving none)"),
    ([-5, 3, 0, 0], "crops 5 columns of the input's 4 (more than it has)"),
])
def test_zeropad_cropping_too_much_is_refused(padding: int | list[int], needle: str) -> None:
    with pytest.raises(ShapeError) as caught:
        report_of([2, 4, 4], {"type": "zeropad2d", "padding": padding})
    assert needle in caught.value.issues[0].message


def test_linear_on_a_feature_map_acts_on_the_width() -> None:
    # torch: Linear(5, 4) on [N, 2, 3, 5] gives [N, 2, 3, 4]; the 2·3 rows share one layer's weights.
    report = report_of([2, 3, 5], {"type": "linear", "out_features": 4})
    row = report.rows[0]
    assert row.output_shape == (2, 3, 4)
    assert row.weights_per_neuron == 5 + 1
    assert row.neurons == 2 * 3 * 4
    assert row.connections == row.macs == 2 * 3 * 4 * 6
    assert row.parameters == 4 * 6
    assert row.notes and "same weights" in row.notes[0]
    height, width = row.receptive_field
    assert (height.size, height.jump) == (1, 1)  # each row sees its own row
    assert (width.size, width.jump, width.start) == (5, 0, 2)  # every output sees all 5 columns


def test_linear_and_batchnorm1d_on_channels_by_length() -> None:
    report = report_of([4, 3, 5], {"type": "flatten", "start_dim": 2}, {"type": "batchnorm1d"},
                       {"type": "linear", "out_features": 7, "bias": False})
    flatten, norm, linear = report.rows
    assert flatten.output_shape == (4, 15)
    assert (norm.output_shape, norm.parameters) == ((4, 15), 2 * 4)
    assert linear.output_shape == (4, 7)
    assert (linear.weights_per_neuron, linear.neurons, linear.parameters) == (15, 4 * 7, 7 * 15)


@pytest.mark.parametrize(("start", "end"), [(0, 0), (-4, 0), (2, 2), (-1, 3)])
def test_flatten_of_one_dim_changes_nothing(start: int, end: int) -> None:
    report = report_of([2, 3, 5], {"type": "flatten", "start_dim": start, "end_dim": end})
    assert report.rows[0].output_shape == (2, 3, 5)


@pytest.mark.parametrize(("layer", "needle"), [
    ({"type": "flatten", "start_dim": -4}, "start_dim -4 resolves to dim 0, which is the batch"),
    ({"type": "flatten", "start_dim": 0, "end_dim": 1}, "start_dim 0 is the batch"),
    ({"type": "softmax", "dim": -4}, "dim -4 resolves to dim 0, which is the batch"),
    ({"type": "logsoftmax", "dim": 0}, "dim 0 is the batch"),
])
def test_the_batch_dimension_is_refused_with_the_reason(layer: dict, needle: str) -> None:
    with pytest.raises(ShapeError) as caught:
        report_of([2, 3, 5], layer)
    message = caught.value.issues[0].message
    assert needle in message and "use " in message


def test_an_opaque_layer_counts_its_parameters_and_output_and_warns_of_the_rest() -> None:
    spec = {"input": [3, 16, 16], "layers": [
        {"name": "conv", "type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
        {"name": "blk", "type": "opaque", "module": "my.Block", "input_shape": [8, 16, 16],
         "output_shape": [8, 8, 8], "parameters": 1234},
        {"name": "conv2", "type": "conv2d", "out_channels": 4, "kernel_size": 3}]}
    report = analyze(spec)
    blk = report.rows[1]
    assert (blk.output_shape, blk.parameters, blk.neurons, blk.macs) == ((8, 8, 8), 1234, 0, 0)
    assert report.rows[2].input_shape == (8, 8, 8) and report.rows[2].receptive_field is None
    assert report.totals.parameters == 224 + 1234 + (8 * 9 + 1) * 4
    assert [(w.layer, w.kind) for w in report.warnings] == [("blk", "opaque")]
    assert "my.Block" in report.warnings[0].message
    spec["input"] = [3, 20, 20]
    with pytest.raises(ShapeError, match=r"blk.*traced with input \[8, 16, 16\].*\[8, 20, 20\]"):
        analyze(spec)
    del spec["layers"][1]["input_shape"]  # written by hand without the traced input: taken as given
    assert analyze(spec).rows[1].output_shape == (8, 8, 8)


def _scaled(**gamma: object) -> dict[str, object]:
    return {"input": [3, 8, 8], "layers": [
        {"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "gamma", "type": "parameter", "shape": [4, 1, 1], **gamma},
        {"name": "mul", "type": "mul", "from": ["conv", "gamma"]},
        {"name": "relu", "type": "relu"}]}


def test_a_parameter_reads_nothing_and_counts_its_values() -> None:
    report = analyze(_scaled())
    conv, gamma, mul, relu = report.rows
    assert (gamma.inputs, gamma.input_shape, gamma.output_shape) == ((), (), (4, 1, 1))
    assert (gamma.parameters, gamma.neurons, gamma.macs, gamma.output_bytes) == (4, 0, 0, 0)
    assert report.totals.parameters == (3 * 9 + 1) * 4 + 4
    # It does not depend on the input: the product keeps the convolution's field, no global context.
    assert mul.receptive_field == conv.receptive_field and not mul.global_context
    assert relu.inputs == ("mul",)
    # [1, C, H, W] is one image's [C, H, W]; a batch of more than one is refused.
    spec = _scaled()
    spec["layers"][1]["shape"] = [1, 4, 8, 8]  # type: ignore[index]
    assert analyze(spec).rows[1].output_shape == (4, 8, 8)
    spec["layers"][1]["shape"] = [2, 4, 1, 1]  # type: ignore[index]
    with pytest.raises(SpecError, match="first size the batch's 1"):
        load_spec(spec)


def test_a_parameter_with_from_or_read_where_left_out_is_refused() -> None:
    with pytest.raises(SpecError, match="reads nothing; leave out from"):
        analyze(_scaled(**{"from": "conv"}))
    with pytest.raises(SpecError, match="left out here"):
        analyze(_scaled(when=False))
    spec = _scaled(when=False)
    spec["layers"][2]["when"] = False  # type: ignore[index]
    assert [row.name for row in analyze(spec).rows] == ["conv", "relu"]  # both left out: fine


@pytest.mark.parametrize("after", [
    [{"name": "relu", "type": "relu", "from": "gamma"},
     {"name": "mul", "type": "mul", "from": ["conv", "relu"]}],
    [{"name": "beta", "type": "parameter", "shape": [4, 1, 1]},
     {"name": "sum", "type": "add", "from": ["gamma", "beta"]},
     {"name": "mul", "type": "mul", "from": ["conv", "sum"]}],
])
def test_a_layer_reading_only_parameters_without_the_batch_is_refused(after: list[dict[str, object]]) -> None:
    """torch holds a [C, 1, 1] parameter without the batch: what reads it alone computes without
    one (verify would find [1, 1] for [4, 1, 1], and flatten or batchnorm2d would differ)."""
    spec = {"input": [3, 8, 8], "layers": [*_scaled()["layers"][:2], *after]}  # type: ignore[misc]
    with pytest.raises(ShapeError) as caught:
        analyze(spec)
    issue = caught.value.issues[0]
    assert (issue.layer, issue.index) == (after[-2]["name"], len(spec["layers"]) - 1)
    # Written as [1, C, 1, 1] it has the batch's 1 and may be read alone.
    spec["layers"][1]["shape"] = [1, 4, 1, 1]  # type: ignore[index]
    assert analyze(spec).output_shape == (4, 8, 8)


def test_a_network_whose_output_reads_only_parameters_is_refused() -> None:
    for layers in ([{"name": "pos", "type": "parameter", "shape": [1, 3, 8, 8]}],
                   [*_scaled()["layers"][:2]]):  # type: ignore[misc]
        with pytest.raises(ShapeError) as caught:
            analyze({"input": [3, 8, 8], "layers": layers})
        issue = caught.value.issues[0]
        assert (issue.layer, issue.index) == (layers[-1]["name"], len(layers))


def test_an_opaque_layer_may_read_several_inputs_each_as_traced() -> None:
    spec = {"input": [3, 8, 8], "layers": [
        {"name": "a", "type": "conv2d", "out_channels": 4, "kernel_size": 1},
        {"name": "b", "type": "conv2d", "from": "input", "out_channels": 2, "kernel_size": 1},
        {"name": "gate", "type": "opaque", "from": ["a", "b"], "input_shapes": [[4, 8, 8], [2, 8, 8]],
         "output_shape": [4, 8, 8], "parameters": 10}]}
    gate = analyze(spec).rows[-1]
    assert (gate.input_shapes, gate.output_shape, gate.parameters) == (((4, 8, 8), (2, 8, 8)), (4, 8, 8), 10)
    spec["layers"][-1]["from"] = ["b", "a"]  # type: ignore[index]
    with pytest.raises(ShapeError, match=r"traced with input \[4, 8, 8\] and \[2, 8, 8\]"):
        analyze(spec)
    spec["layers"][-1]["from"] = ["a", "b", "a"]  # type: ignore[index]
    with pytest.raises(ShapeError, match="traced with 2 inputs"):
        analyze(spec)
    spec["layers"][-1].update({"from": ["a", "b"], "input_shape": [4, 8, 8]})  # type: ignore[union-attr]
    with pytest.raises(SpecError, match="not both"):
        analyze(spec)
    del spec["layers"][-1]["input_shapes"]  # type: ignore[attr-defined]
    with pytest.raises(ShapeError, match="reads 2 inputs; give each one's shape in input_shapes"):
        analyze(spec)


def test_a_2d_layer_after_an_opaque_layer_is_not_told_about_flatten() -> None:
    spec = {"input": [3, 16, 16], "layers": [
        {"name": "blk", "type": "opaque", "output_shape": [8, 64], "module": "Tokens"},
        {"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 3}]}
    with pytest.raises(ShapeError) as caught:
        analyze(spec)
    assert "opaque layer's output" in str(caught.value) and "flatten" not in str(caught.value)
