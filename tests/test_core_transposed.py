"""Transposed convolution's arithmetic (contract §1b): sizes from PyTorch, taps by brute force."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.analysis.core import Taps, conv_transpose_output_size, transposed_taps


def brute_force(size: int, kernel: int, stride: int, padding: int, output_padding: int,
                dilation: int) -> Taps:
    """Every (input, tap) pair placed at its output o = i·s + k·d − P, counted per output."""
    out = conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation)
    reached: Counter[int] = Counter()
    for i, k in itertools.product(range(size), range(kernel)):
        o = i * stride + k * dilation - padding
        if 0 <= o < out:
            reached[o] += 1
    return Taps(total=sum(reached.values()), most=max((reached[o] for o in range(out)), default=0))


def test_every_small_case_against_brute_force() -> None:
    checked = 0
    for size, kernel, stride, padding, dilation in itertools.product(
            range(1, 7), range(1, 5), range(1, 5), range(4), range(1, 4)):
        for output_padding in range(max(stride, dilation)):  # torch's rule: below stride or dilation
            if conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation) < 1:
                continue
            expected = brute_force(size, kernel, stride, padding, output_padding, dilation)
            assert transposed_taps(size, kernel, stride, padding, output_padding, dilation) == expected
            checked += 1
    assert checked > 2000


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 40), st.integers(1, 7), st.integers(1, 6), st.integers(0, 6), st.integers(1, 4),
       st.data())
def test_larger_cases_against_brute_force(size: int, kernel: int, stride: int, padding: int,
                                          dilation: int, data: st.DataObject) -> None:
    output_padding = data.draw(st.integers(0, max(stride, dilation) - 1))
    if conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation) < 1:
        return
    assert transposed_taps(size, kernel, stride, padding, output_padding, dilation) == brute_force(
        size, kernel, stride, padding, output_padding, dilation)


@pytest.mark.parametrize("args, out", [
    ((28, 2, 2), 56),            # U-Net's 2×2 up-convolution doubles the size
    ((7, 4, 2, 1), 14),          # DCGAN's 4×4, stride 2, padding 1
    ((7, 3, 2, 1, 1), 14),       # output_padding picks the even size
    ((7, 3, 2, 1, 0), 13),
    ((5, 3, 1, 0, 0, 2), 9),     # dilation: d·(M − 1) + 1 = 5
])
def test_output_size(args: tuple[int, ...], out: int) -> None:
    assert conv_transpose_output_size(*args) == out


def test_the_count_varies_with_the_output_position() -> None:
    """Stride 2, kernel 3: outputs alternate between two taps and one (the checkerboard)."""
    taps = transposed_taps(4, 3, 2)
    assert taps.most == 2
    assert taps.total == 4 * 3  # no padding: every (input, tap) pair lands on an output


def test_work_does_not_grow_with_the_image() -> None:
    assert transposed_taps(2**30, 3, 2, 1, 1).most == 2
    # every pair lands on an output but the first input's first tap, which falls in the padding
    assert transposed_taps(2**30, 3, 2, 1, 1).total == 2**30 * 3 - 1
