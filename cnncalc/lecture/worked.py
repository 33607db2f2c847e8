"""The lecture's formulas, worked with a layer's numbers.

For each quantity the lecture asks about (the width of the next layer, weights
per neuron, neurons, connections, independent parameters) this module writes
the formula in the lecture's symbols and again with the layer's numbers, as a
student would on paper: ``1 + (224 + 2×2 − 11)/4 = 55.25 → 55``,
``1 + 11×11×3 = 364``. The values come from the analysis row, so a worked
formula can never disagree with the report; the tests evaluate every worked
expression to be sure the arithmetic shown is the arithmetic done.

Symbols (COMP9444 3b): J × K input with L channels, M × N filter, padding P,
stride s; pooling width F.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import singledispatch
from typing import Any

from cnncalc.analysis import core
from cnncalc.analysis.walk import LayerRow, conv_padding, per_map_text
from cnncalc.spec.models import (
    RBF,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    Add,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    CenterCrop,
    Concat,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    GlobalAvgPool,
    Linear,
    MaxPool2d,
    Mul,
    Opaque,
    Parameter,
    Subsampling,
    Upsample,
    ZeroPad2d,
)
from cnncalc.text import plural

__all__ = ["METRICS", "Worked", "explain_layer"]

# The quantities a student is asked for, in the lecture's order, with their names in questions.
METRICS = {
    "output_size": "width of the next layer",
    "output_height": "height of the next layer",
    "output_shape": "output shape",
    "output_channels": "channels of the next layer",
    "inputs": "what it reads",
    "crop_top": "rows cropped at the top",
    "crop_left": "columns cropped at the left",
    "weights_per_neuron": "weights per neuron",
    "neurons": "neurons",
    "connections": "connections",
    "parameters": "independent parameters",
    "macs": "multiply-accumulates (MACs)",
}


@dataclass(frozen=True)
class Worked:
    """One quantity of one layer: its formula, the formula with numbers, and the value."""

    metric: str  # a key of METRICS
    formula: str  # in the lecture's symbols: "1 + M×N×L"
    worked: str  # with the numbers: "1 + 5×5×3 = 76"
    value: Any  # int, or a shape tuple for output_shape
    note: str = ""  # a plain sentence where the arithmetic needs one

    @property
    def label(self) -> str:
        return METRICS[self.metric]


def explain_layer(layer: Any, row: LayerRow, after: str | None = None) -> list[Worked]:
    """Worked formulas for one layer: size first, then the lecture's counts.

    ``after`` is the name of the row before it (``input`` for the first): where the layer reads
    something else, as a shortcut in a network that branches does, the first item says what.
    """
    sized = _size(layer, row)
    if after is not None and row.inputs and row.inputs != (after,) and not any(
            w.metric == "inputs" for w in sized):
        sized = [_reads(row), *sized]
    return [*sized, *_counts(layer, row)]


# --- number formatting ---------------------------------------------------------------

def _n(value: int) -> str:
    """An integer as the lecture prints a result: 4,704."""
    return f"{value:,}"


def _decimal(value: Fraction) -> str:
    """Two decimals at most: 55.25, 3.33 (the caller marks rounded values with ≈)."""
    return f"{float(value):.2f}".rstrip("0").rstrip(".")


def _product(*factors: int) -> str:
    return " × ".join(_n(f) for f in factors)


# --- output size ------------------------------------------------------------------------

def _size(layer: Any, row: LayerRow) -> list[Worked]:
    sized = _size_formula(layer, row)
    if any(item.metric == "output_shape" for item in sized):  # a merge says how it shapes its output
        return sized
    shape = Worked("output_shape", "", " × ".join(str(s) for s in row.output_shape),
                   tuple(row.output_shape))
    return [*sized, shape]


@singledispatch
def _size_formula(layer: Any, row: LayerRow) -> list[Worked]:
    return []


@_size_formula.register(Conv2d)
def _conv_size(layer: Conv2d, row: LayerRow) -> list[Worked]:
    (top, bottom), (left, right) = conv_padding(layer, row.input_shape[1:])
    return _sliding(row, layer.kernel_size, layer.stride, ((top, bottom), (left, right)), layer.dilation,
                    ceil_mode=False, kernel_symbol=("M", "N"))


@_size_formula.register(MaxPool2d)
@_size_formula.register(AvgPool2d)
def _pool_size(layer: MaxPool2d | AvgPool2d, row: LayerRow) -> list[Worked]:
    stride = layer.stride or layer.kernel_size
    pads = tuple((p, p) for p in layer.padding)
    return _sliding(row, layer.kernel_size, stride, pads, getattr(layer, "dilation", (1, 1)),
                    ceil_mode=layer.ceil_mode, kernel_symbol=("F", "F"))


@_size_formula.register(Subsampling)
def _subsampling_size(layer: Subsampling, row: LayerRow) -> list[Worked]:
    return _sliding(row, layer.kernel_size, layer.stride or layer.kernel_size, ((0, 0), (0, 0)), (1, 1),
                    ceil_mode=False, kernel_symbol=("F", "F"))


@_size_formula.register(AdaptiveAvgPool2d)
@_size_formula.register(AdaptiveMaxPool2d)
def _adaptive_size(layer: AdaptiveAvgPool2d | AdaptiveMaxPool2d, row: LayerRow) -> list[Worked]:
    width = row.output_shape[2]
    return [Worked("output_size", "the output_size asked for", f"{width}", width,
                   "adaptive pooling picks its windows to give this size")]


@_size_formula.register(ZeroPad2d)
def _pad_size(layer: ZeroPad2d, row: LayerRow) -> list[Worked]:
    left, right, _, _ = layer.padding
    width = row.output_shape[2]
    terms = "".join(f" − {-p}" if p < 0 else f" + {p}" for p in (left, right))
    note = "a negative padding crops that side" if min(layer.padding) < 0 else ""
    return [Worked("output_size", "K + P_left + P_right", f"{row.input_shape[2]}{terms} = {width}", width,
                   note)]


@_size_formula.register(Flatten)
def _flatten_size(layer: Flatten, row: LayerRow) -> list[Worked]:
    if len(row.output_shape) != 1:
        return []
    size = row.output_shape[0]
    return [Worked("output_size", "L × J × K", f"{_product(*row.input_shape)} = {_n(size)}", size,
                   "flatten lines the feature maps up into one vector")]


@_size_formula.register(GlobalAvgPool)
def _global_size(layer: GlobalAvgPool, row: LayerRow) -> list[Worked]:
    return [Worked("output_size", "1", "1", 1,
                   f"global average pooling averages each whole {row.input_shape[1]}×{row.input_shape[2]} "
                   "map into one value (adaptiveavgpool2d with output_size: 1)")]


@_size_formula.register(Upsample)
def _upsample_size(layer: Upsample, row: LayerRow) -> list[Worked]:
    how = ("nearest copies each input value to the outputs nearest it" if layer.mode == "nearest" else
           "bilinear interpolates each output from its 2×2 nearest inputs"
           + (" (align_corners: the corner values line up)" if layer.align_corners else ""))
    if layer.scale_factor is None:
        width = row.output_shape[2]
        return [Worked("output_size", "the size asked for", f"{width}", width, how)]
    sizes, outs = row.input_shape[1:], row.output_shape[1:]
    if (sizes[0], layer.scale_factor[0]) == (sizes[1], layer.scale_factor[1]):
        axes = [("output_size", 1, "J")]
    else:
        axes = [("output_height", 0, "J"), ("output_size", 1, "K")]
    worked = []
    for metric, i, symbol in axes:
        text, note = _scaled(sizes[i], layer.scale_factor[i], outs[i])
        if metric == "output_height" and note:
            note = f"height: {note}"
        worked.append(Worked(metric, f"⌊{symbol} × scale_factor⌋", text, outs[i],
                             "; ".join(n for n in (note, how) if n)))
    return worked


def _scaled(size: int, scale: float, out: int) -> tuple[str, str]:
    """⌊J × scale⌋ with the numbers. torch multiplies in double precision, where a decimal such as
    0.29 is slightly off, so the product may fall just below a whole number: say so."""
    factor = _float_text(scale)
    exact = size * Fraction(factor)
    product = float(size) * scale
    if math.floor(exact) == out:
        if exact.denominator == 1:
            return f"⌊{size} × {factor}⌋ = {_n(out)}", ""
        return f"⌊{size} × {factor}⌋ = ⌊{_float_text(float(exact))}⌋ = {_n(out)}", ""
    return (f"⌊{size} × {factor}⌋ = ⌊{product!r}⌋ = {_n(out)}",
            f"torch multiplies in double precision, where {factor} is not exact: {size} × {factor} "
            f"gives {product!r}, so the floor is {out}, not {math.floor(exact)}")


def _float_text(value: float) -> str:
    """2.0 as 2, 0.29 as 0.29: the shortest decimal that reads back as the same double (never
    in exponent form)."""
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    return f"{Decimal(text):f}" if "e" in text else text


@_size_formula.register(ConvTranspose2d)
def _transposed_size(layer: ConvTranspose2d, row: LayerRow) -> list[Worked]:
    sizes, outs = row.input_shape[1:], row.output_shape[1:]
    per_axis = list(zip(sizes, layer.kernel_size, layer.stride, layer.padding, layer.output_padding,
                        layer.dilation, strict=True))
    if per_axis[0] == per_axis[1]:
        axes = [("output_size", 1, "J", "M")]
    else:
        axes = [("output_height", 0, "J", "M"), ("output_size", 1, "K", "N")]
    worked = []
    for metric, i, j, m in axes:
        size, kernel, stride, pad, extra, dilation = per_axis[i]
        formula = f"({j} − 1)×s − 2P + d×({m} − 1) + output_padding + 1"
        text = (f"({size} − 1)×{stride} − 2×{pad} + {dilation}×({kernel} − 1) + {extra} + 1 "
                f"= {_n(outs[i])}")
        note = ""
        if stride > 1 and extra < stride:
            low = outs[i] - extra
            note = (f"the inverse of a convolution's size: a conv2d with the same M, s, P and d maps "
                    f"every size from {low} to {low + stride - 1} to {size}; output_padding {extra} "
                    f"picks {outs[i]}")
        elif extra:
            note = f"output_padding adds {plural(extra, 'row/column', 'rows/columns')} at the bottom/right"
        if metric == "output_height" and note:
            note = f"height: {note}"
        worked.append(Worked(metric, formula, text, outs[i], note))
    return worked


# --- merges: layers that read two or more entries -----------------------------------------------

def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _reads(row: LayerRow) -> Worked:
    shapes = row.input_shapes or (row.input_shape,)
    text = ", ".join(f"{name} ({_shape_text(shape)})" for name, shape in zip(row.inputs, shapes, strict=True))
    return Worked("inputs", "", text, tuple(row.inputs))


def _subscripts(symbol: str, count: int, joiner: str = " + ") -> str:
    """C₁ + C₂ + C₃, or C₁ + C₂ + … + C₉ for many."""
    digits = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    names = [f"{symbol}{str(k).translate(digits)}" for k in range(1, count + 1)]
    return joiner.join(names) if count <= 4 else joiner.join([names[0], names[1], "…", names[-1]])


@_size_formula.register(Add)
@_size_formula.register(Mul)
def _elementwise_merge_size(layer: Add | Mul, row: LayerRow) -> list[Worked]:
    shapes = row.input_shapes
    out = tuple(row.output_shape)
    joiner = " + " if isinstance(layer, Add) else " ⊙ "
    stretched = []
    for name, shape in zip(row.inputs, shapes, strict=True):
        axes = [axis for axis, size, full in zip(("channels", "height", "width"), shape, out, strict=False)
                if size == 1 and full > 1]
        if axes:
            stretched.append(f"{name}'s {' and '.join(axes)} of 1 {'is' if len(axes) == 1 else 'are'} "
                             "repeated to match")
    what = "added" if isinstance(layer, Add) else "multiplied"
    note = (f"{what} value by value, with torch broadcasting: each size equal, or 1; "
            + ("; ".join(stretched) if stretched else "here the shapes are equal"))
    return [_reads(row), Worked(
        "output_shape", _subscripts("X", len(shapes), joiner),
        f"{joiner.join(_shape_text(s) for s in shapes)} → {_shape_text(out)}", out, note)]


@_size_formula.register(Concat)
def _concat_size(layer: Concat, row: LayerRow) -> list[Worked]:
    shapes = row.input_shapes
    out = tuple(row.output_shape)
    flat = len(out) == 1
    symbol, rest = ("F", "") if flat else ("C", f"; H × W = {out[1]}×{out[2]} is every input's")
    total = Worked("output_channels", _subscripts(symbol, len(shapes)),
                   f"{' + '.join(_n(s[0]) for s in shapes)} = {_n(out[0])}", out[0],
                   ("the features of each input, one after another" if flat else
                    "the inputs' channels stacked, in the order of from") + rest)
    return [_reads(row), total, Worked("output_shape", "", _shape_text(out), out)]


@_size_formula.register(CenterCrop)
def _crop_size(layer: CenterCrop, row: LayerRow) -> list[Worked]:
    (_, height, width), (_, target_h, target_w) = row.input_shapes[0], row.input_shapes[1]
    out = tuple(row.output_shape)
    top, left = (height - target_h) // 2, (width - target_w) // 2
    return [
        _reads(row),
        Worked("output_size", "the second input's width w", f"{target_w}", target_w,
               f"{row.inputs[0]} cut to the height and width of {row.inputs[1]}; the channels stay"),
        Worked("crop_top", "⌊(H − h)/2⌋", f"⌊({height} − {target_h})/2⌋ = {top}", top,
               f"and {height - target_h - top} at the bottom" if height != target_h else "nothing to crop"),
        Worked("crop_left", "⌊(W − w)/2⌋", f"⌊({width} − {target_w})/2⌋ = {left}", left,
               f"and {width - target_w - left} at the right" if width != target_w else "nothing to crop"),
        Worked("output_shape", "", _shape_text(out), out),
    ]


def _sliding(row: LayerRow, kernel: tuple[int, int], stride: tuple[int, int],
             pads: tuple[tuple[int, int], ...], dilation: tuple[int, int], ceil_mode: bool,
             kernel_symbol: tuple[str, str]) -> list[Worked]:
    """The width (and the height, when it differs) of a sliding-window layer."""
    sizes = row.input_shape[1:]
    outs = row.output_shape[1:]
    if (sizes[0], kernel[0], stride[0], pads[0], dilation[0]) == (sizes[1], kernel[1], stride[1], pads[1],
                                                                    dilation[1]):
        axes = [("width", 1, "J", kernel_symbol[0])]  # square: the lecture's J and M
    else:
        axes = [("height", 0, "J", kernel_symbol[0]), ("width", 1, "K", kernel_symbol[1])]
    worked = []
    for axis, i, size_symbol, m_symbol in axes:
        formula, text, note = _one_size(sizes[i], kernel[i], stride[i], pads[i], dilation[i], outs[i],
                                        ceil_mode, size_symbol, m_symbol)
        if axis == "height":
            note = f"height: {note}" if note else ""
        worked.append(Worked("output_size" if axis == "width" else "output_height", formula, text, outs[i],
                             note))
    return worked


def _one_size(size: int, kernel: int, stride: int, pad: tuple[int, int], dilation: int, out: int,
              ceil_mode: bool, j: str, m: str) -> tuple[str, str, str]:
    """The lecture's 1 + (J + 2P − M)/s (or J + 1 − M) for one axis, and what rounding did."""
    before, after = pad
    fraction = Fraction(size + before + after - core.effective_kernel(kernel, dilation), stride)
    if before == after == 0 and stride == 1 and dilation == 1:
        return f"{j} + 1 − {m}", f"{size} + 1 − {kernel} = {out}", ""
    if before == after:
        pad_sym, pad_num = ("", "") if before == 0 else (" + 2P", f" + 2×{before}")
    else:
        pad_sym, pad_num = " + P_before + P_after", f" + {before} + {after}"
    # A dilated kernel spans d(M − 1) + 1 positions.
    m_sym, m_num = (m, str(kernel)) if dilation == 1 else \
        (f"d({m} − 1) − 1", f"{dilation}×({kernel} − 1) − 1")
    left, right = ("⌈", "⌉") if ceil_mode else ("", "")
    formula = f"1 + {left}({j}{pad_sym} − {m_sym})/s{right}"
    numbers = f"1 + {left}({size}{pad_num} − {m_num})/{stride}{right}"
    whole = math.floor(fraction)
    if ceil_mode:
        rounded = math.ceil(fraction) + 1
        text = (f"{numbers} = {_n(rounded)}" if fraction.denominator == 1
                else f"{numbers} = 1 + ⌈{_decimal(fraction)}⌉ = {_n(rounded)}")
        if out < rounded:
            where = "in the right padding" if after else "past the end of the input"
            unread = core.window(size, kernel, stride, before, after, dilation, out).unread_input
            lost = f", and {_unread(unread)}" if unread else ""
            return formula, f"{text} → {out}", (
                f"ceil_mode gives {rounded}, but that last window would start {where}, "
                f"so PyTorch drops it and keeps {out}{lost}")
        if fraction.denominator == 1:
            return formula, text, ""
        return formula, text, (f"ceil_mode rounds up: the last window hangs over the edge, giving "
                               f"{plural(out, 'position')} instead of {whole + 1}")
    if fraction.denominator == 1:
        return formula, f"{numbers} = {_n(out)}", ""
    shown = _decimal(1 + fraction)
    sign = "=" if Fraction(shown) == 1 + fraction else "≈"
    text = f"{numbers} {sign} {shown} → {out}"
    w = core.window(size, kernel, stride, before, after, dilation, out)
    lost = _unread(w.unread_input) if w.unread_input else \
        "what is left unread is padding, so no input is lost"
    note = (f"after the first window {_decimal(fraction)} strides fit; the part-stride left over "
            f"cannot hold another whole window, so PyTorch drops it ({plural(out, 'position')}), and {lost}")
    return formula, text, note


def _unread(positions: int) -> str:
    return (f"the last {plural(positions, 'input position')} {'is' if positions == 1 else 'are'} "
            "never seen by any window")


# --- the lecture's counts --------------------------------------------------------------

# What an element-wise layer computes, value by value (the torch docs' definitions).
_DEFINITIONS = {
    "relu": "max(0, x)",
    "relu6": "min(max(0, x), 6)",
    "leakyrelu": "x for x > 0, negative_slope × x otherwise",
    "tanh": "tanh(x)",
    "sigmoid": "1/(1 + e^−x)",
    "silu": "x × sigmoid(x)",
    "gelu": "x × Φ(x)",
    "elu": "x for x > 0, α(e^x − 1) otherwise",
    "hardswish": "x × min(max(0, x + 3), 6)/6",
    "hardsigmoid": "min(max(0, x + 3), 6)/6",
    "identity": "x",
}
_NO_UNITS = {
    "upsample": "upsample copies or interpolates values; it adds no units of its own",
    "add": "a merge adds no units: 0 in every column",
    "mul": "a merge adds no units: 0 in every column",
    "concat": "a merge adds no units: 0 in every column",
    "centercrop": "a merge adds no units: 0 in every column",
}


@singledispatch
def _counts(layer: Any, row: LayerRow) -> list[Worked]:
    """Element-wise layers, dropout, flatten, merges and upsampling: no units, no weights."""
    if row.type in _DEFINITIONS:
        note = (f"{row.type}(x) = {_DEFINITIONS[row.type]}, value by value: it adds no units of its own"
                if row.type != "identity" else "identity passes its input on unchanged: no units of its own")
    else:
        note = _NO_UNITS.get(row.type, f"{row.type} adds no units of its own")
    return [
        Worked("weights_per_neuron", "0", "0", 0, note),
        Worked("neurons", "0", "0", 0),
        Worked("connections", "0", "0", 0),
        Worked("parameters", "0", "0", row.parameters),
    ]


@_counts.register(Conv2d)
def _conv_counts(layer: Conv2d, row: LayerRow) -> list[Worked]:
    if layer.connection_table is not None:
        return _table_counts(layer, layer.connection_table, row)
    channels = row.input_shape[0]
    kh, kw = layer.kernel_size
    out_c, out_h, out_w = row.output_shape
    per_group = channels // layer.groups
    l_sym, l_num = ("L", str(channels)) if layer.groups == 1 else ("(L/g)", f"({channels}/{layer.groups})")
    bias_sym, bias_num = ("1 + ", "1 + ") if layer.bias else ("", "")
    wpn = row.weights_per_neuron
    note = ("one weight per input in the M × N window of every input channel, plus the bias"
            if layer.bias else "one weight per input in the window; no bias")
    if layer.groups > 1:
        note += f"; with groups: {layer.groups}, each filter sees {per_group} of the {channels} channels"
    return [
        Worked("weights_per_neuron", f"{bias_sym}M×N×{l_sym}", f"{bias_num}{kh}×{kw}×{l_num} = {_n(wpn)}",
               wpn, note),
        Worked("neurons", "width × height × filters", f"{_product(out_w, out_h, out_c)} = {_n(row.neurons)}",
               row.neurons),
        Worked("connections", "neurons × weights per neuron",
               f"{_product(out_w, out_h, out_c, wpn)} = {_n(row.connections)}", row.connections),
        Worked("parameters", "filters × weights per neuron",
               f"{_n(out_c)} × {_n(wpn)} = {_n(row.parameters)}",
               row.parameters, "weight sharing: the same weights are used at every position"),
        Worked("macs", "= connections", f"{_n(row.macs)}", row.macs),
    ]


def _table_counts(layer: Conv2d, table: list[tuple[int, ...]], row: LayerRow) -> list[Worked]:
    """A connection table (LeCun et al. 1998, Table I): output map j has its own M × N filter
    over just its L_j listed input maps, so its weights are 1 + M×N×L_j; the counts sum over j."""
    kh, kw = layer.kernel_size
    out_c, out_h, out_w = row.output_shape
    fan_ins = [len(inputs) for inputs in table]
    bias_sym, bias_num = ("1 + ", "1 + ") if layer.bias else ("", "")
    wpn = row.weights_per_neuron
    spread = per_map_text(fan_ins)
    wpn_note = (f"each output map j reads only its L_j listed input maps (L_j = {spread}); shown is the "
                "largest map's count" if min(fan_ins) != max(fan_ins) else
                f"each output map reads only the {plural(fan_ins[0], 'input map')} (of {row.input_shape[0]}) "
                "that its connection_table entry lists")
    # Σ_j over the maps, grouped by L_j: 6 × (1 + 5×5×3) + 9 × (1 + 5×5×4) + 1 × (1 + 5×5×6)
    counts = {fan_in: fan_ins.count(fan_in) for fan_in in sorted(set(fan_ins))}
    terms = [f"{n} × ({bias_num}{kh}×{kw}×{fan_in})" for fan_in, n in counts.items()]
    return [
        Worked("weights_per_neuron", f"{bias_sym}M×N×max L_j",
               f"{bias_num}{kh}×{kw}×{max(fan_ins)} = {_n(wpn)}", wpn, wpn_note),
        Worked("neurons", "width × height × filters", f"{_product(out_w, out_h, out_c)} = {_n(row.neurons)}",
               row.neurons),
        Worked("connections", "width × height × parameters",
               f"{out_w} × {out_h} × {_n(row.parameters)} = {_n(row.connections)}", row.connections,
               "every position of map j has its own copy of map j's weights and bias"),
        Worked("parameters", f"Σ_j ({bias_sym}M×N×L_j)", f"{' + '.join(terms)} = {_n(row.parameters)}",
               row.parameters, "the connection table: each output map has its own filter over just its "
               "input maps, shared by every position of that map"),
        Worked("macs", "= connections", f"{_n(row.macs)}", row.macs),
    ]


@_counts.register(Subsampling)
def _subsampling_counts(layer: Subsampling, row: LayerRow) -> list[Worked]:
    channels, out_h, out_w = row.output_shape
    kh, kw = layer.kernel_size
    product = _product(out_w, out_h, channels)
    if layer.bias:
        wpn = Worked("weights_per_neuron", "coefficient + bias", "1 + 1 = 2", row.weights_per_neuron,
                     "the map's trainable coefficient, shared by the unit's F×F inputs, and the map's bias")
        connections = Worked("connections", "neurons × (F×F + 1)",
                             f"{product} × ({kh}×{kw} + 1) = {_n(row.connections)}", row.connections,
                             "F×F inputs and the bias")
        parameters = Worked("parameters", "2 × channels", f"2 × {channels} = {_n(row.parameters)}",
                            row.parameters, "one coefficient and one bias per map, shared by all its units")
    else:
        wpn = Worked("weights_per_neuron", "coefficient", "1", row.weights_per_neuron,
                     "the map's trainable coefficient, shared by the unit's F×F inputs; no bias")
        connections = Worked("connections", "neurons × F×F", f"{product} × {kh}×{kw} = {_n(row.connections)}",
                             row.connections)
        parameters = Worked("parameters", "channels", _n(row.parameters), row.parameters,
                            "one coefficient per map, shared by all its units")
    return [
        wpn,
        Worked("neurons", "width × height × channels", f"{product} = {_n(row.neurons)}", row.neurons),
        connections,
        parameters,
        Worked("macs", "= neurons", _n(row.macs), row.macs,
               "one multiply-add per unit (coefficient × window sum + bias); the sum is additions only"),
    ]


@_counts.register(RBF)
def _rbf_counts(layer: RBF, row: LayerRow) -> list[Worked]:
    inputs = row.input_shape[0]
    wpn = row.weights_per_neuron
    return [
        Worked("weights_per_neuron", "inputs", _n(wpn), wpn,
               "y_i = Σ_j (x_j − w_ij)²: one prototype component per input; no bias"),
        Worked("neurons", "outputs", _n(row.neurons), row.neurons),
        Worked("connections", "neurons × weights per neuron",
               f"{row.neurons} × {_n(inputs)} = {_n(row.connections)}", row.connections),
        Worked("parameters", "outputs × inputs", f"{row.neurons} × {_n(inputs)} = {_n(row.parameters)}",
               row.parameters, "each output unit has its own prototype vector: no weight sharing"),
        Worked("macs", "= connections", _n(row.macs), row.macs,
               "a subtraction and a multiply-add per input"),
    ]


@_counts.register(Linear)
def _linear_counts(layer: Linear, row: LayerRow) -> list[Worked]:
    inputs = row.input_shape[-1]
    wpn = row.weights_per_neuron
    bias_sym, bias_num = ("1 + ", "1 + ") if layer.bias else ("", "")
    if len(row.input_shape) > 1:
        # torch's Linear on the last dimension: every leading position, one shared set of weights.
        positions = row.input_shape[:-1]
        return [
            Worked("weights_per_neuron", f"{bias_sym}last dimension",
                   f"{bias_num}{_n(inputs)} = {_n(wpn)}", wpn,
                   f"linear reads the last dimension only, at each of the {_product(*positions)} positions"),
            Worked("neurons", "positions × outputs",
                   f"{_product(*positions, layer.out_features)} = {_n(row.neurons)}", row.neurons),
            Worked("connections", "neurons × weights per neuron",
                   f"{_n(row.neurons)} × {_n(wpn)} = {_n(row.connections)}", row.connections),
            Worked("parameters", "outputs × weights per neuron",
                   f"{_n(layer.out_features)} × {_n(wpn)} = {_n(row.parameters)}", row.parameters,
                   "every position uses the same weights"),
            Worked("macs", "= connections", _n(row.macs), row.macs),
        ]
    return [
        Worked("weights_per_neuron", f"{bias_sym}inputs", f"{bias_num}{_n(inputs)} = {_n(wpn)}", wpn,
               "fully connected: one weight per input" + (", plus the bias" if layer.bias else "")),
        Worked("neurons", "outputs", _n(row.neurons), row.neurons),
        Worked("connections", "neurons × weights per neuron",
               f"{_n(row.neurons)} × {_n(wpn)} = {_n(row.connections)}", row.connections),
        Worked("parameters", "neurons × weights per neuron",
               f"{_n(row.neurons)} × {_n(wpn)} = {_n(row.parameters)}",
               row.parameters, "no weight sharing: every connection has its own weight"),
        Worked("macs", "= connections", _n(row.macs), row.macs),
    ]


@_counts.register(MaxPool2d)
@_counts.register(AvgPool2d)
def _pool_counts(layer: MaxPool2d | AvgPool2d, row: LayerRow) -> list[Worked]:
    channels, out_h, out_w = row.output_shape
    kh, kw = layer.kernel_size
    what = "max" if isinstance(layer, MaxPool2d) else "average"
    return [
        Worked("weights_per_neuron", "0", "0", 0, f"a pooling unit computes the {what}; it has no weights"),
        Worked("neurons", "width × height × channels",
               f"{_product(out_w, out_h, channels)} = {_n(row.neurons)}", row.neurons),
        Worked("connections", "neurons × F×F", f"{_n(row.neurons)} × {kh}×{kw} = {_n(row.connections)}",
               row.connections),
        Worked("parameters", "0", "0", 0, f"none: no weights to be learned, just computing the {what}"),
    ]


@_counts.register(AdaptiveAvgPool2d)
@_counts.register(AdaptiveMaxPool2d)
def _adaptive_counts(layer: AdaptiveAvgPool2d | AdaptiveMaxPool2d, row: LayerRow) -> list[Worked]:
    channels, out_h, out_w = row.output_shape
    _, in_h, in_w = row.input_shape
    gh, gw = math.gcd(in_h, out_h), math.gcd(in_w, out_w)
    return [
        Worked("weights_per_neuron", "0", "0", 0, "a pooling unit has no weights"),
        Worked("neurons", "width × height × channels",
               f"{_product(out_w, out_h, channels)} = {_n(row.neurons)}", row.neurons),
        Worked("connections", "channels × (J + O − gcd(J, O)) × (K + O' − gcd(K, O'))",
               f"{channels} × ({in_h} + {out_h} − {gh}) × ({in_w} + {out_w} − {gw}) = {_n(row.connections)}",
               row.connections, "the windows' sizes added up along each axis"),
        Worked("parameters", "0", "0", 0, "none: pooling learns nothing"),
    ]


@_counts.register(BatchNorm2d)
@_counts.register(BatchNorm1d)
def _batchnorm_counts(layer: BatchNorm2d | BatchNorm1d, row: LayerRow) -> list[Worked]:
    channels = row.input_shape[0]
    params = (Worked("parameters", "2 × channels", f"2 × {channels} = {_n(row.parameters)}", row.parameters,
                     "a learned scale and shift per channel (running statistics are not learned)")
              if layer.affine else Worked("parameters", "0", "0", 0, "affine: false learns nothing"))
    return [
        Worked("weights_per_neuron", "0", "0", 0, "normalisation adds no units"),
        Worked("neurons", "0", "0", 0),
        Worked("connections", "0", "0", 0),
        params,
    ]


@_size_formula.register(Parameter)
def _parameter_size(layer: Parameter, row: LayerRow) -> list[Worked]:
    written = " × ".join(str(s) for s in layer.shape)
    note = ("its own shape: a learned tensor read as it is, with no input"
            if len(layer.shape) != 4 else f"its own shape {written} less the batch's 1: a learned tensor "
            "read as it is, with no input")
    return [Worked("output_shape", "its shape", " × ".join(str(s) for s in row.output_shape),
                   tuple(row.output_shape), note)]


@_counts.register(Parameter)
def _parameter_counts(layer: Parameter, row: LayerRow) -> list[Worked]:
    return [
        Worked("weights_per_neuron", "0", "0", 0, "a parameter tensor has no units"),
        Worked("neurons", "0", "0", 0),
        Worked("connections", "0", "0", 0),
        Worked("parameters", "the product of its sizes", f"{_product(*layer.shape)} = {_n(row.parameters)}",
               row.parameters, "every value is learned"),
    ]


@_size_formula.register(Opaque)
def _opaque_size(layer: Opaque, row: LayerRow) -> list[Worked]:
    shapes = layer.input_shapes or ([layer.input_shape] if layer.input_shape else [])
    traced = (f" for {'inputs' if len(shapes) > 1 else 'an input'} of "
              f"{' and '.join(_shape_text(tuple(s)) for s in shapes)}" if shapes else "")
    return [Worked("output_shape", "as traced", " × ".join(str(s) for s in row.output_shape),
                   tuple(row.output_shape), f"the shape torch's trace gave{traced}: cnncalc does not know "
                   f"what {layer.module or 'this module'} computes")]


@_counts.register(Opaque)
def _opaque_counts(layer: Opaque, row: LayerRow) -> list[Worked]:
    unknown = f"not known: cnncalc cannot look inside {layer.module or 'an opaque layer'} (0 in the table)"
    return [
        Worked("weights_per_neuron", "unknown", "0", 0, unknown),
        Worked("neurons", "unknown", "0", 0, unknown),
        Worked("connections", "unknown", "0", 0, unknown),
        Worked("parameters", "as counted by torch", _n(row.parameters), row.parameters,
               "the sum of its parameters' sizes, taken from the module when it was imported"),
    ]


@_counts.register(GlobalAvgPool)
def _global_counts(layer: GlobalAvgPool, row: LayerRow) -> list[Worked]:
    channels, height, width = row.input_shape
    return [
        Worked("weights_per_neuron", "0", "0", 0, "a pooling unit has no weights"),
        Worked("neurons", "channels", _n(row.neurons), row.neurons, "one average per map"),
        Worked("connections", "channels × H × W",
               f"{_product(channels, height, width)} = {_n(row.connections)}",
               row.connections, "each unit reads every position of its map"),
        Worked("parameters", "0", "0", 0, "none: pooling learns nothing"),
    ]


@_counts.register(ConvTranspose2d)
def _transposed_counts(layer: ConvTranspose2d, row: LayerRow) -> list[Worked]:
    """The lecture's counts for a transposed convolution (contract §2): what reaches an output
    varies with its position, so weights per neuron is the largest and connections the sum."""
    channels, in_h, in_w = row.input_shape
    out_c, out_h, out_w = row.output_shape
    kh, kw = layer.kernel_size
    taps = [core.transposed_taps(size, kernel, stride, pad, extra, dilation)
            for size, kernel, stride, pad, extra, dilation in zip(
                (in_h, in_w), layer.kernel_size, layer.stride, layer.padding, layer.output_padding,
                layer.dilation, strict=True)]
    patterns = [_tap_pattern(size, kernel, stride, pad, dilation, out)
                for size, kernel, stride, pad, dilation, out in zip(
                    (in_h, in_w), layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                    (out_h, out_w), strict=True)]
    groups = layer.groups
    l_sym, l_num = ("L", str(channels)) if groups == 1 else ("(L/g)", f"({channels}/{groups})")
    f_sym, f_num = ("filters", str(out_c)) if groups == 1 else ("(filters/g)", f"({out_c}/{groups})")
    bias = int(layer.bias)
    wpn = row.weights_per_neuron
    if (patterns[0], kh) == (patterns[1], kw):
        along = f"along each axis the outputs receive {patterns[1]} of the {kw} kernel taps"
    else:
        along = (f"down the rows the outputs receive {patterns[0]} of the {kh} taps, across the columns "
                 f"{patterns[1]} of the {kw}")
    varies = taps[0].total * taps[1].total != taps[0].most * taps[1].most * out_h * out_w
    wpn_note = (f"t_h, t_w: the most kernel taps that reach one output ({along}); "
                + ("it varies with the position, so this is the largest" if varies else
                   "every output receives as many") + ("; plus the bias" if bias else "; no bias"))
    bias_sym, bias_num = ("1 + ", "1 + ") if bias else ("", "")
    if bias:
        conn_formula = f"filters × ({l_sym}×T_h×T_w + width × height)"
        conn_text = f"{out_c} × ({l_num}×{taps[0].total}×{taps[1].total} + {out_w} × {out_h})"
    else:
        conn_formula = f"filters × {l_sym}×T_h×T_w"
        conn_text = f"{out_c} × {l_num}×{taps[0].total}×{taps[1].total}"
    conn_note = (f"T_h = {taps[0].total:,}, T_w = {taps[1].total:,}: the taps reaching each output row and "
                 "column, summed" + (", and the bias of each output" if bias else "")
                 + "; only what reaches a kept output counts")
    params_text = f"{channels} × {f_num} × {kh} × {kw}" + (f" + {out_c}" if bias else "")
    macs_text = (f"{channels} × {in_h} × {in_w} × {f_num} × {kh} × {kw}"
                 + (f" + {out_c} × {out_h} × {out_w}" if bias else ""))
    macs_note = "every input value meets every kernel weight once, as torch computes it"
    if row.macs > row.connections:
        macs_note += ("; more than the connections, because the products that land in the cropped "
                      "padding are computed too")
    return [
        Worked("weights_per_neuron", f"{bias_sym}{l_sym}×t_h×t_w",
               f"{bias_num}{l_num}×{taps[0].most}×{taps[1].most} = {_n(wpn)}", wpn, wpn_note),
        Worked("neurons", "width × height × filters", f"{_product(out_w, out_h, out_c)} = {_n(row.neurons)}",
               row.neurons),
        Worked("connections", conn_formula, f"{conn_text} = {_n(row.connections)}", row.connections,
               conn_note),
        Worked("parameters", f"L × {f_sym} × M × N" + (" + filters" if bias else ""),
               f"{params_text} = {_n(row.parameters)}", row.parameters,
               "torch's weight is L × filters/g × M × N, one bias per filter, shared by every position"),
        Worked("macs", f"L×J×K × {f_sym} × M × N" + (" + filters × width × height" if bias else ""),
               f"{macs_text} = {_n(row.macs)}", row.macs, macs_note),
    ]


def _tap_pattern(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> str:
    """How many kernel taps reach the first outputs along one axis: ``1, 2, 1, 2, …``.

    Input i meets tap k at output o = i·s + k·d − P (core.transposed_taps counts the same)."""
    def count(o: int) -> int:
        t = o + pad
        return sum(1 for k in range(kernel)
                   if (t - k * dilation) % stride == 0 and 0 <= (t - k * dilation) // stride < size)

    shown = [str(count(o)) for o in range(min(out, 6))]
    return ", ".join(shown) + (", …" if out > 6 else "")
