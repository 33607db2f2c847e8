"""Receptive fields through branches and upsampling, checked against a float64 gradient.

Each test writes a small network twice: as a cnncalc spec, and in plain torch with every weight
positive (so no gradients cancel) and max pooling replaced by average pooling of the same
geometry (a max routes its gradient to one pixel; the field is what any window position could
pass on). The input is large enough that the fields checked lie inside it. For an output position
t on the diagonal, d(output[t, t]) / d(input) is nonzero on the rows and columns that output sees:
its first and last must be the analysis's ``at(t)`` along height and width, at every interior t,
and the largest extent over them the analysis's ``size``. Channels do not change which pixels an
output sees, so the torch networks use one channel.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import pytest
import yaml

torch = pytest.importorskip("torch")
F = torch.nn.functional

from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnncalc import ShapeError, analyze, load_spec  # noqa: E402
from cnncalc.analysis.core import ReceptiveField  # noqa: E402
from cnncalc.analysis.walk import LayerRow, Report  # noqa: E402

Tensor = Any
Net = Callable[[Tensor], Tensor]


# --- torch building blocks: one channel, positive weights, float64 --------------------------------

def conv(x: Tensor, k: int | tuple[int, int], s: int = 1, p: int = 0, d: int = 1) -> Tensor:
    kh, kw = (k, k) if isinstance(k, int) else k
    return F.conv2d(x, torch.ones(1, 1, kh, kw, dtype=torch.float64), stride=s, padding=p, dilation=d)


def tconv(x: Tensor, k: int, s: int = 1, p: int = 0, op: int = 0, d: int = 1) -> Tensor:
    return F.conv_transpose2d(x, torch.ones(1, 1, k, k, dtype=torch.float64), stride=s, padding=p,
                              output_padding=op, dilation=d)


def pool(x: Tensor, k: int, s: int | None = None, p: int = 0) -> Tensor:
    return F.avg_pool2d(x, k, s if s is not None else k, p)


def crop_to(x: Tensor, like: Tensor) -> Tensor:
    """centercrop as the contract defines it: top = (H − h) // 2, left = (W − w) // 2."""
    h, w = like.shape[2:]
    top, left = (x.shape[2] - h) // 2, (x.shape[3] - w) // 2
    return x[:, :, top:top + h, left:left + w]


def rows_of(text: str, input_side: int) -> dict[str, LayerRow]:
    spec = yaml.safe_load(text)
    spec["input"] = [3, input_side, input_side]
    return {row.name: row for row in analyze(load_spec(spec)).rows}


def report_of(text: str, input_side: int) -> Report:
    spec = yaml.safe_load(text)
    spec["input"] = [3, input_side, input_side]
    return analyze(load_spec(spec))


def extents(net: Net, side: int) -> dict[int, tuple[tuple[int, int], tuple[int, int]] | None]:
    """For output positions (t, t): the first and last input row and column with a nonzero gradient
    (None where no input reaches that output), keyed by t, where that field lies inside the input
    (touching no border)."""
    x = torch.ones(1, 1, side, side, dtype=torch.float64, requires_grad=True)
    y = net(x)
    found: dict[int, tuple[tuple[int, int], tuple[int, int]] | None] = {}
    for t in range(min(y.shape[2], y.shape[3])):
        (grad,) = torch.autograd.grad(y[0, 0, t, t], x, retain_graph=True)
        rows, cols = torch.nonzero(grad[0, 0], as_tuple=True)
        if len(rows) == 0:
            found[t] = None
            continue
        bounds = ((int(rows.min()), int(rows.max())), (int(cols.min()), int(cols.max())))
        if all(low > 0 and high < side - 1 for low, high in bounds):
            found[t] = bounds
    return found


def assert_field(row: LayerRow, net: Net, side: int, at_least: int = 4) -> None:
    """The analysis's field of ``row`` is the gradient's at every interior position; its size is
    the largest of them where those positions cover a whole period of the field (always, except
    after align_corners, whose pattern can span the map), and never less."""
    assert row.receptive_field is not None, row.name
    height, width = row.receptive_field
    found = extents(net, side)
    assert len(found) >= at_least, "too few interior positions"
    for t, bounds in found.items():
        assert (height.at(t), width.at(t)) == (bounds or (None, None)), (row.name, t)
    seen = [b for b in found.values() if b is not None]
    for axis, field in ((0, height), (1, width)):
        largest = max(b[axis][1] - b[axis][0] + 1 for b in seen)
        if len(found) >= field.period + 2:
            assert largest == field.size, (row.name, axis)
        assert field.size >= largest
        if field.even:  # evenly stepping fields: centre = start + t·jump
            for t, bounds in found.items():
                assert bounds is not None
                assert Fraction(sum(bounds[axis]), 2) == field.start + t * field.jump


# --- residual, Inception, dilation ------------------------------------------------------------------

RESIDUAL = """
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: a, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
  - {name: b, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
  - {name: proj, type: conv2d, from: stem, out_channels: 16, kernel_size: 1, stride: 2}
  - {name: add, type: add, from: [b, proj]}
  - {name: relu, type: relu}
  - {name: after, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
"""


def test_residual_add_with_a_stride_2_projection() -> None:
    rows = rows_of(RESIDUAL, 64)

    def up_to_add(x: Tensor) -> Tensor:
        stem = conv(x, 3, p=1)
        return conv(conv(stem, 3, 2, 1), 3, p=1) + conv(stem, 1, 2)

    assert_field(rows["add"], up_to_add, 64)
    assert_field(rows["after"], lambda x: conv(F.relu(up_to_add(x)), 3, 2, 1), 64)
    assert (rows["add"].receptive_field[0].size, rows["add"].receptive_field[0].jump) == (9, 2)
    assert not [w for w in report_of(RESIDUAL, 64).warnings if w.kind == "unaligned"]


INCEPTION = """
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: b1, type: conv2d, from: stem, out_channels: 4, kernel_size: 1}
  - {name: b3, type: conv2d, from: stem, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: b5, type: conv2d, from: stem, out_channels: 4, kernel_size: 5, padding: 2}
  - {name: bp, type: maxpool2d, from: stem, kernel_size: 3, stride: 1, padding: 1}
  - {name: bp1, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: cat, type: concat, from: [b1, b3, b5, bp1]}
  - {name: next, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
"""


def test_inception_concat_of_1x1_3x3_5x5_and_pool() -> None:
    rows = rows_of(INCEPTION, 64)

    def cat(x: Tensor) -> Tensor:
        stem = conv(x, 3, 2, 1)
        return conv(stem, 1) + conv(stem, 3, p=1) + conv(stem, 5, p=2) + conv(pool(stem, 3, 1, 1), 1)

    assert_field(rows["cat"], cat, 64)
    assert_field(rows["next"], lambda x: conv(cat(x), 3, p=1), 64)
    assert rows["cat"].receptive_field[0].size == 3 + 4 * 2  # the 5×5 branch, at jump 2


DILATED = """
layers:
  - {name: stem, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: d1, type: conv2d, from: stem, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: d2, type: conv2d, from: stem, out_channels: 4, kernel_size: 3, padding: 2, dilation: 2}
  - {name: d4, type: conv2d, from: stem, out_channels: 4, kernel_size: 3, padding: 4, dilation: 4}
  - {name: sum, type: add, from: [d1, d2, d4]}
  - {name: down, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, dilation: 3}
"""


def test_dilated_branches() -> None:
    rows = rows_of(DILATED, 64)

    def summed(x: Tensor) -> Tensor:
        stem = conv(x, 3, p=1)
        return conv(stem, 3, p=1) + conv(stem, 3, p=2, d=2) + conv(stem, 3, p=4, d=4)

    assert_field(rows["sum"], summed, 64)
    assert_field(rows["down"], lambda x: conv(summed(x), 3, 2, d=3), 64)
    assert rows["sum"].receptive_field[0].size == 3 + 8


UNALIGNED_CENTRE = """
layers:
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: b, type: conv2d, from: input, out_channels: 4, kernel_size: 3}
  - {name: b_pad, type: zeropad2d, padding: [0, 2, 0, 2]}
  - {name: cat, type: concat, from: [a, b_pad]}
  - {name: next, type: conv2d, out_channels: 4, kernel_size: 2, stride: 2}
"""


def test_paths_that_disagree_on_the_centre_are_warned_and_joined_exactly() -> None:
    report = report_of(UNALIGNED_CENTRE, 40)
    rows = {row.name: row for row in report.rows}

    def cat(x: Tensor) -> Tensor:
        return conv(x, 3, p=1) + F.pad(conv(x, 3), (0, 2, 0, 2))

    assert_field(rows["cat"], cat, 40)
    assert_field(rows["next"], lambda x: conv(cat(x), 2, 2), 40)
    assert rows["cat"].receptive_field[0].size == 4  # rows t − 1 … t + 2
    assert [w.layer for w in report.warnings if w.kind == "unaligned"] == ["cat"]


UNALIGNED_JUMP = """
layers:
  - {name: down, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
  - {name: middle, type: centercrop, from: [input, down]}
  - {name: one, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: add, type: add, from: [down, one]}
"""


def test_paths_that_disagree_on_the_jump_are_warned() -> None:
    report = report_of(UNALIGNED_JUMP, 32)
    rows = {row.name: row for row in report.rows}
    assert [w.layer for w in report.warnings if w.kind == "unaligned"] == ["add"]
    # The field shown covers both paths at the first output (rows −1 … 1 and the crop's row 8).
    height, _ = rows["add"].receptive_field
    assert height.at(0) == (-1, 8)


# --- squeeze-and-excitation: global context -------------------------------------------------------

SE = """
layers:
  - {name: features, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
  - {name: squeeze, type: globalavgpool}
  - {name: fc1, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: relu, type: relu}
  - {name: fc2, type: conv2d, out_channels: 16, kernel_size: 1}
  - {name: gate, type: sigmoid}
  - {name: scale, type: mul, from: [features, gate]}
  - {name: next, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
"""


def test_squeeze_and_excitation_reports_global_context() -> None:
    rows = rows_of(SE, 32)
    assert rows["gate"].receptive_field is None and not rows["gate"].global_context
    assert rows["scale"].global_context and rows["next"].global_context
    assert not rows["features"].global_context
    assert (rows["scale"].receptive_field[0].size, rows["next"].receptive_field[0].size) == (3, 5)

    # The gradient sees the whole input: no local field could describe it.
    x = torch.ones(1, 1, 32, 32, dtype=torch.float64, requires_grad=True)
    features = conv(x, 3, p=1)
    gate = torch.sigmoid(conv(F.relu(conv(features.mean((2, 3), keepdim=True), 1)), 1))
    (grad,) = torch.autograd.grad(conv(features * gate, 3, p=1)[0, 0, 16, 16], x)
    assert bool((grad != 0).all())


# --- upsampling ------------------------------------------------------------------------------------

def upsample_spec(how: str) -> str:
    return f"""
layers:
  - {{name: down, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}}
  - {{name: up, type: upsample, {how}}}
  - {{name: conv, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
  - {{name: again, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}}
"""


UPSAMPLES = [
    ("scale_factor: 2", {"scale_factor": 2.0}),
    ("scale_factor: 3", {"scale_factor": 3.0}),
    ("scale_factor: 1.5", {"scale_factor": 1.5}),
    ("size: 45", {"size": 45}),  # 20 → 45, a ratio of 4/9
    ("scale_factor: 2, mode: bilinear", {"scale_factor": 2.0, "mode": "bilinear"}),
    ("scale_factor: 3, mode: bilinear", {"scale_factor": 3.0, "mode": "bilinear"}),
    ("size: 45, mode: bilinear", {"size": 45, "mode": "bilinear"}),
    ("size: 44, mode: bilinear, align_corners: true",
     {"size": 44, "mode": "bilinear", "align_corners": True}),
    ("scale_factor: 2, mode: bilinear, align_corners: true",
     {"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}),
]


@pytest.mark.parametrize(("how", "torch_args"), UPSAMPLES, ids=[u[0] for u in UPSAMPLES])
def test_upsampling_field_is_the_largest_over_positions(how: str, torch_args: dict[str, Any]) -> None:
    side = 40
    rows = rows_of(upsample_spec(how), side)

    def up(x: Tensor) -> Tensor:
        return F.interpolate(conv(x, 3, 2, 1), **torch_args)

    assert_field(rows["up"], up, side)
    assert_field(rows["conv"], lambda x: conv(up(x), 3, p=1), side)
    assert_field(rows["again"], lambda x: conv(conv(up(x), 3, p=1), 3, 2, 1), side)


def test_nearest_x2_shares_fields_in_pairs() -> None:
    rows = rows_of(upsample_spec("scale_factor: 2"), 40)
    field = rows["conv"].receptive_field[0]
    # down: output i sees rows 2i − 1 … 2i + 1; up: outputs 2i and 2i + 1 read input i; the 3-tap
    # conv after it reads one input at odd positions and two at even ones
    assert [field.at(t) for t in range(4)] == [(-3, 1), (-1, 3), (-1, 3), (1, 5)]
    assert (field.size, field.jump, field.period, field.start) == (5, 1, 2, -1)


# --- transposed convolutions and U-Net ---------------------------------------------------------------

TRANSPOSED = [
    ("kernel_size: 2, stride: 2", dict(k=2, s=2)),  # U-Net's up-convolution
    ("kernel_size: 3, stride: 2, padding: 1, output_padding: 1", dict(k=3, s=2, p=1, op=1)),
    ("kernel_size: 4, stride: 2, padding: 1", dict(k=4, s=2, p=1)),
    ("kernel_size: 3, stride: 3", dict(k=3, s=3)),
    ("kernel_size: 1, stride: 2", dict(k=1, s=2)),  # odd outputs see nothing (bias only)
    ("kernel_size: 3, stride: 2, dilation: 2", dict(k=3, s=2, d=2)),
]


@pytest.mark.parametrize(("how", "args"), TRANSPOSED, ids=[t[0] for t in TRANSPOSED])
def test_transposed_convolution(how: str, args: dict[str, int]) -> None:
    side = 40
    rows = rows_of(f"""
layers:
  - {{name: down, type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: 1}}
  - {{name: up, type: convtranspose2d, out_channels: 4, {how}}}
  - {{name: conv, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
""", side)

    def up(x: Tensor) -> Tensor:
        return tconv(conv(x, 3, 2, 1), **args)

    if args["k"] > 1:
        assert_field(rows["up"], up, side)
    else:  # outputs that see nothing have no gradient: check the others
        height, _ = rows["up"].receptive_field
        assert all(height.at(t) is None for t in range(1, 20, 2))
        assert height.size == 3
    assert_field(rows["conv"], lambda x: conv(up(x), 3, p=1), side)


UNET = """
layers:
  - {name: enc1, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: enc2, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: pool, type: maxpool2d, kernel_size: 2}
  - {name: mid1, type: conv2d, out_channels: 16, kernel_size: 3}
  - {name: mid2, type: conv2d, out_channels: 16, kernel_size: 3}
  - {name: up, type: convtranspose2d, out_channels: 8, kernel_size: 2, stride: 2}
  - {name: crop, type: centercrop, from: [enc2, up]}
  - {name: cat, type: concat, from: [crop, up]}
  - {name: dec1, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: dec2, type: conv2d, out_channels: 8, kernel_size: 3}
"""


def test_unet_crop_and_concat() -> None:
    side = 92
    report = report_of(UNET, side)
    rows = {row.name: row for row in report.rows}

    def cat(x: Tensor) -> Tensor:
        enc = conv(conv(x, 3), 3)
        up = tconv(conv(conv(pool(enc, 2), 3), 3), 2, 2)
        return crop_to(enc, up) + up

    assert_field(rows["cat"], cat, side)
    assert_field(rows["dec2"], lambda x: conv(conv(cat(x), 3), 3), side)
    # the skip and the up-path are centred alike only every other position
    assert [w.layer for w in report.warnings if w.kind == "unaligned"] == ["cat"]


# --- deep residual networks: fields larger than the input -------------------------------------------

RESNET = """
blocks:
  basic:
    params: {c: 64, stride: 1}
    layers:
      - {name: conv1, type: conv2d, out_channels: $c, kernel_size: 3, stride: $stride, padding: 1}
      - {name: bn1, type: batchnorm2d}
      - {name: relu, type: relu}
      - {name: conv2, type: conv2d, out_channels: $c, kernel_size: 3, padding: 1, bias: false}
      - {name: bn2, type: batchnorm2d}
      - {name: downsample.0, type: conv2d, from: input, out_channels: $c, kernel_size: 1, stride: $stride,
         bias: false, when: "${stride != 1 or in_channels != c}"}
      - {name: downsample.1, type: batchnorm2d, when: "${stride != 1 or in_channels != c}"}
      - {name: add, type: add, from: [bn2, downsample.1]}
      - {name: relu2, type: relu}
layers:
  - {name: conv1, type: conv2d, out_channels: 64, kernel_size: 7, stride: 2, padding: 3, bias: false}
  - {name: bn1, type: batchnorm2d}
  - {name: relu, type: relu}
  - {name: maxpool, type: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
  - {name: layer1, block: basic, repeat: %d, c: 64}
  - {name: layer2, block: basic, repeat: %d, c: 128, first: {stride: 2}}
  - {name: layer3, block: basic, repeat: %d, c: 256, first: {stride: 2}}
  - {name: layer4, block: basic, repeat: %d, c: 512, first: {stride: 2}}
  - {name: avgpool, type: adaptiveavgpool2d, output_size: 1}
  - {type: flatten}
  - {name: fc, type: linear, out_features: 1000}
"""


def torch_resnet(repeats: tuple[int, ...]) -> Net:
    """torchvision's ResNet with basic blocks, up to layer4's last ReLU, in one channel."""
    def forward(x: Tensor) -> Tensor:
        x = pool(conv(x, 7, 2, 3), 3, 2, 1)
        for stage, n in enumerate(repeats):
            for i in range(n):
                stride = 2 if stage and i == 0 else 1
                main = conv(F.relu(conv(x, 3, stride, 1)), 3, 1, 1)
                x = F.relu(main + (conv(x, 1, stride) if stride != 1 else x))
        return x
    return forward


@pytest.mark.parametrize(("repeats", "size"), [((2, 2, 2, 2), 435), ((3, 4, 6, 3), 899)],
                         ids=["resnet18", "resnet34"])
def test_resnet_last_block_sees_more_than_the_input(repeats: tuple[int, ...], size: int) -> None:
    rows = rows_of(RESNET % repeats, 224)
    last = rows[f"layer4.{repeats[3] - 1}.relu2"].receptive_field
    assert last is not None and (last[0].size, last[0].jump) == (size, 32)  # 899: the contract's
    # the same network on an input large enough for the gradient to find the whole field
    side = size + 5 * 32
    big = rows_of(RESNET % repeats, side)
    assert_field(big[f"layer4.{repeats[3] - 1}.relu2"], torch_resnet(repeats), side, at_least=2)


# --- random chains mixing upsampling, transposed convolution, convolution and pooling ---------------

# One axis is enough: every layer acts on height and width alike, so the test networks use
# [k, 1] kernels and read the height alone. Each op: (spec entry, torch function).
Op = tuple[dict[str, Any], Callable[[Tensor], Tensor]]


@st.composite
def ops(draw: st.DrawFn) -> Op:
    kind = draw(st.sampled_from(["conv", "pool", "nearest", "bilinear", "tconv"]))
    if kind == "conv":
        k, s, d = draw(st.integers(1, 4)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        p = draw(st.integers(0, (k - 1) * d // 2))
        return ({"type": "conv2d", "out_channels": 1, "kernel_size": [k, 1], "stride": [s, 1],
                 "padding": [p, 0], "dilation": [d, 1]},
                lambda x: conv(x, (k, 1), (s, 1), (p, 0), (d, 1)))
    if kind == "pool":
        k, s = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        return ({"type": "avgpool2d", "kernel_size": [k, 1], "stride": [s, 1]},
                lambda x: F.avg_pool2d(x, (k, 1), (s, 1)))
    if kind == "tconv":
        k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        p = draw(st.integers(0, k // 2))
        op = draw(st.integers(0, s - 1))
        return ({"type": "convtranspose2d", "out_channels": 1, "kernel_size": [k, 1], "stride": [s, 1],
                 "padding": [p, 0], "output_padding": [op, 0]},
                lambda x: F.conv_transpose2d(x, torch.ones(1, 1, k, 1, dtype=torch.float64), stride=(s, 1),
                                             padding=(p, 0), output_padding=(op, 0)))
    factor = float(draw(st.sampled_from([2, 3, 1.5, 2.5])))
    mode = "nearest" if kind == "nearest" else "bilinear"
    return ({"type": "upsample", "scale_factor": [factor, 1.0], "mode": mode},
            lambda x: F.interpolate(x, scale_factor=(factor, 1.0), mode=mode))


def jacobian_rows(chain: list[Callable[[Tensor], Tensor]], side: int) -> list[tuple[int, int] | None]:
    """For each output row: the first and last input row with a nonzero derivative (None: none).
    The chain is linear, so pushing every basis vector through it at once gives the Jacobian."""
    x = torch.eye(side, dtype=torch.float64).reshape(side, 1, side, 1)
    for f in chain:
        x = f(x)
    jac = x[:, 0, :, 0].T  # output row × input row
    bounds: list[tuple[int, int] | None] = []
    for row in jac:
        hits = torch.nonzero(row)
        bounds.append((int(hits.min()), int(hits.max())) if len(hits) else None)
    return bounds


@settings(max_examples=300, deadline=None)
@given(st.lists(ops(), min_size=1, max_size=5))
def test_random_chains_match_the_jacobian(chain: list[Op]) -> None:
    side = 48
    spec = {"input": [1, side, 1], "layers": [entry for entry, _ in chain]}
    try:
        report = analyze(load_spec(spec))
    except ShapeError:  # a chain that shrinks the map away: torch refuses it too
        event("refused")
        return
    field = report.rows[-1].receptive_field
    assert field is not None
    height = field[0]
    found = jacobian_rows([f for _, f in chain], side)
    assert len(found) == report.rows[-1].output_shape[1]
    # positions whose field, as the gradient finds it and as the analysis gives it, lies inside the
    # input (at a map's last positions bilinear clamps its second read, and pooling drops windows:
    # the analysis follows the unbounded lattice, so it is never smaller there)
    inside = 0
    for t, bounds in enumerate(found):
        ours = height.at(t)
        if bounds is None:  # no input reaches it: the analysis says so, or the lattice reaches past the map
            assert ours is None or ours[0] <= 0 or ours[1] >= side - 1, t
            continue
        if not (bounds[0] > 0 and bounds[1] < side - 1):
            continue
        assert ours is not None and ours[0] <= bounds[0] and bounds[1] <= ours[1], t
        if ours[0] > 0 and ours[1] < side - 1:
            assert ours == bounds, t
            inside += 1
    event(f"positions compared: {min(inside, 10) // 5 * 5}+, period {min(height.period, 3)}")
    if inside >= height.period + 2:
        event("size compared")
        assert height.size == max(b[1] - b[0] + 1 for b in found if b is not None
                                  and b[0] > 0 and b[1] < side - 1)


def test_irregular_resampling_is_left_out_with_a_warning() -> None:
    # 4095 → 4096 by size: output o reads ⌊o·4095/4096⌋, a pattern that repeats every 4096 rows,
    # and then 4097 → ... pushes the period past what cnncalc follows.
    report = analyze(load_spec({"input": [1, 4095, 4], "layers": [
        {"type": "upsample", "size": [4096, 4]}, {"type": "upsample", "size": [4097, 4]}]}))
    first, second = report.rows
    assert first.receptive_field is not None and first.receptive_field[0].period == 4096
    assert second.receptive_field is None
    assert [w.kind for w in report.warnings] == ["receptive_field"]


def test_period_is_kept_small() -> None:
    # ×2 then stride 2 evens the steps again: one entry
    field = ReceptiveField().nearest(Fraction(1, 2)).through(3, 2, 1)
    assert (field.period, field.jump, field.even) == (1, 1, True)
    assert math.gcd(ReceptiveField().nearest(Fraction(2, 3)).period, 3) == 3
