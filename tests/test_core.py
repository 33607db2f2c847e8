"""Table-driven tests of the pure arithmetic in cnncalc.core, with torch as the referee.

Each table row's expected value is checked twice: against cnncalc.analysis.core, and
(where torch defines the quantity) against what torch actually does. Grids of
small sizes then compare the functions with torch by brute force.
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

from cnncalc.analysis.core import (
    ReceptiveField,
    adaptive_connections,
    adaptive_max_window,
    conv_output_size,
    pool_output_size,
    same_padding,
    window,
)

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]


# --- what torch does, one dimension at a time ------------------------------------------

def torch_conv_size(size: int, kernel: int, stride: int, before: int, after: int, dilation: int) -> int:
    """Output width of a real convolution, or 0 when torch refuses (the kernel does not fit)."""
    x = F.pad(torch.ones(1, 1, size), (before, after))
    try:
        return F.conv1d(x, torch.ones(1, 1, kernel), stride=stride, dilation=dilation).shape[-1]
    except RuntimeError:
        return 0


def torch_pool_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool,
                    kind: str = "max") -> int:
    """Output width of real 2-d pooling over a 1 × size map, or 0 when torch refuses."""
    x = torch.ones(1, 1, 1, size)
    try:
        if kind == "max":
            y = F.max_pool2d(x, (1, kernel), (1, stride), (0, pad), (1, dilation), ceil_mode=ceil_mode)
        else:
            assert dilation == 1
            y = F.avg_pool2d(x, (1, kernel), (1, stride), (0, pad), ceil_mode=ceil_mode)
    except RuntimeError:
        return 0
    return y.shape[-1]


def adaptive_windows(size: int, out: int) -> list[list[int]]:
    """The input positions each output of adaptive pooling reads, as torch really pools them.

    Pooling the identity matrix (one one-hot input per batch item) shows, for each
    output, which inputs reach it.
    """
    reached = F.adaptive_avg_pool1d(torch.eye(size, dtype=torch.float64).unsqueeze(1), out)[:, 0, :]
    return [torch.nonzero(reached[:, i]).flatten().tolist() for i in range(out)]


# --- conv_output_size -------------------------------------------------------------------------

# (size, kernel, stride, pad_before, pad_after, dilation, expected)
CONV_CASES = [
    (32, 5, 1, 0, 0, 1, 28),  # LeNet C1
    (224, 11, 4, 2, 2, 1, 55),  # AlexNet conv1 (torchvision): (224 + 4 − 11)/4 = 54.25 → 55
    (224, 11, 4, 0, 0, 1, 54),  # ... unpadded
    (227, 11, 4, 0, 0, 1, 55),  # ... the paper's 227
    (224, 3, 1, 1, 1, 1, 224),  # VGG 'same' by hand
    (224, 7, 2, 3, 3, 1, 112),  # ResNet stem
    (224, 7, 2, 2, 3, 1, 112),  # ... TensorFlow's uneven SAME
    (10, 3, 1, 0, 0, 2, 6),  # dilated to 5
    (5, 5, 1, 0, 0, 1, 1),  # exactly fits
    (4, 5, 1, 0, 0, 1, 0),  # does not fit: below 1
    (4, 5, 1, 1, 0, 1, 1),  # ... one pixel of padding makes it fit
    (3, 3, 1, 0, 0, 2, -1),  # dilated past the input
    (1, 1, 5, 0, 0, 1, 1),
]


@pytest.mark.parametrize(("size", "kernel", "stride", "before", "after", "dilation", "expected"), CONV_CASES)
def test_conv_output_size(size: int, kernel: int, stride: int, before: int, after: int, dilation: int,
                          expected: int) -> None:
    assert conv_output_size(size, kernel, stride, before, after, dilation) == expected
    assert torch_conv_size(size, kernel, stride, before, after, dilation) == max(expected, 0)


def test_conv_output_size_symmetric_padding_by_default() -> None:
    assert conv_output_size(224, 11, 4, 2) == conv_output_size(224, 11, 4, 2, 2) == 55


def test_conv_output_size_matches_torch_on_a_grid() -> None:
    wrong = []
    for size, kernel, stride, before, after, dilation in itertools.product(
            range(1, 11), range(1, 6), range(1, 4), range(3), range(3), range(1, 4)):
        ours = conv_output_size(size, kernel, stride, before, after, dilation)
        theirs = torch_conv_size(size, kernel, stride, before, after, dilation)
        if max(ours, 0) != theirs:
            wrong.append((size, kernel, stride, before, after, dilation, ours, theirs))
    assert not wrong


# --- pool_output_size, with ceil_mode and its drop rule ------------------------------------

# (size, kernel, stride, padding, dilation, ceil_mode, expected)
POOL_CASES = [
    (28, 2, 2, 0, 1, False, 14),
    (55, 3, 2, 0, 1, False, 27),  # AlexNet pool1
    (112, 3, 2, 0, 1, True, 56),  # GoogLeNet: 54.5 rounded up
    (112, 3, 2, 0, 1, False, 55),
    (5, 2, 2, 0, 1, True, 3),  # ceil_mode adds a partial last window
    (5, 2, 2, 1, 1, True, 3),  # ceil would give 4, but window 4 starts in the right padding: dropped
    (3, 2, 2, 1, 1, True, 2),  # dropped likewise (3 → 2)
    (1, 2, 2, 1, 1, True, 1),  # dropped likewise (2 → 1)
    (6, 3, 3, 1, 1, True, 3),  # kept: the last window starts inside the input
    (7, 3, 2, 1, 2, False, 3),  # dilated to 5
    (2, 3, 1, 0, 1, False, 0),  # does not fit
    (2, 3, 1, 0, 1, True, 0),  # ... nor with ceil_mode
    (1, 2, 2, 0, 1, True, 1),  # ceil_mode lets a window hang off the end of a 1-pixel input
]


@pytest.mark.parametrize(("size", "kernel", "stride", "padding", "dilation", "ceil_mode", "expected"),
                         POOL_CASES)
def test_pool_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int,
                          ceil_mode: bool, expected: int) -> None:
    assert pool_output_size(size, kernel, stride, padding, dilation, ceil_mode) == expected
    assert torch_pool_size(size, kernel, stride, padding, dilation, ceil_mode) == max(expected, 0)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_output_size_matches_torch_on_a_grid(kind: str) -> None:
    wrong = []
    dilations = range(1, 4) if kind == "max" else (1,)
    for size, kernel, stride, dilation, ceil_mode in itertools.product(
            range(1, 13), range(1, 6), range(1, 5), dilations, (False, True)):
        for pad in range(kernel // 2 + 1):  # torch allows padding up to half the kernel
            ours = pool_output_size(size, kernel, stride, pad, dilation, ceil_mode)
            theirs = torch_pool_size(size, kernel, stride, pad, dilation, ceil_mode, kind)
            if max(ours, 0) != theirs:
                wrong.append((size, kernel, stride, pad, dilation, ceil_mode, ours, theirs))
    assert not wrong


# --- same_padding -------------------------------------------------------------------------------

# (size, kernel, stride, dilation, expected (before, after)): TensorFlow's SAME
SAME_CASES = [
    (32, 3, 1, 1, (1, 1)),
    (32, 4, 1, 1, (1, 2)),  # even kernel: the extra pixel after
    (5, 2, 1, 1, (0, 1)),
    (2, 5, 1, 1, (2, 2)),  # kernel larger than the input
    (3, 3, 1, 2, (2, 2)),  # dilated to 5
    (224, 7, 2, 1, (2, 3)),  # ResNet stem under TensorFlow
    (5, 3, 2, 1, (1, 1)),
    (6, 3, 2, 1, (0, 1)),
    (7, 1, 3, 1, (0, 0)),
    (4, 4, 4, 1, (0, 0)),
    (1, 4, 3, 1, (1, 2)),
]


@pytest.mark.parametrize(("size", "kernel", "stride", "dilation", "expected"), SAME_CASES)
def test_same_padding(size: int, kernel: int, stride: int, dilation: int, expected: tuple[int, int]) -> None:
    assert same_padding(size, kernel, stride, dilation) == expected
    assert conv_output_size(size, kernel, stride, *expected, dilation) == math.ceil(size / stride)


def test_same_padding_gives_ceil_j_over_s_with_the_least_padding() -> None:
    for size, kernel, stride, dilation in itertools.product(range(1, 15), range(1, 7), range(1, 5),
                                                            range(1, 3)):
        before, after = same_padding(size, kernel, stride, dilation)
        assert after - before in (0, 1)
        assert conv_output_size(size, kernel, stride, before, after, dilation) == -(-size // stride)
        if before + after:  # one pixel less padding would lose an output
            less = conv_output_size(size, kernel, stride, 0, before + after - 1, dilation)
            assert less < -(-size // stride)


# torch warns that an even kernel makes it copy the input to pad it; that is the case under test.
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths:UserWarning")
def test_same_padding_at_stride_1_is_torchs_padding_same() -> None:
    torch.manual_seed(0)
    for size, kernel, dilation in itertools.product(range(1, 11), range(1, 7), range(1, 4)):
        x, w = torch.randn(1, 1, size, dtype=torch.float64), torch.randn(1, 1, kernel, dtype=torch.float64)
        native = F.conv1d(x, w, padding="same", dilation=dilation)
        explicit = F.conv1d(F.pad(x, same_padding(size, kernel, 1, dilation)), w, dilation=dilation)
        torch.testing.assert_close(native, explicit)


# --- window -------------------------------------------------------------------------------------

# (size, kernel, stride, before, after, dilation, out) →
# (fraction, unread_input, unread_padding, overhang, skipped)
WINDOW_CASES = [
    ((224, 11, 4, 0, 0, 1, 54), (Fraction(213, 4), 1, 0, 0, 0)),  # AlexNet loses the last column
    ((224, 11, 4, 2, 2, 1, 55), (Fraction(217, 4), 0, 1, 0, 0)),  # ... padded: only padding is lost
    ((227, 11, 4, 0, 0, 1, 55), (Fraction(54), 0, 0, 0, 0)),  # ... the paper's 227 is whole
    ((10, 1, 3, 0, 0, 1, 4), (Fraction(3), 0, 0, 0, 2)),  # stride 3 over a 1-wide kernel skips 2
    ((5, 2, 2, 0, 0, 1, 3), (Fraction(3, 2), 0, 0, 1, 0)),  # a ceil_mode window hangs 1 past the end
    ((10, 3, 1, 0, 0, 2, 6), (Fraction(5), 0, 0, 0, 0)),  # dilated to 5
    ((9, 2, 3, 0, 0, 1, 3), (Fraction(7, 3), 1, 0, 0, 1)),
]


@pytest.mark.parametrize(("args", "expected"), WINDOW_CASES)
def test_window(args: tuple[int, ...], expected: tuple[Fraction, int, int, int, int]) -> None:
    w = window(*args)
    assert (w.fraction, w.unread_input, w.unread_padding, w.overhang, w.skipped) == expected
    assert w.out == args[-1]
    assert w.whole == (expected[0].denominator == 1)


def conv_taps(padded: int, kernel: int, stride: int, dilation: int) -> list[list[int]]:
    """The padded positions each output of a real convolution reads (its taps).

    Convolving the identity matrix (one one-hot padded input per batch item) with
    all-ones weights shows, for each output, which positions reach it.
    """
    reached = F.conv1d(torch.eye(padded, dtype=torch.float64).unsqueeze(1),
                       torch.ones(1, 1, kernel, dtype=torch.float64), stride=stride, dilation=dilation)
    return [torch.nonzero(reached[:, 0, i]).flatten().tolist() for i in range(reached.shape[-1])]


def test_window_matches_torchs_taps_on_a_grid() -> None:
    """What no window reaches past the last one, and the gaps between windows, as torch reads them."""
    wrong = []
    for size, kernel, stride, before, after, dilation in itertools.product(
            range(1, 10), range(1, 5), range(1, 5), range(3), range(3), range(1, 3)):
        out = conv_output_size(size, kernel, stride, before, after, dilation)
        if out < 1:
            continue
        padded = size + before + after
        taps = conv_taps(padded, kernel, stride, dilation)
        past_last = range(taps[-1][-1] + 1, padded)  # padded positions after the last window
        unread_input = sum(1 for p in past_last if p < before + size)
        skipped = max(taps[1][0] - taps[0][-1] - 1, 0) if out > 1 else None
        w = window(size, kernel, stride, before, after, dilation, out)
        ours = (w.out, w.unread_input, w.unread_padding, w.overhang,
                w.skipped if skipped is not None else None)
        theirs = (len(taps), unread_input, len(past_last) - unread_input, 0, skipped)
        if ours != theirs:
            wrong.append(((size, kernel, stride, before, after, dilation), ours, theirs))
    assert not wrong


# --- adaptive pooling ------------------------------------------------------------------------------

def test_adaptive_windows_are_torchs() -> None:
    """Torch's window i is floor(i·J/O) … ceil((i+1)·J/O) − 1, also when O > J."""
    for size, out in itertools.product(range(1, 21), range(1, 26)):
        expected = [list(range(i * size // out, -(-(i + 1) * size // out))) for i in range(out)]
        assert adaptive_windows(size, out) == expected, (size, out)


# (size, out, connections, largest window)
ADAPTIVE_CASES = [
    (6, 6, 6, 1),
    (6, 3, 6, 2),  # divisible: windows of 2
    (7, 3, 9, 3),  # windows 0-2, 2-4, 4-6
    (13, 6, 18, 3),  # the AlexNet-style 13 → 6: windows 3 wide, overlapping by one
    (5, 7, 11, 2),  # output larger than the input
    (1, 4, 4, 1),
    (10, 1, 10, 10),  # global pooling
]


@pytest.mark.parametrize(("size", "out", "connections", "largest"), ADAPTIVE_CASES)
def test_adaptive(size: int, out: int, connections: int, largest: int) -> None:
    assert adaptive_connections(size, out) == connections
    assert adaptive_max_window(size, out) == largest
    windows = adaptive_windows(size, out)
    assert sum(map(len, windows)) == connections
    assert max(map(len, windows)) == largest


def test_adaptive_matches_torch_on_a_grid() -> None:
    wrong = []
    for size, out in itertools.product(range(1, 41), range(1, 51)):
        windows = adaptive_windows(size, out)
        theirs = (sum(map(len, windows)), max(map(len, windows)))
        ours = (adaptive_connections(size, out), adaptive_max_window(size, out))
        if ours != theirs:
            wrong.append((size, out, ours, theirs))
    assert not wrong


# --- ReceptiveField.through -------------------------------------------------------------------------

# A layer along one axis: (kernel, stride, pad_before, dilation).
Layer1d = tuple[int, int, int, int]

# (layers, expected size, jump, start)
RF_CASES: list[tuple[list[Layer1d], int, int, Fraction]] = [
    ([], 1, 1, Fraction(0)),
    ([(3, 1, 0, 1)], 3, 1, Fraction(1)),  # the first output sees inputs 0..2, centred on 1
    ([(3, 1, 1, 1)], 3, 1, Fraction(0)),  # padded: centred on input 0
    ([(3, 1, 1, 1)] * 2, 5, 1, Fraction(0)),
    ([(3, 1, 1, 1)] * 3, 7, 1, Fraction(0)),
    ([(5, 1, 0, 1), (2, 2, 0, 1), (5, 1, 0, 1), (2, 2, 0, 1)], 16, 4, Fraction(15, 2)),  # LeNet S4
    ([(11, 4, 0, 1)], 11, 4, Fraction(5)),  # AlexNet conv1
    ([(3, 1, 0, 2)], 5, 1, Fraction(2)),  # dilation 2
    ([(3, 2, 2, 1)], 3, 2, Fraction(-1)),  # the first field is centred in the padding
    ([(2, 1, 0, 1)], 2, 1, Fraction(1, 2)),  # an even kernel centres between pixels
]


@pytest.mark.parametrize(("layers", "size", "jump", "start"), RF_CASES)
def test_receptive_field_through(layers: list[Layer1d], size: int, jump: int, start: Fraction) -> None:
    rf = ReceptiveField()
    for kernel, stride, pad, dilation in layers:
        rf = rf.through(kernel, stride, pad, dilation)
    assert (rf.size, rf.jump, rf.start) == (size, jump, start)


# Conv stacks in 2-d, each layer ((kernel, stride, pad, dilation) along height, ... along width).
RF_STACKS: list[list[tuple[Layer1d, Layer1d]]] = [
    [((3, 1, 1, 1), (3, 1, 1, 1))] * 2,
    [((5, 1, 0, 1), (5, 1, 0, 1)), ((2, 2, 0, 1), (2, 2, 0, 1)),
     ((5, 1, 0, 1), (5, 1, 0, 1)), ((2, 2, 0, 1), (2, 2, 0, 1))],  # LeNet to S4
    [((7, 2, 3, 1), (7, 2, 3, 1)), ((3, 2, 1, 1), (3, 2, 1, 1)), ((3, 1, 1, 1), (3, 1, 1, 1))],  # ResNet stem
    [((3, 2, 1, 1), (1, 1, 0, 1)), ((3, 1, 1, 2), (5, 2, 2, 1)), ((4, 2, 1, 1), (2, 1, 0, 3))],  # mixed
    [((3, 1, 0, 3), (3, 1, 0, 1)), ((2, 3, 1, 1), (3, 3, 0, 2))],  # dilation and strides over kernels
]


@pytest.mark.parametrize("stack", RF_STACKS)
def test_receptive_field_matches_torch_gradient_footprint(stack: list[tuple[Layer1d, Layer1d]]) -> None:
    """Backpropagate from one interior output pixel through all-ones convolutions: the input
    pixels with a nonzero gradient span the receptive field, centred where ``start`` and
    ``jump`` say."""
    side = 64
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    y = x
    fields = [ReceptiveField(), ReceptiveField()]
    for (kh, sh, ph, dh), (kw, sw, pw, dw) in stack:
        y = F.conv2d(y, torch.ones(1, 1, kh, kw, dtype=torch.float64), stride=(sh, sw), padding=(ph, pw),
                     dilation=(dh, dw))
        fields = [fields[0].through(kh, sh, ph, dh), fields[1].through(kw, sw, pw, dw)]
    # An output pixel in the middle, whose field lies wholly inside the input.
    row, col = y.shape[2] // 2, y.shape[3] // 2
    y[0, 0, row, col].backward()  # type: ignore[no-untyped-call]
    assert x.grad is not None
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    for rf, index, hits in ((fields[0], row, rows), (fields[1], col, cols)):
        lo, hi = int(hits.min()), int(hits.max())
        assert lo > 0 and hi < side - 1, "the field must not touch the border for this test"
        assert hi - lo + 1 == rf.size
        assert Fraction(lo + hi, 2) == rf.start + index * rf.jump
