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
from fractions import Fraction
from functools import singledispatch
from typing import Any

from cnncalc.analysis import core
from cnncalc.analysis.walk import LayerRow, conv_padding, per_map_text
from cnncalc.spec.models import (
    RBF,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Subsampling,
    ZeroPad2d,
)
from cnncalc.text import plural

__all__ = ["METRICS", "Worked", "explain_layer"]

# The quantities a student is asked for, in the lecture's order, with their names in questions.
METRICS = {
    "output_size": "width of the next layer",
    "output_height": "height of the next layer",
    "output_shape": "output shape",
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


def explain_layer(layer: Any, row: LayerRow) -> list[Worked]:
    """Worked formulas for one layer: size first, then the lecture's counts."""
    return [*_size(layer, row), *_counts(layer, row)]


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
    shape = Worked("output_shape", "", " × ".join(str(s) for s in row.output_shape),
                   tuple(row.output_shape))
    sized = _size_formula(layer, row)
    return [*sized, shape] if sized else [shape]


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

@singledispatch
def _counts(layer: Any, row: LayerRow) -> list[Worked]:
    """Element-wise layers, dropout and flatten: no units, no weights."""
    return [
        Worked("weights_per_neuron", "0", "0", 0, f"{row.type} adds no units of its own"),
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
