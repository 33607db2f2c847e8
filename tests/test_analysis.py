"""The walk: warnings, receptive fields, memory and MACs on small hand-checked specs."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cnncalc import ShapeError, analyze, load_spec
from cnncalc.analysis import Report


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
    ([{"type": "linear", "out_features": 3}], "linear needs a flat input [features]; got [4, 4, 4]"),
])
def test_shape_errors(layers: list[dict], needle: str) -> None:
    with pytest.raises(ShapeError) as caught:
        report_of([4, 4, 4], *layers)
    assert needle in caught.value.issues[0].message
