"""Every number in the lecture's worked examples (COMP9444 3b, convolutional networks)."""

from __future__ import annotations

import pytest

from cnncalc import analyze, load_spec


def one_layer(input_shape: list[int], layer: dict) -> dict:
    report = analyze(load_spec({"input": input_shape, "layers": [layer]}))
    return report.to_dict()["layers"][0]


def test_lenet_colour_conv1() -> None:
    # "J = K = 32, M = N = 5 ... 6 filters": 28 wide; 1 + 5×5×3 = 76 weights per neuron,
    # 28 × 28 × 6 = 4,704 neurons, × 76 = 357,504 connections, 6 × 76 = 456 parameters.
    row = one_layer([3, 32, 32], {"type": "conv2d", "out_channels": 6, "kernel_size": 5})
    assert row["output_shape"] == [6, 28, 28]
    assert row["weights_per_neuron"] == 76
    assert row["neurons"] == 4_704
    assert row["connections"] == 357_504
    assert row["parameters"] == 456


def test_alexnet_conv1() -> None:
    # "J = K = 224, P = 2, M = N = 11, s = 4 ... 96 filters": 1 + (224 + 2×2 − 11)/4 = 55;
    # 364 weights per neuron, 290,400 neurons, 105,705,600 connections, 34,944 parameters.
    row = one_layer([3, 224, 224], {"type": "conv2d", "out_channels": 96, "kernel_size": 11,
                                    "stride": 4, "padding": 2})
    assert row["output_shape"] == [96, 55, 55]
    assert row["weights_per_neuron"] == 364
    assert row["neurons"] == 290_400
    assert row["connections"] == 105_705_600
    assert row["parameters"] == 34_944


def test_alexnet_conv1_fraction_is_warned() -> None:
    # (224 + 4 − 11)/4 = 54.25: the lecture writes 55; the report says why it is not whole.
    report = analyze(load_spec("alexnet"))
    (warning,) = [w for w in report.warnings if w.layer == "conv1"]
    assert warning.kind == "fraction"
    assert "(224 + 2×2 − 11)/4 = 54.25" in warning.message
    assert "1 + 54 = 55" in warning.message
    assert "no input is lost" in warning.message


def test_overlapping_pooling() -> None:
    # Max pooling with width 3 and stride 2 on 55 × 55: 1 + (55 − 3)/2 = 27, no parameters.
    row = one_layer([96, 55, 55], {"type": "maxpool2d", "kernel_size": 3, "stride": 2})
    assert row["output_shape"] == [96, 27, 27]
    assert row["parameters"] == 0
    assert row["weights_per_neuron"] == 0


def test_lenet_on_mnist_sizes() -> None:
    # "32 × 32 ... a 28 × 28 array of features. Subsampling then halves this size to 14 × 14.
    # The second convolution layer ... a 10 × 10 array ... reduces to 5 × 5."
    rows = analyze(load_spec("lenet5")).rows
    sizes = [row.output_shape[1:] for row in rows[:4]]
    assert sizes == [(28, 28), (14, 14), (10, 10), (5, 5)]


def test_stride_example() -> None:
    # J = 7, K = 9, L = 3, M = N = 3, s = 2: (1 + (7 − 3)/2) by (1 + (9 − 3)/2) = 3 × 4,
    # and 1 + L × M × N = 28 free parameters per filter.
    row = one_layer([3, 7, 9], {"type": "conv2d", "out_channels": 1, "kernel_size": 3, "stride": 2})
    assert row["output_shape"] == [1, 3, 4]
    assert row["parameters"] == 1 + 3 * 3 * 3


def test_six_by_seven_example() -> None:
    # J = 6, K = 7, L = 3, M = N = 3: the layer is (J + 1 − M) × (K + 1 − N) = 4 × 5.
    row = one_layer([3, 6, 7], {"type": "conv2d", "out_channels": 1, "kernel_size": 3})
    assert row["output_shape"] == [1, 4, 5]


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_zero_padding_keeps_the_size(kernel: int) -> None:
    # "With zero padding, the convolution layer is the same size as the original image."
    row = one_layer([3, 6, 7], {"type": "conv2d", "out_channels": 4, "kernel_size": kernel,
                                "padding": kernel // 2})
    assert row["output_shape"] == [4, 6, 7]
    same = one_layer([3, 6, 7], {"type": "conv2d", "out_channels": 4, "kernel_size": kernel,
                                 "padding": "same"})
    assert same["output_shape"] == [4, 6, 7]


def test_lecture_words_are_aliases() -> None:
    # The lecture's (and Keras') words give the same layer as torch's names.
    words = one_layer([3, 32, 32], {"type": "conv", "filters": 6, "kernel": 5})
    torch_names = one_layer([3, 32, 32], {"type": "conv2d", "out_channels": 6, "kernel_size": 5})
    assert words == torch_names
    report = analyze(load_spec({"input": [16, 5, 5], "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 120}]}))
    assert report.rows[1].parameters == 400 * 120 + 120
