"""The walk: a spec in, a :class:`Report` out, one row per layer.

Each layer type has one handler, registered with ``functools.singledispatch``
on its spec model. A handler takes the layer and the shape that reaches it
and returns a :class:`Step`: the output shape, the lecture's counts, and how
the layer changes the receptive field. It raises :class:`ShapeError` when the
layer cannot apply, and notes anything surprising as a warning. The walk
itself only chains the steps and adds up the totals, so its cost is a
constant per layer, whatever the image size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from fractions import Fraction
from functools import singledispatch
from typing import Any

from cnncalc.analysis import core
from cnncalc.analysis.core import ReceptiveField
from cnncalc.errors import Issue, ShapeError
from cnncalc.graph import INPUT, Graph, Node, expand_spec
from cnncalc.spec.models import (
    ELU,
    GELU,
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
    Dropout,
    Dropout2d,
    Flatten,
    GlobalAvgPool,
    Hardsigmoid,
    Hardswish,
    Identity,
    LeakyReLU,
    Linear,
    LocalResponseNorm,
    LogSoftmax,
    MaxPool2d,
    Mul,
    Opaque,
    Parameter,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Spec,
    Subsampling,
    Tanh,
    Upsample,
    ZeroPad2d,
    activation_of,
)
from cnncalc.text import plural

__all__ = [
    "BYTES_PER_VALUE",
    "LayerRow",
    "LayerWarning",
    "Report",
    "Shape",
    "Step",
    "Totals",
    "analyze",
    "conv_padding",
    "per_map_text",
    "uneven_pad_module",
]

Shape = tuple[int, ...]
Field2 = tuple[ReceptiveField, ReceptiveField]  # receptive field along height, width
BYTES_PER_VALUE = 4  # float32


@dataclass(frozen=True)
class Step:
    """What one layer does to the shape that reaches it."""

    output_shape: Shape
    weights_per_neuron: int = 0
    neurons: int = 0
    connections: int = 0
    parameters: int = 0
    macs: int = 0
    receptive_field: Field2 | None = None
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)
    # How to read this row's numbers where a reader could not guess (not a problem, so not a
    # warning: --strict ignores notes).
    notes: tuple[str, ...] = ()
    global_context: bool = False  # a path through a global operation joins here


@dataclass(frozen=True)
class LayerWarning:
    """Something the report wants a reader to notice about one layer."""

    layer: str
    index: int
    kind: str
    message: str


@dataclass(frozen=True)
class LayerRow:
    """One layer of the report: the lecture's quantities and the engineer's."""

    index: int
    name: str
    type: str
    activation: str | None
    input_shape: Shape
    output_shape: Shape
    weights_per_neuron: int
    neurons: int
    connections: int
    parameters: int
    macs: int
    output_bytes: int
    receptive_field: Field2 | None
    notes: tuple[str, ...] = ()
    inputs: tuple[str, ...] = (INPUT,)  # the paths of the rows it reads; "input" for the network's
    input_shapes: tuple[Shape, ...] = ()  # every input's shape, for a layer that reads several
    calls: tuple[str, ...] = ()  # the paths of the block calls it sits in, outermost first
    global_context: bool = False  # its output depends on a path through a global operation
    layers: int = 1  # how many layers the row stands for: more where a block is folded (--depth)

    @property
    def kind(self) -> str:
        """The type as the report shows it, with the lecture's g() when there is one: conv2d+relu."""
        return f"{self.type}+{self.activation}" if self.activation else self.type

    @property
    def parameter_bytes(self) -> int:
        return self.parameters * BYTES_PER_VALUE


@dataclass(frozen=True)
class Totals:
    parameters: int
    neurons: int
    connections: int
    macs: int
    output_bytes: int
    parameter_bytes: int


@dataclass(frozen=True)
class Report:
    """The analysis of one spec: its rows, totals and warnings, and the network they describe.

    Plain data: the renderers (:mod:`cnncalc.render`) turn it into text, and
    :class:`cnncalc.report.Report`, what :func:`cnncalc.analyze` returns, renders itself.
    """

    name: str
    description: str | None
    input_shape: Shape
    rows: list[LayerRow]
    totals: Totals
    warnings: list[LayerWarning]
    graph: Graph | None = None  # the expanded network; one node per row unless ``depth`` folds
    output_shape: Shape = ()
    depth: int | None = None  # blocks deeper than this are folded into one row each (fold())
    spec_text: str | None = field(default=None, repr=False)  # the YAML it was analysed from, if read

    @property
    def layers(self) -> list[Any]:
        """The network's layers, expanded (spec models with every field resolved), one per row."""
        return [node.layer for node in self.graph.nodes] if self.graph is not None else []

    @property
    def lines(self) -> dict[str, int | None]:
        """Each row's YAML line (its entry's), by the row's name."""
        return {node.path: node.line for node in self.graph.nodes} if self.graph is not None else {}

    @property
    def branches(self) -> bool:
        """Whether the network is more than a chain (some layer reads other than the one before)."""
        return self.graph is not None and not self.graph.is_chain


def analyze(spec: Spec) -> Report:
    """Expand the spec into its network and walk it in order, one row per layer.

    Raises :class:`ShapeError` at the first layer that cannot apply to its inputs, and
    :class:`~cnncalc.errors.SpecError` for anything expansion finds wrong.
    """
    rows: list[LayerRow] = []
    warnings: list[LayerWarning] = []
    fields: dict[str, Field2 | None] = {INPUT: (ReceptiveField(), ReceptiveField())}
    contexts: dict[str, bool] = {INPUT: False}
    constant: set[str] = set()  # the outputs that do not depend on the input (parameters)
    kinds: dict[str, str] = {}  # each row's type, by name
    # Parameters of fewer than four dimensions: torch holds them without the batch, so a layer
    # that reads only them would compute without one (and flatten or batchnorm2d otherwise).
    unbatched: set[str] = set()

    def infer(node: Node, shapes: Sequence[Shape]) -> Shape:
        index = len(rows) + 1
        layer = node.layer
        try:
            if isinstance(layer, Parameter):
                step = _parameter(layer)
                if len(layer.shape) < 4:
                    unbatched.add(node.path)
            elif node.inputs and all(i in unbatched for i in node.inputs):
                raise _Unfit(f"{layer.type} reads only {', '.join(node.inputs)}: parameters of fewer than "
                             "four dimensions, which torch holds without the batch, so it would compute "
                             "without one; merge them with the network's values first (add or mul), or write "
                             "a [C, H, W] parameter as [1, C, H, W]")
            elif isinstance(layer, _MERGES):
                step = _merge(layer, list(shapes), [fields[i] for i in node.inputs if i not in constant])
            elif isinstance(layer, Opaque):
                step = _opaque(layer, list(shapes))
            elif len(shapes) != 1:
                raise _Unfit(f"{layer.type} reads one input, but from names {len(shapes)}; merge "
                             "them first (add, mul or concat)")
            else:
                _PRODUCER.set(kinds.get(node.inputs[0]))
                step = _step(layer, shapes[0], fields[node.inputs[0]])
        except _Unfit as unfit:
            issue = Issue(str(unfit), line=node.line, layer=node.path, index=index)
            raise ShapeError([issue], spec.source) from None
        context = step.global_context or any(contexts[i] for i in node.inputs)
        if all(i in constant for i in node.inputs):  # a parameter, or what only parameters feed
            constant.add(node.path)
        rows.append(LayerRow(
            index=index, name=node.path, type=layer.type,
            activation=activation_of(layer),
            input_shape=shapes[0] if shapes else (), output_shape=step.output_shape,
            weights_per_neuron=step.weights_per_neuron, neurons=step.neurons,
            connections=step.connections, parameters=step.parameters, macs=step.macs,
            # a parameter is held once, in the parameters' bytes, not as an output per image
            output_bytes=0 if isinstance(layer, Parameter)
            else math.prod(step.output_shape) * BYTES_PER_VALUE,
            receptive_field=step.receptive_field, notes=step.notes,
            inputs=node.inputs, input_shapes=tuple(shapes) if len(shapes) > 1 else (),
            calls=node.calls, global_context=context and step.receptive_field is not None,
        ))
        warnings.extend(LayerWarning(node.path, index, kind, message) for kind, message in step.warnings)
        fields[node.path] = step.receptive_field
        contexts[node.path] = context
        kinds[node.path] = layer.type
        return step.output_shape

    graph = expand_spec(spec, infer)
    if graph.output in constant:
        node = next(n for n in graph.nodes if n.path == graph.output)
        issue = Issue("the network's output reads only parameters, so it does not depend on the input; "
                      "end the network with a layer that reads the input's values", line=node.line,
                      layer=node.path, index=graph.nodes.index(node) + 1)
        raise ShapeError([issue], spec.source)
    warnings.extend(_collapse_warnings(rows))
    totals = Totals(
        parameters=sum(r.parameters for r in rows),
        neurons=sum(r.neurons for r in rows),
        connections=sum(r.connections for r in rows),
        macs=sum(r.macs for r in rows),
        output_bytes=sum(r.output_bytes for r in rows),
        parameter_bytes=sum(r.parameter_bytes for r in rows),
    )
    return Report(name=spec.name or "network", description=spec.description,
                  input_shape=spec.input.shape, rows=rows, totals=totals,
                  warnings=sorted(warnings, key=lambda w: w.index), graph=graph,
                  output_shape=graph.shapes[graph.output], spec_text=spec.text)


# The type of the layer whose output the layer being walked reads, for its messages: a map that
# is not [C, H, W] comes from flatten, except where an opaque layer made it.
_PRODUCER: ContextVar[str | None] = ContextVar("producer", default=None)


class _Unfit(Exception):
    """Raised by a handler: this layer cannot apply to its input (the message says why)."""


# --- the handlers ---------------------------------------------------------------

@singledispatch
def _step(layer: Any, shape: Shape, rf: Field2 | None) -> Step:
    raise NotImplementedError(f"no analysis for layer type {type(layer).__name__}")


@_step.register(Conv2d)
def _conv2d(layer: Conv2d, shape: Shape, rf: Field2 | None) -> Step:
    channels, height, width = _feature_map(layer.type, shape)
    if channels % layer.groups or layer.out_channels % layer.groups:
        raise _Unfit(f"groups {layer.groups} must divide both the input's {plural(channels, 'channel')} "
                     f"and out_channels {layer.out_channels}")
    pads = conv_padding(layer, (height, width))
    out = []
    for size, kernel, stride, (before, after), dilation, axis in zip(
            (height, width), layer.kernel_size, layer.stride, pads, layer.dilation, _AXES, strict=True):
        if layer.padding_mode in ("reflect", "circular") and max(before, after) >= size + (
                layer.padding_mode == "circular"):
            raise _Unfit(f"padding_mode {layer.padding_mode!r} needs padding smaller than the "
                         f"input's {_count(size, axis)}; got {max(before, after)}")
        out.append(core.conv_output_size(size, kernel, stride, before, after, dilation))
    _check_fit(layer.type, (height, width), layer.kernel_size, pads, layer.dilation, out)
    area = layer.kernel_size[0] * layer.kernel_size[1]
    neurons = layer.out_channels * out[0] * out[1]
    notes: tuple[str, ...] = ()
    if layer.connection_table is None:
        weights_per_neuron = channels // layer.groups * area + layer.bias
        parameters = layer.out_channels * weights_per_neuron
        connections = neurons * weights_per_neuron
    else:
        per_map = _table_weights(layer.connection_table, channels, area, layer.bias)
        weights_per_neuron = max(per_map)
        parameters = sum(per_map)
        connections = out[0] * out[1] * parameters
        if min(per_map) != weights_per_neuron:
            notes = (f"connection_table: weights per neuron differ by output map "
                     f"({per_map_text(per_map)}); w/neuron shows the largest, and connections "
                     f"({out[0]}×{out[1]}×{parameters:,}) and parameters sum over the maps",)
    warnings = _window_warnings((height, width), layer.kernel_size, layer.stride, pads,
                                layer.dilation, out, "convolution")
    if layer.padding == "same" and any(before != after for before, after in pads):
        (top, bottom), (left, right) = pads
        built = (f"TableConv2d, which pads with padding_mode {layer.padding_mode!r} before convolving"
                 if layer.connection_table is not None else
                 f"{uneven_pad_module(layer.padding_mode)}(({left}, {right}, {top}, {bottom})) "
                 "then the convolution")
        how = ("as PyTorch's padding='same' does" if layer.stride == (1, 1)
               else "as TensorFlow's 'SAME' does; PyTorch allows padding='same' only at stride 1, so "
                    f"cnncalc builds it as {built}")
        warnings.append(("asymmetric_padding",
                         f"padding 'same' pads unevenly: {top} top / {bottom} bottom, "
                         f"{left} left / {right} right (the extra row or column goes bottom/right, {how})"))
    return Step(
        output_shape=(layer.out_channels, out[0], out[1]),
        weights_per_neuron=weights_per_neuron,
        neurons=neurons,
        connections=connections,
        parameters=parameters,
        macs=connections,
        receptive_field=_through(rf, layer.kernel_size, layer.stride, pads, layer.dilation),
        warnings=warnings,
        notes=notes,
    )


def _table_weights(table: list[tuple[int, ...]], channels: int, window: int, bias: bool) -> list[int]:
    """Each output map's weights under a connection table: L_j·M·N + bias (LeCun et al. 1998,
    Table I). Raises when an entry names an input map the layer does not receive."""
    for j, inputs in enumerate(table):
        beyond = [i for i in inputs if i >= channels]
        if beyond:
            maps = "map 0" if channels == 1 else f"maps 0–{channels - 1}"
            raise _Unfit(f"connection_table.{j} (output map {j}) lists input map {beyond[0]}, but the "
                         f"input has {plural(channels, 'map')} ({maps}); input maps "
                         "are numbered from 0")
    return [len(inputs) * window + bias for inputs in table]


def per_map_text(values: list[int]) -> str:
    """Which output maps have which value: '76 for maps 0–5, 101 for maps 6–14, 151 for map 15'."""
    groups: dict[int, list[int]] = {}
    for j, value in enumerate(values):
        groups.setdefault(value, []).append(j)
    parts = []
    for value, maps in sorted(groups.items()):
        contiguous = maps == list(range(maps[0], maps[-1] + 1))
        if len(maps) == 1:
            which = f"map {maps[0]}"
        elif contiguous:
            which = f"maps {maps[0]}–{maps[-1]}"
        elif len(maps) <= 4:
            which = "maps " + ", ".join(str(m) for m in maps)
        else:
            which = f"{len(maps)} maps"
        parts.append(f"{value:,} for {which}")
    return ", ".join(parts)


@_step.register(MaxPool2d)
@_step.register(AvgPool2d)
def _pool2d(layer: MaxPool2d | AvgPool2d, shape: Shape, rf: Field2 | None) -> Step:
    channels, height, width = _feature_map(layer.type, shape)
    stride = layer.stride or layer.kernel_size
    dilation = layer.dilation if isinstance(layer, MaxPool2d) else (1, 1)  # AvgPool2d has none
    out = []
    for size, kernel, step, pad, dil in zip((height, width), layer.kernel_size, stride,
                                            layer.padding, dilation, strict=True):
        if pad > kernel // 2:
            raise _Unfit(f"padding {pad} is more than half the kernel ({kernel}); PyTorch allows "
                         f"at most {kernel // 2}")
        out.append(core.pool_output_size(size, kernel, step, pad, dil, layer.ceil_mode))
    _check_fit(layer.type, (height, width), layer.kernel_size, tuple((p, p) for p in layer.padding),
               dilation, out)
    warnings: list[tuple[str, str]] = []
    if layer.ceil_mode:
        for (size, kernel, step, pad, dil, size_out), axis in _per_axis(
                (height, width), layer.kernel_size, stride, layer.padding, dilation, tuple(out)):
            warnings.extend(_ceil_warnings(size, kernel, step, pad, dil, size_out, axis))
    pads = tuple((p, p) for p in layer.padding)
    warnings += _window_warnings((height, width), layer.kernel_size, stride, pads, dilation, out,
                                 "pooling", ceil_mode=layer.ceil_mode)
    neurons = channels * out[0] * out[1]
    return Step(
        output_shape=(channels, out[0], out[1]),
        neurons=neurons,
        connections=neurons * layer.kernel_size[0] * layer.kernel_size[1],
        receptive_field=_through(rf, layer.kernel_size, stride, pads, dilation),
        warnings=warnings,
    )


@_step.register(Subsampling)
def _subsampling(layer: Subsampling, shape: Shape, rf: Field2 | None) -> Step:
    """LeNet-5's S2 and S4: a window sum × one coefficient per map + one bias per map."""
    channels, height, width = _feature_map(layer.type, shape)
    stride = layer.stride or layer.kernel_size
    out = [core.pool_output_size(size, kernel, step)
           for size, kernel, step in zip((height, width), layer.kernel_size, stride, strict=True)]
    no_pads = ((0, 0), (0, 0))
    _check_fit(layer.type, (height, width), layer.kernel_size, no_pads, (1, 1), out)
    neurons = channels * out[0] * out[1]
    return Step(
        output_shape=(channels, out[0], out[1]),
        weights_per_neuron=1 + layer.bias,
        neurons=neurons,
        connections=neurons * (layer.kernel_size[0] * layer.kernel_size[1] + layer.bias),
        parameters=channels * (1 + layer.bias),
        macs=neurons,
        receptive_field=_through(rf, layer.kernel_size, stride, no_pads, (1, 1)),
        warnings=_window_warnings((height, width), layer.kernel_size, stride, no_pads, (1, 1), out,
                                  "subsampling"),
    )


@_step.register(AdaptiveAvgPool2d)
@_step.register(AdaptiveMaxPool2d)
def _adaptive(layer: AdaptiveAvgPool2d | AdaptiveMaxPool2d, shape: Shape, rf: Field2 | None) -> Step:
    channels, height, width = _feature_map(layer.type, shape)
    out_h, out_w = (o if o is not None else s
                    for o, s in zip(layer.output_size, (height, width), strict=True))
    # Window i spans floor(i·J/O) … ceil((i+1)·J/O) − 1; windows are products of a row span
    # and a column span, so the connections multiply.
    connections = (channels * core.adaptive_connections(height, out_h)
                   * core.adaptive_connections(width, out_w))
    # pooling to one position is global pooling: no local receptive field (contract §2)
    field, warnings = (None, []) if (out_h, out_w) == (1, 1) else _fields(
        rf, lambda axis, along, size, out: axis.adaptive(size, out), (height, width), (out_h, out_w))
    return Step(
        output_shape=(channels, out_h, out_w),
        neurons=channels * out_h * out_w,
        connections=connections,
        receptive_field=field,
        warnings=warnings,
    )


@_step.register(Linear)
def _linear(layer: Linear, shape: Shape, rf: Field2 | None) -> Step:
    """Fully connected over the last dimension, as torch's ``Linear``.

    On a flat [F] input this is the lecture's dense layer: weights per neuron = bias + F,
    neurons = out, connections = parameters = MACs = out·(bias + F). On [C, L] or [C, H, W]
    torch applies the same layer to every position of the leading dimensions (each of the C·H
    rows of a map), so the output is [C, H, out]; every one of those C·H·out units is a neuron
    with bias + W weights, hence neurons = C·H·out and connections = MACs = neurons·(bias + W),
    while the parameters are one layer's, out·(bias + W): the rows share them, as a conv's
    positions do. A note says so.

    Receptive field, on a map: along the height a row sees only its own row (a 1-row kernel);
    along the width every output sees the whole input width, and all ``out`` outputs of a row see
    the same columns, so the field grows as a kernel as wide as the input and the jump becomes 0
    (the outputs are features, not positions: a later window over them widens nothing).
    """
    features = shape[-1]
    positions = math.prod(shape[:-1])
    weights_per_neuron = features + layer.bias
    neurons = positions * layer.out_features
    notes: tuple[str, ...] = ()
    field: Field2 | None = None
    if len(shape) > 1:
        notes = (f"linear acts on the last dimension ({features:,} features) at each of the "
                 f"{positions:,} positions of {_show(shape[:-1])} with the same weights: neurons and "
                 f"connections count every position, parameters one layer "
                 f"({layer.out_features:,} × {weights_per_neuron:,})",)
        if rf is not None and len(shape) == 3:
            field = (rf[0], rf[1].through(features, stride=0))
    return Step(
        output_shape=(*shape[:-1], layer.out_features),
        weights_per_neuron=weights_per_neuron,
        neurons=neurons,
        connections=neurons * weights_per_neuron,
        parameters=layer.out_features * weights_per_neuron,
        macs=neurons * weights_per_neuron,
        receptive_field=field,
        notes=notes,
    )


@_step.register(RBF)
def _rbf(layer: RBF, shape: Shape, rf: Field2 | None) -> Step:
    """LeNet-5's output: y_i = Σ_j (x_j − w_ij)², one prototype weight per input, no bias."""
    if len(shape) != 1:
        raise _Unfit(f"rbf needs a flat input [features]; got {_show(shape)}. "
                     "Add {type: flatten} before it")
    connections = layer.out_features * shape[0]
    return Step(
        output_shape=(layer.out_features,),
        weights_per_neuron=shape[0],
        neurons=layer.out_features,
        connections=connections,
        parameters=connections,
        macs=connections,
    )


@_step.register(Flatten)
def _flatten(layer: Flatten, shape: Shape, rf: Field2 | None) -> Step:
    """torch's ``Flatten(start_dim, end_dim)``, whose dims count the batch as dim 0.

    ``start_dim == end_dim`` (after resolving negative dims) changes nothing, in torch as here,
    even at dim 0. Merging the batch (dim 0) with later dims is refused, although torch does it:
    the images of a batch would become one vector, so there is no per-image shape, and none of
    the lecture's per-image counts can be given.
    """
    rank = len(shape) + 1  # torch's dims count the batch
    start, end = (d + rank if d < 0 else d for d in (layer.start_dim, layer.end_dim))
    if not (0 <= start < rank and 0 <= end < rank):
        raise _Unfit(f"start_dim {layer.start_dim} / end_dim {layer.end_dim} are out of range "
                     f"for an input of {rank} dims (batch + {_show(shape)})")
    if start > end:
        raise _Unfit(f"start_dim {layer.start_dim} comes after end_dim {layer.end_dim}")
    if start == end:
        return Step(output_shape=shape, receptive_field=rf)
    if start == 0:
        which = "" if layer.start_dim == 0 else " resolves to dim 0, which"
        raise _Unfit(f"start_dim {layer.start_dim}{which} is the batch: flattening it would merge "
                     "the images of a batch into one vector, leaving no per-image shape to analyse; "
                     "use start_dim: 1")
    merged = math.prod(shape[start - 1:end])
    out = (*shape[:start - 1], merged, *shape[end:])
    return Step(output_shape=out, receptive_field=rf if len(out) == 3 else None)


@_step.register(BatchNorm2d)
def _batchnorm2d(layer: BatchNorm2d, shape: Shape, rf: Field2 | None) -> Step:
    channels, _, _ = _feature_map(layer.type, shape)
    return Step(output_shape=shape, parameters=2 * channels if layer.affine else 0,
                receptive_field=rf)


@_step.register(BatchNorm1d)
def _batchnorm1d(layer: BatchNorm1d, shape: Shape, rf: Field2 | None) -> Step:
    """torch's ``BatchNorm1d`` takes [features] or [channels, length] (a batch of 2 or 3 dims),
    normalising each feature or channel: 2·F or 2·C parameters (with ``affine``)."""
    if len(shape) > 2:
        raise _Unfit(f"batchnorm1d needs [features] or [channels, length]; got {_show(shape)}. "
                     "Use batchnorm2d on feature maps")
    return Step(output_shape=shape, parameters=2 * shape[0] if layer.affine else 0,
                receptive_field=rf)


@_step.register(LocalResponseNorm)
def _lrn(layer: LocalResponseNorm, shape: Shape, rf: Field2 | None) -> Step:
    if len(shape) < 2:
        raise _Unfit(f"localresponsenorm needs channels to normalise across; got {_show(shape)}")
    return Step(output_shape=shape, receptive_field=rf)


@_step.register(Dropout2d)
def _dropout2d(layer: Dropout2d, shape: Shape, rf: Field2 | None) -> Step:
    """Whole channels of a feature map. torch also runs it on [C, L] and [F], but warns that
    both uses are deprecated and will change (to reading [N, C, L] as an unbatched image, or to
    an error), so cnncalc refuses them rather than promise what torch will not keep."""
    if len(shape) != 3:
        raise _Unfit(f"dropout2d drops whole channels of a feature map [channels, height, width]; "
                     f"got {_show(shape)}, on which torch deprecates it. Use dropout")
    return Step(output_shape=shape, receptive_field=rf)


@_step.register(ZeroPad2d)
def _zeropad2d(layer: ZeroPad2d, shape: Shape, rf: Field2 | None) -> Step:
    """Zeros around each map; a negative padding crops that side instead, as torch's does.

    The output is H + top + bottom by W + left + right. torch fails when the crops on one axis
    remove more than the input has, and gives an empty map when nothing is left: both are
    refused. Cropping all of the input while padding the other side leaves a map of zeros only:
    torch allows it, so it is accepted with a warning. The receptive field moves as a 1×1
    window padded by ``top`` / ``left`` does (a crop moves the first output inward).
    """
    channels, height, width = _feature_map(layer.type, shape)
    left, right, top, bottom = layer.padding
    warnings: list[tuple[str, str]] = []
    for size, before, after, axis in ((height, top, bottom, _AXES[0]), (width, left, right, _AXES[1])):
        crop = -min(before, 0) - min(after, 0)
        if crop > size or size + before + after < 1:
            left_over = "more than it has" if crop > size else "leaving none"
            raise _Unfit(f"negative padding crops {_count(crop, axis)} of the input's {size} "
                         f"({left_over}); crop fewer {axis.plural}")
        if crop == size:
            warnings.append(("cropped_away", f"negative padding crops all {_count(size, axis)} of "
                                             "the input: the output holds only padding (zeros)"))
    return Step(output_shape=(channels, height + top + bottom, width + left + right),
                receptive_field=_through(rf, (1, 1), (1, 1), ((top, bottom), (left, right)), (1, 1)),
                warnings=warnings)


@_step.register(Softmax)
@_step.register(LogSoftmax)
def _softmax(layer: Softmax | LogSoftmax, shape: Shape, rf: Field2 | None) -> Step:
    """Same shape out, nothing counted. ``dim`` counts the batch as dim 0, as torch's does; no
    ``dim`` means dim 1, which is what cnncalc builds. A dim resolving to the batch is refused,
    although torch computes it: each value would be normalised across the images of a batch, so
    one image's output would depend on the others and no per-image analysis holds."""
    rank = len(shape) + 1
    if layer.dim is not None:
        dim = layer.dim + rank if layer.dim < 0 else layer.dim
        if not 0 <= dim < rank:
            raise _Unfit(f"dim {layer.dim} is out of range for an input of {rank} dims "
                         f"(batch + {_show(shape)}); use dim: 1 or -1 for the classes")
        if dim == 0:
            which = "" if layer.dim == 0 else " resolves to dim 0, which"
            raise _Unfit(f"dim {layer.dim}{which} is the batch: {layer.type} over it would mix the "
                         "images of a batch, so one image's output would depend on the others; "
                         "use dim: 1 (the classes)")
    return Step(output_shape=shape, receptive_field=rf)


def _elementwise(layer: Any, shape: Shape, rf: Field2 | None) -> Step:
    """Activations and dropout: same shape out, no units, no parameters."""
    return Step(output_shape=shape, receptive_field=rf)


for _model in (ReLU, LeakyReLU, Tanh, Sigmoid, GELU, ELU, Dropout, ReLU6, SiLU, Hardswish, Hardsigmoid,
               Identity):
    _step.register(_model)(_elementwise)


def _parameter(layer: Parameter) -> Step:
    """A learned tensor read as it is: its values are parameters, and it has no units. It
    does not depend on the input, so it adds nothing to a receptive field; a merge with it
    keeps its other inputs' fields."""
    return Step(output_shape=layer.image_shape, parameters=math.prod(layer.shape), receptive_field=None)


def _opaque(layer: Opaque, shapes: list[Shape]) -> Step:
    """A module kept whole (``import --leaf``): the parameters and output shape it was given, for
    one input or several. What it computes is not known, so it has no units, connections or MACs
    of its own and no receptive field past it; the warning says so."""
    if layer.input_shapes is not None and len(shapes) != len(layer.input_shapes):
        raise _Unfit(f"opaque layer{_module_of(layer)} was traced with {len(layer.input_shapes)} inputs "
                     f"(input_shapes); from names {len(shapes)}")
    if layer.input_shape is not None and len(shapes) != 1:
        raise _Unfit(f"opaque layer{_module_of(layer)} reads {len(shapes)} inputs; give each one's shape "
                     f"in input_shapes rather than one input_shape")
    traced = layer.input_shapes or ([layer.input_shape] if layer.input_shape is not None else None)
    if traced is not None and [tuple(t) for t in traced] != shapes:
        shown = " and ".join(_show(tuple(t)) for t in traced)
        raise _Unfit(f"opaque layer{_module_of(layer)} was traced with input {shown}, here it reads "
                     f"{' and '.join(_show(s) for s in shapes)}; its output at this size is unknown: "
                     f"import the model again at this input size")
    return Step(output_shape=tuple(layer.output_shape), parameters=layer.parameters, receptive_field=None,
                warnings=[("opaque", f"opaque layer{_module_of(layer)}: its parameters and output shape "
                                     f"are counted, but not its neurons, connections or MACs, and the "
                                     f"receptive field is unknown past it")])


def _module_of(layer: Opaque) -> str:
    return f" ({layer.module})" if layer.module else ""


@_step.register(GlobalAvgPool)
def _global_avg_pool(layer: GlobalAvgPool, shape: Shape, rf: Field2 | None) -> Step:
    """The mean of each map: [C, H, W] → [C, 1, 1], C units each reading H·W positions. A global
    operation: its output has no local receptive field (contract §2)."""
    channels, height, width = _feature_map(layer.type, shape)
    return Step(output_shape=(channels, 1, 1), neurons=channels, connections=channels * height * width,
                receptive_field=None)


@_step.register(ConvTranspose2d)
def _conv_transpose2d(layer: ConvTranspose2d, shape: Shape, rf: Field2 | None) -> Step:
    """A transposed convolution (contract §2): every input value meets every kernel weight once.

    - output size (J − 1)·s − 2P + d·(M − 1) + output_padding + 1, per axis;
    - parameters C_in·(C_out/groups)·kh·kw + bias·C_out, as torch's;
    - MACs C_in·H_in·W_in·(C_out/groups)·kh·kw + bias·C_out·H_out·W_out;
    - what reaches each output unit varies with its position (with s = 2 and M = 3, two kernel
      taps and one alternate): weights per neuron is the largest, bias + (C_in/groups)·t_h·t_w,
      and connections sum over the outputs, C_out·((C_in/groups)·T_h·T_w + bias·H_out·W_out),
      where t is the most taps reaching one output along an axis and T their sum
      (:func:`cnncalc.analysis.core.transposed_taps`).
    """
    channels, height, width = _feature_map(layer.type, shape)
    if channels % layer.groups or layer.out_channels % layer.groups:
        raise _Unfit(f"groups {layer.groups} must divide both the input's {plural(channels, 'channel')} "
                     f"and out_channels {layer.out_channels}")
    out, taps = [], []
    for size, kernel, stride, pad, extra, dilation in zip(
            (height, width), layer.kernel_size, layer.stride, layer.padding, layer.output_padding,
            layer.dilation, strict=True):
        out.append(core.conv_transpose_output_size(size, kernel, stride, pad, extra, dilation))
        if out[-1] < 1:
            raise _Unfit(f"the padding {pad} removes more than the {size}-wide input gives: the output "
                         f"would be {out[-1]} wide; lower padding")
        taps.append(core.transposed_taps(size, kernel, stride, pad, extra, dilation))
    per_group = channels // layer.groups
    kernel_area = layer.kernel_size[0] * layer.kernel_size[1]
    bias = int(layer.bias)
    weights_per_neuron = bias + per_group * taps[0].most * taps[1].most
    connections = layer.out_channels * (per_group * taps[0].total * taps[1].total + bias * out[0] * out[1])
    notes: tuple[str, ...] = ()
    if taps[0].total * taps[1].total != taps[0].most * taps[1].most * out[0] * out[1]:
        notes = (f"weights per neuron vary with the output position in a transposed convolution; "
                 f"w/neuron shows the largest ({weights_per_neuron:,}), and connections add up what "
                 "reaches each output",)
    field, warnings = _fields(rf, lambda axis, along, size, out: axis.transposed(
        layer.kernel_size[along], layer.stride[along], layer.padding[along], layer.dilation[along]),
        (height, width), tuple(out))
    return Step(
        output_shape=(layer.out_channels, out[0], out[1]),
        weights_per_neuron=weights_per_neuron,
        neurons=layer.out_channels * out[0] * out[1],
        connections=connections,
        parameters=channels * (layer.out_channels // layer.groups) * kernel_area + bias * layer.out_channels,
        macs=(channels * height * width * (layer.out_channels // layer.groups) * kernel_area
              + bias * layer.out_channels * out[0] * out[1]),
        receptive_field=field,
        warnings=warnings,
        notes=notes,
    )


@_step.register(Upsample)
def _upsample(layer: Upsample, shape: Shape, rf: Field2 | None) -> Step:
    """torch's Upsample: to ``size``, or ⌊J·scale⌋ (computed in double precision, as torch does).
    It adds no units. Nearest reads one input per output; bilinear the two neighbours of its
    source position along each axis (one where that position is whole), so outputs see fields of
    different sizes: :class:`~cnncalc.analysis.core.ReceptiveField` follows each exactly."""
    channels, height, width = _feature_map(layer.type, shape)
    if layer.size is not None:
        out = layer.size
    else:
        assert layer.scale_factor is not None  # the model requires one of them
        out = (math.floor(float(height) * layer.scale_factor[0]),
               math.floor(float(width) * layer.scale_factor[1]))
        if min(out) < 1:
            raise _Unfit(f"scale_factor {_pair(layer.scale_factor)} leaves an empty map "
                         f"({height}×{width} → {out[0]}×{out[1]}); use a larger factor")
    scales = layer.scale_factor

    def resample(axis: ReceptiveField, along: int, size: int, out: int) -> ReceptiveField:
        if layer.mode == "bilinear" and layer.align_corners:
            return axis.bilinear(Fraction(size - 1, out - 1) if out > 1 else Fraction(0), True)
        # torch reads by 1/scale_factor where one is given (not in/out, which differ when
        # in·scale is not whole); a decimal factor counts as the decimal it is written as
        ratio = (Fraction(size, out) if scales is None
                 else 1 / Fraction(scales[along]).limit_denominator(_FACTOR_DENOMINATOR))
        return axis.bilinear(ratio, False) if layer.mode == "bilinear" else axis.nearest(ratio)

    field, warnings = _fields(rf, resample, (height, width), tuple(out))
    return Step(output_shape=(channels, out[0], out[1]), receptive_field=field, warnings=warnings)


_MERGES = (Add, Mul, Concat, CenterCrop)


def _merge(layer: Add | Mul | Concat | CenterCrop, shapes: list[Shape],
           fields: list[Field2 | None]) -> Step:
    """Layers that read two or more inputs. They add no units: 0 in every column (contract §2).

    - ``add``, ``mul``: torch broadcasting over the per-image shape (equal sizes, or 1 on a side);
    - ``concat``: along channels (features for flat inputs), the other sizes equal;
    - ``centercrop``: the first input cut to the second's height and width, top = (H − h) // 2,
      left = (W − w) // 2.

    Receptive field: the union over the inputs at each position (``centercrop``: the first
    input's, moved by the crop), warned ``unaligned`` where their jumps or centres differ; an
    input through a global operation has none, and marks the row global_context.
    """
    kind = layer.type
    if len(shapes) < 2:
        raise _Unfit(f"{kind} merges two or more inputs; name them in from, e.g. from: [a, b]")
    shown = " and ".join(_show(shape) for shape in shapes)
    if kind == "centercrop":
        if len(shapes) != 2:
            raise _Unfit(f"centercrop reads two inputs (what to crop, and the size to crop it to); "
                         f"from names {len(shapes)}")
        (channels, height, width), (_, target_h, target_w) = (_feature_map(kind, s) for s in shapes)
        if target_h > height or target_w > width:
            raise _Unfit(f"centercrop cannot crop {_show(shapes[0])} to the larger {target_h}×{target_w} "
                         "of its second input; list the larger input first")
        top, left = (height - target_h) // 2, (width - target_w) // 2
        return Step(output_shape=(channels, target_h, target_w),
                    receptive_field=_through(fields[0], (1, 1), (1, 1), ((-top, 0), (-left, 0)), (1, 1)))
    if len({len(shape) for shape in shapes}) != 1:
        raise _Unfit(f"{kind} needs inputs of one rank; got {shown}")
    if kind == "concat":
        if any(shape[1:] != shapes[0][1:] for shape in shapes):
            what = "height and width" if len(shapes[0]) == 3 else "sizes after the first"
            raise _Unfit(f"concat joins along channels, so its inputs must agree on {what}; got {shown}")
        output = (sum(shape[0] for shape in shapes), *shapes[0][1:])
    else:
        out = []
        for sizes in zip(*shapes, strict=True):
            if len(set(sizes) - {1}) > 1:
                raise _Unfit(f"{kind} needs shapes that are equal, or 1 where they differ (torch "
                             f"broadcasting, as a squeeze-and-excitation gate [C, 1, 1]); got {shown}")
            out.append(max(sizes))
        output = tuple(out)
    local = [f for f in fields if f is not None]
    warnings: list[tuple[str, str]] = []
    field: Field2 | None = None
    if local:
        try:
            (height_field, aligned_h), (width_field, aligned_w) = (core.union([f[axis] for f in local])
                                                                   for axis in (0, 1))
        except core.IrregularField as irregular:
            warnings.append(("receptive_field", f"receptive field not computed: {irregular} (cnncalc "
                                                f"follows up to {core.MAX_PERIOD:,})"))
        else:
            field = (height_field, width_field)
            if not (aligned_h and aligned_w):
                drift = any(f[axis].jump != local[0][axis].jump for f in local for axis in (0, 1))
                shown = ("the field shown covers their union at the first position only (with different "
                         "jumps the fields drift apart along the map)" if drift
                         else "the field shown is their union")
                warnings.append(("unaligned", f"the inputs' receptive fields are not aligned "
                                              f"({_rf_text(local)}); {shown}"))
    return Step(output_shape=output, receptive_field=field, warnings=warnings,
                global_context=len(local) < len(fields) and bool(local))


def _rf_text(fields: list[Field2]) -> str:
    """Each input's jump and the centre of its first output's field, in input pixels:
    'jump 8, centre 65.5; jump 8, centre 69.5' (per axis, height × width, where they differ)."""
    def number(value: Any) -> str:
        exact = Fraction(value)
        return str(exact.numerator) if exact.denominator == 1 else f"{float(exact):g}"

    def one(f: Field2) -> str:
        jumps = [number(axis.jump) for axis in f]
        starts = [number(axis.start) for axis in f]
        jump = jumps[0] if jumps[0] == jumps[1] else "×".join(jumps)
        start = starts[0] if starts[0] == starts[1] else "×".join(starts)
        return f"jump {jump}, centre {start}"
    return "; ".join(one(f) for f in fields)


# --- helpers for the handlers ---------------------------------------------------------

@dataclass(frozen=True)
class _Axis:
    singular: str
    plural: str


_AXES = (_Axis("row", "rows"), _Axis("column", "columns"))
_BOTH = _Axis("row and column", "rows and columns")


def _per_axis(*per_dim: Sequence[Any]) -> list[tuple[tuple[Any, ...], _Axis]]:
    """Pair each dimension's parameters with its axis, or both with one axis when they agree."""
    height, width = tuple(p[0] for p in per_dim), tuple(p[1] for p in per_dim)
    if height == width:
        return [(height, _BOTH)]
    return [(height, _AXES[0]), (width, _AXES[1])]


def _show(shape: Shape) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _feature_map(kind: str, shape: Shape) -> tuple[int, int, int]:
    """The [C, H, W] a 2-D layer needs, or why it cannot apply.

    On [C, L] (after ``flatten`` with ``start_dim: 2``) torch still runs pooling, adaptive
    pooling and ZeroPad2d, but only by reading the 3-dim batch [N, C, L] as one unbatched image
    whose N channels are the images, so the layer slides over the channels as if they were
    rows; conv2d and batchnorm2d fail there. cnncalc refuses all of them on [C, L]: its model
    is a batch of images, and the user wanting 1-D pooling wants it before ``flatten``.
    """
    if len(shape) != 3:
        producer = _PRODUCER.get()
        after = {1: " (it comes after flatten; move flatten below the last conv/pool)",
                 2: " (after flatten, torch would read a batch [N, C, L] as one image whose channels "
                    "are the images; move this layer above flatten)"}.get(len(shape), "")
        if producer == "opaque":  # not flatten's doing: say whose output it is
            after = " (it reads an opaque layer's output, traced with that shape)"
        raise _Unfit(f"{kind} needs a feature map [channels, height, width]; got {_show(shape)}{after}")
    return shape[0], shape[1], shape[2]


def conv_padding(layer: Conv2d, sizes: tuple[int, ...]) -> tuple[tuple[int, int], tuple[int, int]]:
    """The conv's padding as ((top, bottom), (left, right)), resolving 'same' and 'valid'."""
    if layer.padding == "valid":
        return (0, 0), (0, 0)
    if layer.padding == "same":
        h, w = (core.same_padding(size, kernel, stride, dilation) for size, kernel, stride, dilation
                in zip(sizes, layer.kernel_size, layer.stride, layer.dilation, strict=True))
        return h, w
    ph, pw = layer.padding
    return (ph, ph), (pw, pw)


# The torch module that pads first where a conv's padding is uneven (torch's Conv2d pads each
# side alike): one per padding_mode. pytorch.bridge builds it, pytorch.export writes it, the warning names it.
_PAD_MODULES = {"zeros": "ZeroPad2d", "reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d",
                "circular": "CircularPad2d"}


def uneven_pad_module(padding_mode: str) -> str:
    """The ``torch.nn`` class that pads a conv's input first when its padding is uneven."""
    return _PAD_MODULES[padding_mode]


def _check_fit(kind: str, sizes: tuple[int, int], kernels: tuple[int, int],
               pads: tuple[tuple[int, int], ...], dilations: tuple[int, int], outs: list[int]) -> None:
    """Raise when the window does not fit the padded input along either dimension."""
    if min(outs) >= 1:
        return
    extents = [core.effective_kernel(k, d) for k, d in zip(kernels, dilations, strict=True)]
    dilated = f" (dilated to {_pair(extents)})" if any(d > 1 for d in dilations) else ""
    padded = [size + before + after for size, (before, after) in zip(sizes, pads, strict=True)]
    with_pad = f" ({_pair(padded)} with padding)" if padded != list(sizes) else ""
    raise _Unfit(f"{kind} kernel {_pair(kernels)}{dilated} does not fit its {_pair(sizes)} input"
                 f"{with_pad}: it needs at least {_pair(extents)}; use a smaller kernel or pad the input")


def _pair(values: Any) -> str:
    return "×".join(str(v) for v in values)


def _through(rf: Field2 | None, kernels: tuple[int, int], strides: tuple[int, int],
             pads: tuple[tuple[int, int], ...], dilations: tuple[int, int]) -> Field2 | None:
    if rf is None:
        return None
    return (rf[0].through(kernels[0], strides[0], pads[0][0], dilations[0]),
            rf[1].through(kernels[1], strides[1], pads[1][0], dilations[1]))


# A scale_factor is a float; torch divides by it in floating point. cnncalc reads it as the
# fraction it was written as (1.5 as 3/2), with a denominator at most this.
_FACTOR_DENOMINATOR = 1000


def _fields(rf: Field2 | None, change: Callable[[ReceptiveField, int, int, int], ReceptiveField],
            sizes: tuple[int, int], outs: tuple[int, ...]) -> tuple[Field2 | None, list[tuple[str, str]]]:
    """Apply ``change(field, axis, size_in, size_out)`` along height and width. A field that would
    repeat only every more than MAX_PERIOD positions is not reported (with a warning)."""
    if rf is None:
        return None, []
    try:
        return (change(rf[0], 0, sizes[0], outs[0]), change(rf[1], 1, sizes[1], outs[1])), []
    except core.IrregularField as irregular:
        return None, [("receptive_field", f"receptive field not computed: {irregular} (cnncalc follows "
                                          f"up to {core.MAX_PERIOD:,})")]


def _formula(size: int, kernel: int, stride: int, before: int, after: int, dilation: int) -> str:
    """The lecture's (J + 2P − M)/s with this layer's numbers."""
    pad = ""
    if before == after and before:
        pad = f" + 2×{before}"
    elif before != after:
        pad = f" + {before} + {after}"
    extent = core.effective_kernel(kernel, dilation)
    fraction = Fraction(size + before + after - extent, stride)
    value = f"{float(fraction):.2f}".rstrip("0").rstrip(".")
    sign = "=" if Fraction(value) == fraction else "≈"
    return f"({size}{pad} − {extent})/{stride} {sign} {value}"


def _window_warnings(sizes: tuple[int, int], kernels: tuple[int, int], strides: tuple[int, int],
                     pads: tuple[tuple[int, int], ...], dilations: tuple[int, int],
                     outs: list[int], what: str, ceil_mode: bool = False) -> list[tuple[str, str]]:
    """Warn where (J + 2P − M)/s is not whole, and where windows skip positions.

    Under ``ceil_mode`` the ceil_mode warning already says how a fraction was rounded, so
    the fraction warning comes only where input is still lost: the last window dropped by
    PyTorch's rule, with a stride gap before the end of the input. Each warning is decided
    on its own: a stride gap is reported whatever the rounding.
    """
    found = []
    for (size, kernel, stride, (before, after), dilation, out), axis in _per_axis(
            sizes, kernels, strides, pads, dilations, tuple(outs)):
        w = core.window(size, kernel, stride, before, after, dilation, out)
        if not w.whole and (not ceil_mode or w.unread_input):
            if w.unread_input:
                first = size - w.unread_input + 1
                span = f"{axis.singular} {size}" if w.unread_input == 1 \
                    else f"{axis.plural} {first}–{size}"
                lost = (f"no window reaches the last {_count(w.unread_input, axis)} of the input "
                        f"({span} of {size})")
            else:
                lost = (f"what no window reaches is {_count(w.unread_padding, axis)} of padding "
                        "at the bottom/right, so no input is lost")
            found.append(("fraction", f"{_formula(size, kernel, stride, before, after, dilation)} "
                                      f"is not whole; PyTorch rounds it down: 1 + {out - 1} = "
                                      f"{_count(out, axis)}, and {lost}"))
        if w.skipped and out > 1:  # one window leaves no gap between windows
            found.append(("stride_gap", f"stride {stride} is larger than the {what} window "
                                        f"({core.effective_kernel(kernel, dilation)}): {w.skipped} of "
                                        f"every {stride} {axis.plural} fall between windows and are "
                                        "never read"))
    return found


def _count(n: int, axis: _Axis) -> str:
    return plural(n, axis.singular, axis.plural)


def _ceil_warnings(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int,
                   axis: _Axis) -> Iterator[tuple[str, str]]:
    """Say what ``ceil_mode`` changed: a partial window added, or PyTorch's rule removing one."""
    floor_out = core.pool_output_size(size, kernel, stride, pad, dilation, ceil_mode=False)
    extent = core.effective_kernel(kernel, dilation)
    rounded_up = -(-(size + 2 * pad - extent) // stride) + 1
    if out > floor_out:
        w = core.window(size, kernel, stride, pad, pad, dilation, out)
        yield ("ceil_mode", f"ceil_mode adds a partial last window: {floor_out} → {_count(out, axis)}, "
                            f"the last window reaching {_count(w.overhang, axis)} past the padded input")
    if out < rounded_up:
        where = "in the right padding" if pad else "past the end of the input"
        yield ("ceil_mode", f"ceil_mode would give {_count(rounded_up, axis)}, but the last window would "
                            f"start {where}, so PyTorch drops it ({_count(out, axis)})")


_SPATIAL = ("conv2d", "maxpool2d", "avgpool2d", "subsampling", "convtranspose2d")
_GLOBAL = ("globalavgpool", "adaptiveavgpool2d", "adaptivemaxpool2d")


def _collapse_warnings(rows: list[LayerRow]) -> Iterator[LayerWarning]:
    """Warn where the map shrinks to 1×1 while conv/pool layers still follow on the 1×1 map.

    Each collapse is its own warning, naming the layers that see the 1×1 map it makes, along
    the paths that read it (up to a layer that pads it larger again, which may collapse it
    once more). Global pooling makes a 1×1 map on purpose (squeeze-and-excitation then
    convolves it as a fully connected layer), so it is no collapse.
    """
    for position, row in enumerate(rows):
        if (_is_point(row.output_shape) and not _is_point(row.input_shape)
                and row.type not in _GLOBAL):
            later = []
            reach = {row.name}
            for after in rows[position + 1:]:
                if not any(name in reach for name in after.inputs):
                    continue
                if after.type in _SPATIAL:
                    later.append(after.name)
                if _is_point(after.output_shape):
                    reach.add(after.name)
            if later:
                one = len(later) == 1
                layers = plural(len(later), "conv/pool layer")
                names = ", ".join(later[:3]) + (", …" if len(later) > 3 else "")
                yield LayerWarning(row.name, row.index, "collapse",
                                   f"the feature map collapses to 1×1 here, but {layers} still "
                                   f"follow{'s' if one else ''} ({names}); "
                                   f"{'it sees' if one else 'they see'} a single position")


def _is_point(shape: Shape) -> bool:
    """A feature map of one position: [C, 1, 1]."""
    return len(shape) == 3 and shape[1:] == (1, 1)
