"""Hypothesis strategies that draw random cnncalc specs as plain dicts.

The specs are built layer by layer while tracking the shape that reaches each
layer, so that (almost) every drawn spec is valid: each layer's parameters are
drawn from ranges that fit the current shape. The shape arithmetic here is
written from PyTorch's documented formulas and exists only to steer the
drawing; the tests never trust it, they compare cnncalc with a real forward
pass in torch.

Images stay small (sides ≤ 64, a few channels) so that a forward pass takes
milliseconds. Besides the textbook order (maps, flatten, vectors) the drawing covers what torch
accepts off that path: negative zeropad2d padding (a crop), linear on a feature map (on its
last dimension), flatten to [C, L] (start_dim 2) followed by batchnorm1d, linear, LRN and
activations, a flatten of one dim (a no-op, at dim 0 too), and softmax over any dim but the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MAX_INPUT_SIDE = 40  # the drawn input image
MAX_SIDE = 64  # no layer may grow a feature map beyond this (padding, adaptive pools)
MAX_CHANNELS = 12

ACTIVATIONS = ("relu", "leakyrelu", "tanh", "sigmoid", "gelu", "elu", "softmax", "logsoftmax", "relu6",
               "silu", "hardswish", "hardsigmoid")

# Layer types drawn on a feature map [C, H, W], and on a vector [F] or [C, L] after flatten.
SPATIAL_TYPES = (
    "conv2d", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "adaptivemaxpool2d", "batchnorm2d",
    "localresponsenorm", "dropout", "dropout2d", "zeropad2d", "subsampling", "linear", "flatten",
    "convtranspose2d", "upsample", "globalavgpool", "identity", *ACTIVATIONS,
)
FLAT_TYPES = ("linear", "rbf", "batchnorm1d", "dropout", "flatten", "localresponsenorm", "identity",
              *ACTIVATIONS)
ONLY_FLAT = frozenset({"rbf"})  # on [F] only; the others take [C, L] too
ONLY_RANK_2 = frozenset({"localresponsenorm"})  # needs channels: [C, L], not [F]
MERGE_TYPES = ("add", "mul", "concat", "centercrop")  # drawn by branching_specs
SOURCE_TYPES = ("parameter",)  # drawn by branching_specs: read by a merge
ALL_TYPES = frozenset((*SPATIAL_TYPES, *FLAT_TYPES, *MERGE_TYPES, *SOURCE_TYPES))

Shape = tuple[int, ...]


# --- PyTorch's size arithmetic, one dimension at a time (for steering only) -----------

def extent(kernel: int, dilation: int) -> int:
    return dilation * (kernel - 1) + 1


def conv_out(size: int, kernel: int, stride: int, before: int, after: int, dilation: int) -> int:
    return (size + before + after - extent(kernel, dilation)) // stride + 1


def tf_same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME: output ceil(J/s), the odd pixel of padding after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + extent(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


def pool_out(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """ATen's pooling_output_shape, including the rule that drops a window starting in the padding."""
    span = size + 2 * pad - extent(kernel, dilation)
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


# --- small drawing helpers ------------------------------------------------------------

def _written(draw: st.DrawFn, h: int, w: int) -> int | list[int]:
    """A per-axis pair as a spec writes it: an int when both agree (half the time), else [h, w]."""
    if h == w and draw(st.booleans()):
        return h
    return [h, w]


def _maybe_name(draw: st.DrawFn, layers: list[dict[str, Any]]) -> dict[str, str]:
    """Mostly unnamed (cnncalc generates names); sometimes a name from a small pool, where
    ``training`` and ``training_`` are distinct in the spec but ``training`` is an attribute of
    torch's Sequential, so its child is ``training_`` too and must be renamed again. (A dotted
    name is a module path: a chain with one is built at its paths, as branching_specs draws.)"""
    if draw(st.integers(0, 2)):
        return {}
    name = draw(st.sampled_from(["conv", "training", "training_", "b_1", "fc"]))
    if any(layer.get("name") == name for layer in layers):
        return {}  # the spec itself forbids duplicate names
    return {"name": name}


def _activation(draw: st.DrawFn) -> dict[str, str]:
    act = draw(st.one_of(st.none(), st.sampled_from(ACTIVATIONS)))
    return {} if act is None else {"activation": act}


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


# --- one layer at a time -----------------------------------------------------------------

@dataclass
class Net:
    """A spec being drawn: its dict form and the shape after its last layer."""

    input: list[int]
    layers: list[dict[str, Any]] = field(default_factory=list)
    shape: Shape = ()

    def as_dict(self, draw: st.DrawFn | None = None) -> dict[str, Any]:
        channels, height, width = self.input
        written: Any = {"channels": channels, "height": height, "width": width}
        if draw is not None and draw(st.booleans()):
            written = [channels, height, width]  # the contract accepts [C, H, W] too
        return {"input": written, "layers": [dict(layer) for layer in self.layers]}


def _conv_axis(draw: st.DrawFn, size: int, kind: str) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, padding) along one axis of a conv that fits ``size``."""
    stride = draw(st.integers(1, 3))
    dilation = draw(st.sampled_from([1, 1, 1, 2, 3]))
    pad = draw(st.integers(0, min(3, (MAX_SIDE - size) // 2))) if kind == "int" else 0
    if kind == "same":
        kernel = draw(st.integers(1, 6))  # 'same' fits any kernel; even ones pad unevenly
    else:
        kernel = draw(st.integers(1, min(7, (size + 2 * pad - 1) // dilation + 1)))
    return kernel, stride, dilation, pad


def conv2d(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    channels, height, width = shape
    kind = draw(st.sampled_from(["int", "int", "same", "valid"]))
    if draw(st.booleans()):  # the same numbers on both axes, often written as one int
        axes = [_conv_axis(draw, min(height, width), kind)] * 2
    else:
        axes = [_conv_axis(draw, height, kind), _conv_axis(draw, width, kind)]
    (kh, sh, dh, ph), (kw, sw, dw, pw) = axes
    layer: dict[str, Any] = {
        "type": "conv2d",
        "kernel_size": _written(draw, kh, kw),
    }
    if kind == "int":
        layer["padding"] = _written(draw, ph, pw)
        pads = [(ph, ph), (pw, pw)]
    elif kind == "valid":
        layer["padding"] = "valid"
        pads = [(0, 0), (0, 0)]
    else:
        layer["padding"] = "same"
        pads = [tf_same_pads(height, kh, sh, dh), tf_same_pads(width, kw, sw, dw)]
    if (sh, sw) != (1, 1) or draw(st.booleans()):
        layer["stride"] = _written(draw, sh, sw)
    if (dh, dw) != (1, 1) or draw(st.booleans()):
        layer["dilation"] = _written(draw, dh, dw)

    # groups divides the input channels; out_channels is a multiple of groups.
    groups = draw(st.sampled_from(_divisors(channels))) if draw(st.booleans()) else 1
    out_channels = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    layer["out_channels"] = out_channels
    if groups > 1 or draw(st.booleans()):
        layer["groups"] = groups
    if groups == 1 and draw(st.integers(0, 3)) == 0:
        # LeNet-5's partial connection table: each output map reads a few input maps, in any order.
        layer["connection_table"] = [
            draw(st.lists(st.integers(0, channels - 1), min_size=1, max_size=channels, unique=True))
            for _ in range(out_channels)]
    if draw(st.integers(0, 3)) == 0:
        layer["bias"] = False

    # torch pads with reflect only when padding < size, with circular only when padding ≤ size.
    modes = ["zeros", "zeros", "replicate"]
    largest = [max(pads[0]), max(pads[1])]
    if largest[0] < height and largest[1] < width:
        modes.append("reflect")
    if largest[0] <= height and largest[1] <= width:
        modes.append("circular")
    mode = draw(st.sampled_from(modes))
    if mode != "zeros" or draw(st.booleans()):
        layer["padding_mode"] = mode
    layer.update(_activation(draw))
    out = (out_channels, conv_out(height, kh, sh, *pads[0], dh), conv_out(width, kw, sw, *pads[1], dw))
    return layer, out


def _pool_axis(draw: st.DrawFn, size: int, dilated: bool) -> tuple[int, int, int]:
    """(kernel, padding, dilation) along one axis of a pool whose output is at least 1."""
    kernel = draw(st.integers(1, 5))
    dilation = draw(st.sampled_from([1, 2, 3])) if dilated else 1
    pad = draw(st.integers(0, kernel // 2))  # torch allows at most half the kernel
    if extent(kernel, dilation) > size + 2 * pad:
        # Too big for this map: fall back to an undilated kernel that fits.
        dilation, kernel = 1, min(kernel, size)
        pad = min(pad, kernel // 2)
    return kernel, pad, dilation


def pool2d(draw: st.DrawFn, shape: Shape, kind: str) -> tuple[dict[str, Any], Shape]:
    channels, height, width = shape
    is_max = kind == "maxpool2d"
    if draw(st.booleans()):
        axes = [_pool_axis(draw, min(height, width), is_max)] * 2
    else:
        axes = [_pool_axis(draw, height, is_max), _pool_axis(draw, width, is_max)]
    (kh, ph, dh), (kw, pw, dw) = axes
    layer: dict[str, Any] = {"type": kind, "kernel_size": _written(draw, kh, kw)}
    if draw(st.booleans()):
        strides = (kh, kw)  # torch's default: stride = kernel_size
        if draw(st.booleans()):
            layer["stride"] = None
    else:
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        layer["stride"] = _written(draw, *strides)
    if (ph, pw) != (0, 0) or draw(st.booleans()):
        layer["padding"] = _written(draw, ph, pw)
    if is_max and ((dh, dw) != (1, 1) or draw(st.booleans())):
        layer["dilation"] = _written(draw, dh, dw)
    ceil_mode = draw(st.booleans())
    if ceil_mode or draw(st.booleans()):
        layer["ceil_mode"] = ceil_mode
    if not is_max:
        if draw(st.booleans()):
            layer["count_include_pad"] = draw(st.booleans())
        if draw(st.integers(0, 4)) == 0:
            layer["divisor_override"] = draw(st.integers(1, 9))
    out = (channels,
           pool_out(height, kh, strides[0], ph, dh, ceil_mode),
           pool_out(width, kw, strides[1], pw, dw, ceil_mode))
    return layer, out


def subsampling(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """LeNet-5's trainable subsampling: a window sum × a coefficient + a bias, per map."""
    channels, height, width = shape
    kernels = (draw(st.integers(1, min(height, 4))), draw(st.integers(1, min(width, 4))))
    layer: dict[str, Any] = {"type": "subsampling"}
    if kernels != (2, 2) or draw(st.booleans()):
        layer["kernel_size"] = _written(draw, *kernels)
    strides = kernels  # the default: windows side by side
    if draw(st.booleans()):
        strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        layer["stride"] = _written(draw, *strides)
    if draw(st.integers(0, 3)) == 0:
        layer["bias"] = False
    layer.update(_activation(draw))
    out = (channels, pool_out(height, kernels[0], strides[0], 0, 1, False),
           pool_out(width, kernels[1], strides[1], 0, 1, False))
    return layer, out


def adaptive(draw: st.DrawFn, shape: Shape, kind: str) -> tuple[dict[str, Any], Shape]:
    """Adaptive pooling, outputs smaller, equal or larger than the input, divisible or not."""
    channels, height, width = shape
    sizes = []
    for size in (height, width):
        sizes.append(draw(st.one_of(st.none(), st.integers(1, min(MAX_SIDE, 2 * size + 2)))))
    # One int when both agree (half the time), else [h, w] where null keeps the input's size.
    written: Any = sizes[0] if None not in sizes and sizes[0] == sizes[1] and draw(st.booleans()) \
        else sizes
    out_h, out_w = (s if o is None else o for o, s in zip(sizes, (height, width), strict=True))
    return {"type": kind, "output_size": written}, (channels, out_h, out_w)


def _pad_axis(draw: st.DrawFn, size: int, room: int) -> tuple[int, int]:
    """(before, after) padding of one axis; negative crops, leaving at least one input row."""
    before = draw(st.integers(-min(2, size - 1), room))
    kept = size + min(before, 0)
    return before, draw(st.integers(-min(2, kept - 1), room))


def zeropad2d(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """Padding or (negative) cropping, one int for all sides or torch's [left, right, top, bottom]."""
    channels, height, width = shape
    room = min(3, (MAX_SIDE - max(height, width)) // 2)
    if draw(st.booleans()):
        pad = draw(st.integers(-((min(height, width) - 1) // 2), room))
        return {"type": "zeropad2d", "padding": pad}, (channels, height + 2 * pad, width + 2 * pad)
    (top, bottom), (left, right) = _pad_axis(draw, height, room), _pad_axis(draw, width, room)
    return ({"type": "zeropad2d", "padding": [left, right, top, bottom]},
            (channels, height + top + bottom, width + left + right))


def linear(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """torch's Linear on the last dimension, whatever the rank: [.., F] → [.., out]."""
    out = draw(st.integers(1, 16))
    layer: dict[str, Any] = {"type": "linear", "out_features": out}
    if draw(st.integers(0, 3)) == 0:
        layer["bias"] = False
    layer.update(_activation(draw))
    return layer, (*shape[:-1], out)


def same_flatten(draw: st.DrawFn, shape: Shape) -> dict[str, Any]:
    """A flatten of one dim (start_dim = end_dim), which changes nothing, at the batch's dim 0 too."""
    rank = len(shape) + 1
    dim = draw(st.integers(0, rank - 1))
    start, end = (dim - rank if draw(st.booleans()) else dim for _ in range(2))
    return {"type": "flatten", "start_dim": start, "end_dim": end}


def elementwise(draw: st.DrawFn, shape: Shape, kind: str) -> dict[str, Any]:
    """Layers that keep the shape: activations, dropout, norms, softmax."""
    layer: dict[str, Any] = {"type": kind}
    if kind in ("relu", "leakyrelu", "elu", "dropout", "dropout2d", "relu6", "silu", "hardswish",
                "hardsigmoid") and draw(st.booleans()):
        layer["inplace"] = draw(st.booleans())
    if kind == "leakyrelu" and draw(st.booleans()):
        layer["negative_slope"] = draw(st.sampled_from([0.0, 0.01, 0.2]))
    if kind == "elu" and draw(st.booleans()):
        layer["alpha"] = draw(st.sampled_from([0.5, 1.0]))
    if kind == "gelu" and draw(st.booleans()):
        layer["approximate"] = draw(st.sampled_from(["none", "tanh"]))
    if kind in ("dropout", "dropout2d") and draw(st.booleans()):
        layer["p"] = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    if kind in ("batchnorm2d", "batchnorm1d"):
        if draw(st.booleans()):
            layer["affine"] = draw(st.booleans())
        if draw(st.integers(0, 3)) == 0:
            layer["track_running_stats"] = False
    if kind == "localresponsenorm":
        layer["size"] = draw(st.integers(1, 5))
    if kind in ("softmax", "logsoftmax"):
        rank = len(shape) + 1  # with the batch
        dims = [d for d in range(-rank + 1, rank) if d != 0]  # any dim but the batch
        layer["dim"] = draw(st.one_of(st.none(), st.sampled_from(dims)))
        if layer["dim"] is None and draw(st.booleans()):
            del layer["dim"]
    return layer


def spatial_layer(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    kind = draw(st.sampled_from(
        # Weighted toward the layers with interesting arithmetic.
        ("conv2d",) * 4 + ("maxpool2d", "avgpool2d", "subsampling") * 2 + SPATIAL_TYPES))
    if kind == "conv2d":
        return conv2d(draw, shape)
    if kind in ("maxpool2d", "avgpool2d"):
        return pool2d(draw, shape, kind)
    if kind in ("adaptiveavgpool2d", "adaptivemaxpool2d"):
        return adaptive(draw, shape, kind)
    if kind == "zeropad2d":
        return zeropad2d(draw, shape)
    if kind == "subsampling":
        return subsampling(draw, shape)
    if kind == "linear":
        return linear(draw, shape)
    if kind == "flatten":
        return same_flatten(draw, shape), shape
    if kind == "convtranspose2d":
        return conv_transpose2d(draw, shape)
    if kind == "upsample":
        return upsample(draw, shape)
    if kind == "globalavgpool":
        return {"type": kind}, (shape[0], 1, 1)
    return elementwise(draw, shape, kind), shape


def conv_transpose2d(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """torch's ConvTranspose2d: output (J − 1)·s − 2P + d·(M − 1) + output_padding + 1."""
    channels, height, width = shape
    layer: dict[str, Any] = {"type": "convtranspose2d"}
    axes = []
    for size in (height, width):
        kernel, dilation = draw(st.integers(1, 4)), draw(st.sampled_from([1, 1, 2]))
        stride = draw(st.integers(1, 3))
        while stride > 1 and (size - 1) * stride + dilation * (kernel - 1) + stride > MAX_SIDE:
            stride -= 1
        extra = draw(st.integers(0, max(stride, dilation) - 1))
        full = (size - 1) * stride + dilation * (kernel - 1) + extra + 1
        pad = draw(st.integers(0, min(3, (full - 1) // 2)))
        axes.append((kernel, stride, dilation, extra, pad, full - 2 * pad))
    (kh, sh, dh, oh, ph, out_h), (kw, sw, dw, ow, pw, out_w) = axes
    layer["kernel_size"] = _written(draw, kh, kw)
    for key, (h, w), default in (("stride", (sh, sw), 1), ("dilation", (dh, dw), 1),
                                 ("output_padding", (oh, ow), 0), ("padding", (ph, pw), 0)):
        if (h, w) != (default, default) or draw(st.booleans()):
            layer[key] = _written(draw, h, w)
    groups = draw(st.sampled_from(_divisors(channels))) if draw(st.booleans()) else 1
    layer["out_channels"] = groups * draw(st.integers(1, max(1, MAX_CHANNELS // groups)))
    if groups > 1 or draw(st.booleans()):
        layer["groups"] = groups
    if draw(st.integers(0, 3)) == 0:
        layer["bias"] = False
    layer.update(_activation(draw))
    return layer, (layer["out_channels"], out_h, out_w)


def upsample(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """torch's Upsample: to ``size``, or by ``scale_factor`` (⌊J·scale⌋), nearest or bilinear."""
    channels, height, width = shape
    layer: dict[str, Any] = {"type": "upsample"}
    if draw(st.booleans()):
        out = (draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE)))
        layer["size"] = _written(draw, *out)
    else:
        scales = []
        for size in (height, width):
            choices = [s for s in (0.5, 1, 1.5, 2, 2.5, 3, 0.75) if 1 <= int(size * s) <= MAX_SIDE]
            scales.append(draw(st.sampled_from(choices or [1])))
        layer["scale_factor"] = _written(draw, *scales) if scales[0] == scales[1] else scales
        out = (int(height * scales[0]), int(width * scales[1]))
    if draw(st.booleans()):
        layer["mode"] = draw(st.sampled_from(["nearest", "bilinear"]))
        if layer["mode"] == "bilinear" and draw(st.booleans()):
            layer["align_corners"] = draw(st.booleans())
    return layer, (channels, *out)


def flat_layer(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """A layer on [F] or on [C, L]."""
    kinds = [k for k in ("linear",) * 3 + ("rbf",) * 2 + FLAT_TYPES
             if not (k in ONLY_FLAT and len(shape) != 1) and not (k in ONLY_RANK_2 and len(shape) != 2)]
    kind = draw(st.sampled_from(kinds))
    if kind == "linear":
        return linear(draw, shape)
    if kind == "rbf":
        out = draw(st.integers(1, 16))
        return {"type": "rbf", "out_features": out}, (out,)
    if kind == "flatten":
        if len(shape) == 2 and draw(st.booleans()):
            return {"type": "flatten"}, (shape[0] * shape[1],)
        return same_flatten(draw, shape), shape
    return elementwise(draw, shape, kind), shape


def flatten(draw: st.DrawFn, shape: Shape) -> tuple[dict[str, Any], Shape]:
    """Out of a feature map: mostly to [C·H·W], else to [C, H·W] (start_dim 2) or [C·H, W]."""
    c, h, w = shape
    how = draw(st.sampled_from(["all", "all", "all", "rows", "columns"]))
    if how == "all":
        return {"type": "flatten"}, (c * h * w,)
    if how == "rows":
        return {"type": "flatten", "start_dim": draw(st.sampled_from([2, -2]))}, (c, h * w)
    return {"type": "flatten", "end_dim": draw(st.sampled_from([2, -2]))}, (c * h, w)


@st.composite
def networks(draw: st.DrawFn, max_spatial: int = 5, max_flat: int = 4,
             allow_flat: bool = True) -> Net:
    """A valid network: some feature-map layers, then maybe flatten and some flat layers."""
    channels = draw(st.integers(1, 4))
    height = draw(st.integers(1, MAX_INPUT_SIDE))
    width = draw(st.integers(1, MAX_INPUT_SIDE))
    net = Net(input=[channels, height, width], shape=(channels, height, width))
    for _ in range(draw(st.integers(0, max_spatial))):
        layer, net.shape = spatial_layer(draw, net.shape)
        net.layers.append(layer | _maybe_name(draw, net.layers))
    if allow_flat and draw(st.booleans()):
        layer, net.shape = flatten(draw, net.shape)
        net.layers.append(layer | _maybe_name(draw, net.layers))
        for _ in range(draw(st.integers(0, max_flat))):
            layer, net.shape = flat_layer(draw, net.shape)
            net.layers.append(layer | _maybe_name(draw, net.layers))
    return net


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid spec as a plain dict, with at least one layer."""
    net = draw(networks())
    if not net.layers:  # a spec needs one layer; add one that fits any feature map
        layer, net.shape = spatial_layer(draw, net.shape)
        net.layers.append(layer)
    return net.as_dict(draw)


# --- near misses: a last conv or pool whose kernel barely fits, or barely does not -----

def _near_conv_axis(draw: st.DrawFn, size: int) -> tuple[int, int, int, int]:
    """(kernel, stride, dilation, padding) with the kernel's extent near size + 2·padding."""
    stride = draw(st.integers(1, 3))
    dilation = draw(st.sampled_from([1, 1, 2, 3]))
    # Small padding, or padding near the input size (which reflect/circular cannot take).
    pad = draw(st.one_of(st.integers(0, 3), st.integers(max(0, size - 1), size + 1)))
    target = size + 2 * pad + draw(st.integers(-2, 3))  # the extent we aim for
    kernel = max(1, -(-(target - 1) // dilation) + 1)  # smallest kernel reaching the target
    return kernel, stride, dilation, pad


def near_miss_conv(draw: st.DrawFn, shape: Shape) -> dict[str, Any]:
    _, height, width = shape
    (kh, sh, dh, ph), (kw, sw, dw, pw) = _near_conv_axis(draw, height), _near_conv_axis(draw, width)
    layer: dict[str, Any] = {
        "type": "conv2d", "out_channels": draw(st.integers(1, 4)),
        "kernel_size": _written(draw, kh, kw), "stride": _written(draw, sh, sw),
        "dilation": _written(draw, dh, dw),
        "padding_mode": draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
    }
    if (ph, pw) == (0, 0) and draw(st.booleans()):
        layer["padding"] = "valid"
    else:
        layer["padding"] = _written(draw, ph, pw)
    return layer


def _near_pool_axis(draw: st.DrawFn, size: int, dilated: bool) -> tuple[int, int, int]:
    """(kernel, padding, dilation) with the kernel's extent near size + 2·padding."""
    dilation = draw(st.sampled_from([1, 1, 2, 3])) if dilated else 1
    pad = draw(st.integers(0, 3))
    target = size + 2 * pad + draw(st.integers(-2, 3))
    kernel = max(1, -(-(target - 1) // dilation) + 1)
    return kernel, min(pad, kernel // 2), dilation


def near_miss_pool(draw: st.DrawFn, shape: Shape, kind: str) -> dict[str, Any]:
    _, height, width = shape
    is_max = kind == "maxpool2d"
    (kh, ph, dh), (kw, pw, dw) = _near_pool_axis(draw, height, is_max), _near_pool_axis(draw, width, is_max)
    layer: dict[str, Any] = {"type": kind, "kernel_size": _written(draw, kh, kw),
                             "padding": _written(draw, ph, pw), "ceil_mode": draw(st.booleans())}
    if draw(st.booleans()):
        layer["stride"] = _written(draw, draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    if is_max:
        layer["dilation"] = _written(draw, dh, dw)
    return layer


def near_miss_dims(draw: st.DrawFn, shape: Shape, kind: str) -> dict[str, Any]:
    """A layer whose fields or input rank sit at the edge of what torch takes: crops near the
    input's size, dims near the ends of the range (the batch's dim 0 included), layers of one
    rank on another."""
    rank = len(shape) + 1
    if kind == "zeropad2d":
        _, height, width = shape
        sides = [draw(st.integers(-size - 1, 2)) for size in (width, width, height, height)]
        return {"type": kind, "padding": sides}
    if kind == "flatten":
        return {"type": kind, "start_dim": draw(st.integers(-rank - 1, rank)),
                "end_dim": draw(st.integers(-rank - 1, rank))}
    if kind in ("softmax", "logsoftmax"):
        return {"type": kind, "dim": draw(st.integers(-rank - 1, rank))}
    if kind == "linear":
        return {"type": kind, "out_features": draw(st.integers(1, 4))}
    if kind == "localresponsenorm":
        return {"type": kind, "size": 2}
    if kind == "maxpool2d":
        return {"type": kind, "kernel_size": 1, "padding": 0, "dilation": 1, "ceil_mode": False}
    return {"type": kind}


NEAR_MISS_DIMS = ("zeropad2d", "flatten", "softmax", "logsoftmax", "linear", "batchnorm1d",
                  "batchnorm2d", "dropout2d", "localresponsenorm", "maxpool2d")


@st.composite
def near_misses(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    """(prefix spec, last layer): a valid spec on feature maps, then a conv or pool that barely
    fits or barely does not; or, half the time, a prefix that may end in a flatten to [F] or
    [C, L] and a last layer from :func:`near_miss_dims`. The prefix may have no layers (then
    ``layers`` is empty)."""
    net = draw(networks(max_spatial=2, allow_flat=False))
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["conv2d", "maxpool2d", "avgpool2d"]))
        last = near_miss_conv(draw, net.shape) if kind == "conv2d" else near_miss_pool(draw, net.shape, kind)
        return net.as_dict(), last
    start = draw(st.sampled_from([None, 1, 2]))
    if start is not None:
        c, h, w = net.shape
        net.layers.append({"type": "flatten", "start_dim": start})
        net.shape = (c * h * w,) if start == 1 else (c, h * w)
    kind = draw(st.sampled_from([k for k in NEAR_MISS_DIMS if not (k == "zeropad2d" and start)]))
    return net.as_dict(), near_miss_dims(draw, net.shape, kind)


# --- networks that branch: blocks, calls, references and merges (contract §1b) -------------

# The blocks every branching spec carries. Each uses parameters ($p, a list item, a type, a
# reference), expressions (defaults, fields, `when`, `repeat`) and the block input's shape.
BLOCKS: dict[str, Any] = {
    # ResNet's basic block: an identity shortcut, or a projection when the shape changes.
    "basic": {"params": {"c": 4, "stride": 1, "act": "relu"}, "layers": [
        {"name": "conv1", "type": "conv2d", "out_channels": "$c", "kernel_size": 3, "stride": "$stride",
         "padding": 1, "bias": False},
        {"name": "bn1", "type": "batchnorm2d"},
        {"name": "act", "type": "$act"},
        {"name": "conv2", "type": "conv2d", "out_channels": "$c", "kernel_size": 3, "padding": 1,
         "bias": False},
        {"name": "bn2", "type": "batchnorm2d"},
        {"name": "downsample.0", "type": "conv2d", "from": "input", "out_channels": "$c", "kernel_size": 1,
         "stride": "$stride", "bias": False, "when": "${stride != 1 or in_channels != c}"},
        {"name": "downsample.1", "type": "batchnorm2d", "when": "${stride != 1 or in_channels != c}"},
        {"name": "add", "type": "add", "from": ["bn2", "downsample.1"]},
        {"name": "relu", "type": "relu"},
    ]},
    # MobileNetV2's inverted residual: expansion left out at t = 1, the skip only where shapes agree
    # (left out, the add means its first input: the block's output is bn).
    "inverted": {"params": {"t": 2, "c": 4, "stride": 1, "hidden": "${in_channels * t}"}, "layers": [
        {"name": "expand", "type": "conv2d", "out_channels": "$hidden", "kernel_size": 1, "bias": False,
         "activation": "relu6", "when": "${t != 1}"},
        {"name": "dw", "type": "conv2d", "out_channels": "$hidden", "kernel_size": 3, "stride": "$stride",
         "padding": 1, "groups": "$hidden", "activation": "relu6"},
        {"name": "project", "type": "conv2d", "out_channels": "$c", "kernel_size": 1, "bias": False},
        {"name": "bn", "type": "batchnorm2d"},
        {"name": "add", "type": "add", "from": ["bn", "input"],
         "when": "${stride == 1 and in_channels == c}"},
    ]},
    # Squeeze-and-excitation: a [C, 1, 1] gate times the input, in the order the caller names.
    "se": {"params": {"r": 2, "gate": "sigmoid", "a": "input", "b": "gate"}, "layers": [
        {"name": "squeeze", "type": "globalavgpool"},
        {"name": "fc1", "type": "conv2d", "out_channels": "${max(1, in_channels // r)}", "kernel_size": 1},
        {"name": "relu", "type": "relu"},
        {"name": "fc2", "type": "conv2d", "out_channels": "${in_channels}", "kernel_size": 1},
        {"name": "gate", "type": "$gate"},
        {"name": "scale", "type": "mul", "from": ["$a", "$b"]},
    ]},
    # Blocks inside a block: a repeat whose count and first instance are parameters, then SE.
    "stage": {"params": {"c": 4, "n": 2, "stride": 2, "se": True}, "layers": [
        {"name": "blocks", "block": "basic", "repeat": "${n}", "c": "$c", "first": {"stride": "$stride"}},
        {"name": "se", "block": "se", "when": "$se", "r": "${max(1, c // 2)}"},
    ]},
    # Inception: branches from the input, an asymmetric kernel [$k, 1], a fourth branch or not
    # (left out, the concat reads its input, the pool).
    "inception": {"params": {"a": 2, "b": 3, "k": 3, "four": True}, "layers": [
        {"name": "b1", "type": "conv2d", "from": "input", "out_channels": "$a", "kernel_size": 1},
        {"name": "b2", "type": "conv2d", "from": "input", "out_channels": "$b", "kernel_size": ["$k", 1],
         "padding": ["${k // 2}", 0]},
        {"name": "b3", "type": "maxpool2d", "from": "input", "kernel_size": 3, "stride": 1, "padding": 1},
        {"name": "b4", "type": "conv2d", "from": "b3", "out_channels": "$a", "kernel_size": 1,
         "when": "$four"},
        {"name": "cat", "type": "concat", "from": ["b1", "b2", "b4"]},
    ]},
    # U-Net's up step: an up-convolution, the skip (named by the caller) cropped to it, joined.
    "up": {"params": {"c": 4, "skip": "input"}, "layers": [
        {"name": "up", "type": "convtranspose2d", "out_channels": "$c", "kernel_size": 2, "stride": 2},
        {"name": "crop", "type": "centercrop", "from": ["$skip", "up"]},
        {"name": "cat", "type": "concat", "from": ["crop", "up"]},
    ]},
}

# What each block does to a [C, H, W] input, given its arguments (for steering only).


def _k3(size: int, stride: int) -> int:
    return (size - 1) // stride + 1  # a 3×3 convolution with padding 1


def _basic(shape: Shape, c: int, stride: int) -> Shape:
    return (c, _k3(shape[1], stride), _k3(shape[2], stride))


@dataclass
class Graph:
    """A branching spec being drawn: its entries and the shape of each name written so far."""

    input: list[int]
    layers: list[dict[str, Any]] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    last: str = "input"
    count: int = 0

    @property
    def shape(self) -> Shape:
        return self.shapes[self.last]

    def name(self) -> str:
        self.count += 1
        return f"s{self.count}"

    def add(self, layer: dict[str, Any], shape: Shape) -> str:
        """Append an entry; name it (so that later entries can read it) and record its shape."""
        name = layer.setdefault("name", self.name())
        self.layers.append(layer)
        self.shapes[name] = shape
        self.last = name
        return name


def _block_call(draw: st.DrawFn, g: Graph) -> None:
    channels, height, width = g.shape
    kind = draw(st.sampled_from(["basic", "basic", "inverted", "se", "stage", "inception"]))
    call: dict[str, Any] = {"block": kind, "name": g.name()}
    if kind == "basic":
        c = draw(st.sampled_from([channels, channels, 1, 2, 3, 5, 6]))
        stride = draw(st.sampled_from([1, 1, 2]))
        call.update(c=c)
        if stride != 1:
            call["stride"] = stride
        if draw(st.booleans()):
            call["act"] = draw(st.sampled_from(["relu6", "silu", "hardswish", "hardsigmoid", "identity",
                                                "gelu", "tanh"]))
        shape = _basic(g.shape, c, stride)
        if draw(st.integers(0, 2)) == 0:  # a repeat, the first instance with its own stride
            call["repeat"] = draw(st.integers(1, 3))
            first = draw(st.sampled_from([1, 2]))
            call["first"] = {"stride": first}
            call.pop("stride", None)
            shape = _basic(g.shape, c, first)
            if call["repeat"] > 1 and stride != 1:
                call["stride"] = stride  # the later instances
                for _ in range(call["repeat"] - 1):
                    shape = _basic(shape, c, stride)
    elif kind == "inverted":
        t, c = draw(st.integers(1, 3)), draw(st.sampled_from([channels, 2, 4]))
        stride = draw(st.sampled_from([1, 2]))
        call.update(t=t, c=c, stride=stride)
        shape = _basic(g.shape, c, stride)
    elif kind == "se":
        call.update(r=draw(st.integers(1, 4)), gate=draw(st.sampled_from(["sigmoid", "hardsigmoid"])))
        if draw(st.booleans()):
            call.update(a="gate", b="input")
        shape = g.shape
    elif kind == "stage":
        c, n, stride = draw(st.integers(1, 6)), draw(st.integers(1, 2)), draw(st.sampled_from([1, 2]))
        call.update(c=c, n=n, stride=stride, se=draw(st.booleans()))
        shape = _basic(g.shape, c, stride)
        for _ in range(n - 1):
            shape = _basic(shape, c, 1)
    else:  # inception
        a, b, k, four = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.sampled_from([1, 3, 5])), \
            draw(st.booleans())
        call.update(a=a, b=b, k=k, four=four)
        shape = (a + b + (a if four else channels), height, width)
    path = g.add(call, shape)
    if kind in ("basic", "inverted") and "repeat" not in call and draw(st.integers(0, 2)) == 0:
        # A path into the call: its output plus what its bn (or conv1, by broadcasting) gave.
        inner = "bn2" if kind == "basic" else "bn"
        g.add({"type": draw(st.sampled_from(["add", "mul"])), "from": [path, f"{path}.{inner}"]}, shape)


def _concat(draw: st.DrawFn, g: Graph) -> None:
    """2 to 4 branches from one point, each keeping the size, joined along channels."""
    source, (channels, height, width) = g.last, g.shape
    ends, total = [], 0
    for _ in range(draw(st.integers(2, 4))):
        how = draw(st.sampled_from(["conv", "conv", "pool", "same", "chain"]))
        if how == "same":  # the source itself, read again
            ends.append(source)
            total += channels
            continue
        if how == "pool":
            kind = draw(st.sampled_from(["maxpool2d", "avgpool2d"]))
            end = g.add({"type": kind, "from": source, "kernel_size": 3, "stride": 1, "padding": 1},
                        (channels, height, width))
            total += channels
        else:
            k = draw(st.sampled_from([1, 3, 5]))
            out = draw(st.integers(1, 4))
            end = g.add({"type": "conv2d", "from": source, "out_channels": out, "kernel_size": k,
                         "padding": k // 2}, (out, height, width))
            if how == "chain":
                end = g.add({"type": draw(st.sampled_from(["relu", "relu6", "silu", "identity"]))},
                            (out, height, width))
            total += out
        ends.append(end)
    g.add({"type": "concat", "from": ends}, (total, height, width))


def _projection(draw: st.DrawFn, g: Graph) -> None:
    """A residual add written out: a main path and a 1×1 projection shortcut, or the identity."""
    source, channels = g.last, g.shape[0]
    stride = draw(st.sampled_from([1, 2]))
    c = channels if stride == 1 and draw(st.booleans()) else draw(st.integers(1, 6))
    main = g.add({"type": "conv2d", "out_channels": c, "kernel_size": 3, "stride": stride, "padding": 1},
                 _basic(g.shape, c, stride))
    main = g.add({"type": "batchnorm2d"}, g.shape)
    if stride == 1 and c == channels:
        shortcut = source
    else:
        shortcut = g.add({"type": "conv2d", "from": source, "out_channels": c, "kernel_size": 1,
                          "stride": stride}, g.shapes[main])
    order = [main, shortcut] if draw(st.booleans()) else [shortcut, main]
    g.add({"type": "add", "from": order}, g.shapes[main])


def _broadcast(draw: st.DrawFn, g: Graph) -> None:
    """A [C, 1, 1] summary added to (or multiplying) its own map, on either side."""
    source, shape = g.last, g.shape
    pooled = g.add({"type": "globalavgpool"}, (shape[0], 1, 1))
    order = [source, pooled] if draw(st.booleans()) else [pooled, source]
    g.add({"type": draw(st.sampled_from(["add", "mul"])), "from": order}, shape)


def _unet(draw: st.DrawFn, g: Graph) -> None:
    """Down by 2, maybe a size-keeping conv, then up: by the `up` block (its skip passed by
    name) or by upsample, the skip center-cropped to it and joined (concat) or added."""
    if g.last == "input":  # inside the block, `input` would name the block's own input
        g.add({"type": "identity"}, g.shape)
    skip, (channels, height, width) = g.last, g.shape
    g.add({"type": "maxpool2d", "kernel_size": 2}, (channels, height // 2, width // 2))
    if draw(st.booleans()):
        g.add({"type": "conv2d", "out_channels": channels, "kernel_size": 3, "padding": 1,
               "activation": draw(st.sampled_from(["relu", "relu6", "silu", "hardswish"]))}, g.shape)
    _, h, w = g.shape
    if draw(st.booleans()):
        c = draw(st.integers(1, 4))
        g.add({"block": "up", "name": g.name(), "c": c, "skip": skip}, (channels + c, 2 * h, 2 * w))
        return
    up: dict[str, Any] = {"type": "upsample", "scale_factor": 2}
    if draw(st.booleans()):
        up["mode"] = "bilinear"
    upsampled = g.add(up, (channels, 2 * h, 2 * w))
    crop = g.add({"type": "centercrop", "from": [skip, upsampled]}, (channels, 2 * h, 2 * w))
    merge = draw(st.sampled_from(["add", "concat"]))
    joined = 2 * channels if merge == "concat" else channels
    g.add({"type": merge, "from": [crop, upsampled]}, (joined, 2 * h, 2 * w))


def _learned(draw: st.DrawFn, g: Graph) -> None:
    """A parameter the network reads itself, added or multiplied in: a layer scale [C, 1, 1],
    a position map [1, C, H, W] or [C, H, W], one value per row [1, H, 1] or column [1, 1, W],
    or a single value [1, 1, 1]."""
    channels, height, width = g.shape
    shape = draw(st.sampled_from([[channels, 1, 1], [1, channels, height, width], [channels, height, width],
                                  [1, 1, width], [1, height, 1], [1]]))
    if len(shape) == 1:
        shape = [1, 1, 1]  # a single value, broadcast everywhere
    source = g.last
    learned = g.add({"type": "parameter", "shape": shape}, tuple(shape[1:] if len(shape) == 4 else shape))
    pair = [source, learned] if draw(st.booleans()) else [learned, source]
    g.add({"type": draw(st.sampled_from(["add", "mul"])), "from": pair}, (channels, height, width))


def _head(draw: st.DrawFn, g: Graph) -> None:
    """Pool, flatten and two linear heads joined: a concat of flat [F] inputs."""
    g.add({"type": draw(st.sampled_from(["globalavgpool", "flatten"]))}, g.shape)
    if g.layers[-1]["type"] == "globalavgpool":
        g.add({"type": "flatten"}, (g.shape[0],))
    else:
        g.shapes[g.last] = (math.prod(g.shapes[g.last]),)
    source = g.last
    first = g.add({"type": "linear", "out_features": draw(st.integers(1, 6))}, (0,))
    second = g.add({"type": "linear", "from": source, "out_features": draw(st.integers(1, 6))}, (0,))
    g.add({"type": "concat", "from": [first, second]}, (0,))


@st.composite
def branching_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A valid network that branches: block calls (repeats, nested blocks, parameters and
    expressions, `when` both ways), residual adds, 2-4-way concats, broadcast merges, U-Net
    skips, and chain layers between them; maybe a head with a flat concat."""
    channels = draw(st.integers(1, 4))
    height, width = draw(st.integers(2, 20)), draw(st.integers(2, 20))
    g = Graph(input=[channels, height, width], shapes={"input": (channels, height, width)})
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["call", "call", "concat", "projection", "broadcast", "unet", "layer",
                                     "learned"]))
        if kind == "unet" and min(g.shape[1:]) < 2:
            kind = "call"
        if kind == "call":
            _block_call(draw, g)
        elif kind == "concat":
            _concat(draw, g)
        elif kind == "projection":
            _projection(draw, g)
        elif kind == "broadcast":
            _broadcast(draw, g)
        elif kind == "unet":
            _unet(draw, g)
        elif kind == "learned":
            _learned(draw, g)
        else:
            layer, shape = spatial_layer(draw, g.shape)
            if layer["type"] in ("linear", "flatten", "softmax", "logsoftmax"):
                layer, shape = {"type": "identity"}, g.shape  # keep [C, H, W] for what follows
            g.add(layer, shape)
    if draw(st.integers(0, 3)) == 0:
        _head(draw, g)
    written: Any = g.input if draw(st.booleans()) else dict(zip(("channels", "height", "width"), g.input,
                                                                strict=True))
    return {"input": written, "blocks": BLOCKS, "layers": g.layers}


# --- receptive fields: linear networks that branch, to compare with a gradient's footprint -----

def _rf_branch(draw: st.DrawFn, g: Graph, source: str, strided: bool) -> str:
    """A path from ``source`` that keeps its [C, H, W], centred on it or not; ``strided``: it may
    upsample and stride back down."""
    channels, height, width = g.shapes[source]
    recipes = ["conv", "dilated", "shifted", "pool", "same"] + (["updown", "transposed"] if strided else [])
    recipe = draw(st.sampled_from(recipes))
    keep = (channels, height, width)
    if recipe == "same":
        return source
    if recipe == "conv":
        k = draw(st.sampled_from([1, 3, 5]))
        return g.add({"type": "conv2d", "from": source, "out_channels": 1, "kernel_size": k,
                      "padding": k // 2, "bias": False}, (1, height, width))
    if recipe == "dilated":
        k = draw(st.sampled_from([2, 3]))
        return g.add({"type": "conv2d", "from": source, "out_channels": 1, "kernel_size": 3, "dilation": k,
                      "padding": k, "bias": False}, (1, height, width))
    if recipe == "shifted":  # an even kernel after uneven padding: off the source's centres
        k = draw(st.sampled_from([2, 4]))
        before = draw(st.integers(0, k - 1))
        after = k - 1 - before
        g.add({"type": "zeropad2d", "from": source, "padding": [before, after, after, before]},
              (channels, height + k - 1, width + k - 1))
        return g.add({"type": "conv2d", "out_channels": 1, "kernel_size": k, "bias": False},
                     (1, height, width))
    if recipe == "pool":
        return g.add({"type": "avgpool2d", "from": source, "kernel_size": 3, "stride": 1, "padding": 1}, keep)
    if recipe == "updown":  # up by 2, then a stride-2 convolution back
        mode = draw(st.sampled_from(["nearest", "bilinear"]))
        g.add({"type": "upsample", "from": source, "scale_factor": 2, "mode": mode},
              (channels, 2 * height, 2 * width))
        k = draw(st.sampled_from([2, 3]))
        return g.add({"type": "conv2d", "out_channels": 1, "kernel_size": k, "stride": 2, "padding": k // 2,
                      "bias": False}, (1, (2 * height + 2 * (k // 2) - k) // 2 + 1,
                                       (2 * width + 2 * (k // 2) - k) // 2 + 1))
    g.add({"type": "convtranspose2d", "from": source, "out_channels": 1, "kernel_size": 2, "stride": 2,
           "bias": False}, (1, 2 * height, 2 * width))
    return g.add({"type": "avgpool2d", "kernel_size": 2}, (1, height, width))


@st.composite
def rf_specs(draw: st.DrawFn, resampled: bool = True, strided: bool = True) -> dict[str, Any]:
    """A network of convolutions (no bias), average pools, crops and merges (add, concat), with
    upsampling and transposed convolutions if ``resampled``, and strides after them if
    ``strided``: every output depends on its inputs through positive weights alone, so a
    gradient's footprint is its receptive field."""
    side = draw(st.integers(40, 56))
    g = Graph(input=[1, side, side], shapes={"input": (1, side, side)})
    steps = ["merge", "merge", "down", "crop"] + (["up", "transposed"] if resampled else [])
    upsampled = False
    for _ in range(draw(st.integers(1, 3))):
        source = g.last
        step = draw(st.sampled_from(steps))
        _, height, width = g.shape
        if step in ("up", "transposed") and height > 60:
            step = "down"
        if step == "down" and upsampled and not strided:
            step = "crop"
        upsampled = upsampled or step in ("up", "transposed")
        if step == "merge":
            ends = [_rf_branch(draw, g, source, strided) for _ in range(draw(st.integers(2, 3)))]
            shapes = {g.shapes[end][1:] for end in ends}
            if len(shapes) > 1:  # updown with an odd kernel may differ by a pixel: crop to the least
                least = min(shapes)
                ends = [end if g.shapes[end][1:] == least else
                        g.add({"type": "centercrop", "from": [end, next(e for e in ends
                                                                        if g.shapes[e][1:] == least)]},
                              (g.shapes[end][0], *least)) for end in ends]
            merge = draw(st.sampled_from(["add", "concat"]))
            channels = [g.shapes[end][0] for end in ends]
            if merge == "add" and len(set(channels)) > 1:
                merge = "concat"
            g.add({"type": merge, "from": ends},
                  (sum(channels) if merge == "concat" else channels[0], *g.shapes[ends[0]][1:]))
        elif step == "down":
            k, s = draw(st.integers(2, 4)), 2
            g.add({"type": draw(st.sampled_from(["conv2d", "avgpool2d"])), "kernel_size": k, "stride": s},
                  (g.shape[0], (height - k) // s + 1, (width - k) // s + 1))
            if g.layers[-1]["type"] == "conv2d":
                g.layers[-1].update(out_channels=1, bias=False)
                g.shapes[g.last] = (1, *g.shape[1:])
        elif step == "up":
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            g.add({"type": "upsample", "scale_factor": 2, "mode": mode}, (g.shape[0], 2 * height, 2 * width))
        elif step == "transposed":
            k, s = draw(st.integers(1, 4)), draw(st.integers(1, 3))
            g.add({"type": "convtranspose2d", "out_channels": 1, "kernel_size": k, "stride": s,
                   "bias": False}, (1, (height - 1) * s + k, (width - 1) * s + k))
        else:
            g.add({"type": "avgpool2d", "kernel_size": 3, "stride": 1}, (g.shape[0], height - 2, width - 2))
            g.add({"type": "centercrop", "from": [source, g.last]},
                  (g.shapes[source][0], height - 2, width - 2))
    return {"input": g.input, "layers": g.layers}
