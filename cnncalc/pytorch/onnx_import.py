"""Import: an ONNX file as a cnncalc spec (``cnncalc import model.onnx``).

Needs the ``onnx`` package (``pip install "cnncalc[onnx]"``), not torch. Each node becomes a
layer named by the module path the exporter wrote into its name (``/layer1/layer1.0/conv1/Conv``
is ``layer1.0.conv1``); what export did to the model is undone where it can be: ``Clip(0, 6)``
is ``relu6``, ``x · Sigmoid(x)`` is ``silu``, ``Flatten`` and a ``Reshape`` that merges
neighbouring dimensions are ``flatten``, ``Gemm`` and ``MatMul`` (with the ``Add`` of its bias)
are ``linear``, ``Resize`` as torch writes ``F.interpolate`` is ``upsample``, a constant zero
``Pad`` is ``zeropad2d`` and a mean over H and W that keeps them is ``globalavgpool``. The small
computations an exporter writes to make a size or a padding (``Shape``, ``Slice``, ``Concat``
of constants) are computed here, as ONNX's reference evaluator does. A batch norm the exporter
folded into the convolution before it cannot be taken apart again: the convolution keeps the
folded bias, and the spec's description says which ones. The description also gives ONNX's
initializer count against the spec's parameters and why they differ (batch norms' running
statistics are initializers, not parameters). Every layer's shape is checked against ONNX's own
shape inference.

ONNX keeps no module types, so blocks are found from the structure (:func:`_structure`): the
module paths whose layers have the same relative names and types (one a part of the other, as
ResNet's blocks with and without a downsample) are instances of one block, and numbered paths
(``layer1.0``, ``layer1.1``) the children of a container, a call with ``repeat``.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path
from typing import Any

from cnncalc.pytorch.importer import ImportProblem, _check
from cnncalc.spec.models import image_shape

__all__ = ["MAX_PASSES", "from_onnx"]

# Shape inference runs again after each round of sizes computed from sizes (F.pad's amounts from
# another tensor's shape, at each level of a U-Net): a few rounds for an exporter's graph; a file
# that chains more is refused rather than left to cost time quadratic in its length.
MAX_PASSES = 48

Fields = dict[str, Any]

# The nodes that compute sizes, paddings and scales from constants (and from the static shapes
# of tensors): computed here, never layers.
_CONSTANT_OPS = frozenset({
    "Constant", "Identity", "Shape", "Size", "ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose",
    "Cast", "Gather", "Unsqueeze", "Squeeze", "Add", "Sub", "Mul", "Div", "Floor", "Ceil", "Range",
    "Expand", "Equal", "Where", "Min", "Max", "Neg", "Sqrt", "Pow", "Tile", "ReduceProd", "Not", "Less",
    "Greater", "Abs", "Round",
})

# A functional operation's name, as the import of the torch model names it (torch.flatten,
# F.interpolate, x.mean((2, 3), keepdim=True), F.pad).
_FUNCTIONS = {"Reshape": "flatten", "Resize": "interpolate", "Upsample": "interpolate", "ReduceMean": "mean",
              "ReduceMax": "amax", "Pad": "pad", "GlobalAveragePool": "adaptive_avg_pool2d",
              "GlobalMaxPool": "adaptive_max_pool2d"}

# Each type's defaults of the fields an entry leaves out (for folding instances into a block).
_DEFAULTS: dict[str, Fields] = {
    "conv2d": {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True},
    "convtranspose2d": {"stride": 1, "padding": 0, "output_padding": 0, "dilation": 1, "groups": 1,
                        "bias": True},
    "linear": {"bias": True},
    "maxpool2d": {"padding": 0, "dilation": 1, "ceil_mode": False},
    "avgpool2d": {"padding": 0, "ceil_mode": False, "count_include_pad": True},
    "batchnorm2d": {"eps": 1e-5}, "batchnorm1d": {"eps": 1e-5},
    "leakyrelu": {"negative_slope": 0.01}, "elu": {"alpha": 1.0}, "gelu": {"approximate": "none"},
    "upsample": {"mode": "nearest"}, "flatten": {"start_dim": 1, "end_dim": -1},
    "localresponsenorm": {"alpha": 1e-4, "beta": 0.75, "k": 1.0},
}


def _onnx() -> Any:
    """The onnx package (imported by name: an optional dependency, with no type stubs)."""
    try:
        return importlib.import_module("onnx")
    except ImportError:
        raise ImportProblem('importing an ONNX file needs the onnx package: '
                            'pip install "cnncalc[onnx]"') from None


def _pair(values: Any) -> Any:
    values = list(values)
    return values[0] if len(values) == 2 and values[0] == values[1] else values


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: Any) -> int | float:
    """A float32 of the file as written: 2 for 2.0, the shortest decimal of its float32 (0.2, not
    0.20000000298…)."""
    number = float(str(importlib.import_module("numpy").float32(value)))
    return int(number) if number.is_integer() else number


def _hierarchy(node_name: str) -> list[str]:
    """The module paths an exporter's node name passes through, outermost first:
    /layer2/layer2.0/downsample/downsample.0/Conv → layer2, layer2.0, layer2.0.downsample,
    layer2.0.downsample.0."""
    parts = [p for p in node_name.split("/") if p][:-1]
    paths: list[str] = []
    path, previous = "", ""
    for part in parts:
        if previous and part.startswith(previous + "."):
            path = path[: len(path) - len(previous)] + part
        else:
            path = f"{path}.{part}" if path else part
        previous = part
        paths.append(path)
    return paths


def _path(node_name: str, op: str, containers: set[str]) -> str:
    """The layer name of a node: the module path in its name (/layer1/layer1.0/conv1/Conv →
    layer1.0.conv1), or for an operation of a module's own forward (a path that holds other
    modules: ``containers``) that path and the operation (/layer1/layer1.0/Add → layer1.0.add)."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) == 1 and parts[0].split("_")[0] == op:  # the model's own forward: /Add
        return op.lower()
    if len(parts) < 2:
        return re.sub(r"[^\w.]", "_", node_name).strip("_") or op.lower()
    path = _hierarchy(node_name)[-1]
    last = parts[-1].split("_")[0]
    own = last == op and _is_module_op(op) and path not in containers
    return path if own else f"{path}.{op.lower()}"


def _crop(node: Any, values: dict[str, Any], shapes: dict[str, Any], where: str) -> list[int]:
    """A Slice (opset 10 on: starts, ends, axes, steps as inputs) of H and W with step 1, as
    zeropad2d's negative padding: [-left, -right, -top, -bottom]."""
    known = [values.get(i) if i else None for i in [*node.input[1:], "", "", ""][:4]]
    shape = list(shapes.get(node.input[0], ()))
    if known[0] is None or known[1] is None or len(shape) != 4:
        raise ImportProblem(f"{where}: only a slice of a 4-D map with sizes known on import maps (as a crop)")
    starts, ends = [int(v) for v in known[0].ravel()], [int(v) for v in known[1].ravel()]
    axes = [int(v) % 4 for v in known[2].ravel()] if known[2] is not None else list(range(len(starts)))
    steps = [int(v) for v in known[3].ravel()] if known[3] is not None else [1] * len(starts)
    cut = {2: (0, 0), 3: (0, 0)}
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        begin, stop, _ = slice(start, end).indices(shape[axis])
        if step != 1 or axis not in cut or stop <= begin:
            if axis in (0, 1) and step == 1 and (begin, stop) == (0, shape[axis]):
                continue  # the whole batch or every channel: no cut
            raise ImportProblem(f"{where}: only a slice of height and width with step 1 maps (as a crop)")
        cut[axis] = (begin, shape[axis] - stop)
    (top, bottom), (left, right) = cut[2], cut[3]
    return [-left, -right, -top, -bottom]


def _weight_input(info: Any) -> bool:
    """Whether a graph input after the first is a weight without a value: a name torch's exporter
    gives a parameter or a constant (a dotted state_dict key, ``onnx::Conv_193``) and a shape
    with every size known. A second image (``z``) is none."""
    tensor = info.type.tensor_type
    named = info.name.startswith("onnx::") or (_state_name(info.name) and "." in info.name)
    return named and tensor.HasField("shape") and all(d.HasField("dim_value") for d in tensor.shape.dim)


def _state_name(name: str) -> bool:
    """Whether an initializer's name is a state_dict key (``blocks.0.gamma``, ``pos``), as torch's
    exporter keeps for a parameter, rather than a name of its own (``onnx::Mul_12``, ``/Constant``)."""
    return re.fullmatch(r"[A-Za-z_]\w*(\.\w+)*", name) is not None


def _is_module_op(op: str) -> bool:
    return op in ("Conv", "ConvTranspose", "BatchNormalization", "Gemm", "MatMul", "MaxPool", "AveragePool",
                  "GlobalAveragePool", "GlobalMaxPool", "Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid",
                  "HardSwish", "LeakyRelu", "Elu", "Gelu", "Dropout", "Flatten", "Softmax", "LogSoftmax",
                  "Resize", "Upsample", "Pad", "LRN")


class _Graph:
    """The ONNX model with every constant computation done: ``values`` holds each constant
    tensor (initializers, Constant nodes and what is computed from them and from static shapes),
    ``nodes`` the nodes left, ``shapes`` every tensor's shape by ONNX's inference."""

    def __init__(self, onnx: Any, model: Any, file: Path, unvalued: dict[str, Any]) -> None:
        self.onnx = onnx
        self.file = file
        helper, numpy_helper = onnx.helper, importlib.import_module("onnx.numpy_helper")
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.values: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        np = importlib.import_module("numpy")
        # A weight without a value (export_params=False) is zeros of its shape: a layer reads only
        # its shape, and a view of one zero costs no memory whatever the shape
        placeholders = {name: np.broadcast_to(np.zeros((), helper.tensor_dtype_to_np_dtype(
            info.type.tensor_type.elem_type)), [d.dim_value for d in info.type.tensor_type.shape.dim])
            for name, info in unvalued.items()}
        # Shape inference reads the shapes of weights, not their values: a skeleton of the model
        # whose large initializers are inputs of their shape is inferred in a fraction of the time.
        skeleton = onnx.ModelProto(ir_version=model.ir_version, opset_import=model.opset_import)
        graph = skeleton.graph
        graph.node.extend(model.graph.node)
        graph.input.extend(i for i in model.graph.input if i.name not in self.values)
        self.values.update(placeholders)
        graph.output.extend(model.graph.output)
        for tensor in model.graph.initializer:
            if math.prod(tensor.dims) <= 64:
                graph.initializer.append(tensor)
            else:
                graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, tensor.dims))
        for info in graph.input[:1]:  # a symbolic batch is one image: the shapes become static
            dims = info.type.tensor_type.shape.dim
            if dims and not dims[0].dim_value:
                dims[0].dim_value = 1
        evaluator = importlib.import_module("onnx.reference").ReferenceEvaluator
        strict = True
        for passes in range(len(graph.node) + 1):
            self.shapes = self._infer(skeleton, strict)
            strict = False
            done: set[int] = set()
            for k, node in enumerate(graph.node):
                computed = self._compute(node, evaluator, helper, model.opset_import)
                if computed is not None:
                    self.values.update(computed)
                    done.add(k)
            if not done:
                break
            if passes == MAX_PASSES:  # each pass infers the whole graph again: bounded work
                node = graph.node[min(done)]
                raise ImportProblem(f"{file}: node {node.name or node.op_type} ({node.op_type}): the file "
                                    f"computes sizes from sizes more than {MAX_PASSES} steps deep, each a "
                                    f"shape inference of the whole graph; cnncalc stops here rather than run "
                                    f"on (exporters need a few)")
            kept = [n for k, n in enumerate(graph.node) if k not in done]
            used = {i for n in kept for i in n.input} | {o.name for o in graph.output}
            known = {i.name for i in graph.initializer} | {i.name for i in graph.input}
            del graph.node[:]
            graph.node.extend(kept)
            graph.initializer.extend(numpy_helper.from_array(self.values[name], name)
                                     for name in sorted(used - known) if name in self.values)
        self.nodes = list(graph.node)

    def _infer(self, model: Any, strict: bool) -> dict[str, tuple[int, ...]]:
        onnx = self.onnx
        try:
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=strict)
        except (onnx.shape_inference.InferenceError, ValueError) as err:
            what = "not an ONNX model" if strict else "ONNX's shape inference fails"
            raise ImportProblem(f"{self.file}: {what} ({type(err).__name__})") from None
        shapes: dict[str, tuple[int, ...]] = {}
        graph = inferred.graph
        for info in [*graph.value_info, *graph.output, *graph.input]:
            tensor = info.type.tensor_type
            if tensor.HasField("shape"):
                shapes[info.name] = tuple(d.dim_value for d in tensor.shape.dim)
        return shapes

    def _compute(self, node: Any, evaluator: Any, helper: Any, opsets: Any) -> dict[str, Any] | None:
        """The outputs of a node that computes from constants only, or None."""
        if node.op_type not in _CONSTANT_OPS or node.domain not in ("", "ai.onnx"):
            return None
        if node.op_type in ("Shape", "Size") and node.input[0] not in self.values:
            np = importlib.import_module("numpy")
            shape = self.shapes.get(node.input[0])
            if not shape or min(shape) < 1:
                return None
            a = {x.name: helper.get_attribute_value(x) for x in node.attribute}
            dims = list(shape)[a.get("start", 0): a.get("end", len(shape))]
            value = np.array(dims if node.op_type == "Shape" else math.prod(shape), dtype=np.int64)
            return {node.output[0]: value}
        inputs = [i for i in node.input if i]
        if any(i not in self.values for i in inputs):
            return None
        feeds = {i: self.values[i] for i in inputs}
        graph = helper.make_graph(
            [node], "constant",
            [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
             for i, v in feeds.items()],
            [helper.make_tensor_value_info(o, 0, None) for o in node.output if o])
        try:
            results = evaluator(helper.make_model(graph, opset_imports=list(opsets))).run(None, feeds)
        except (ValueError, TypeError, RuntimeError, IndexError, KeyError, NotImplementedError) as err:
            raise ImportProblem(f"{self.file}: node {node.name or node.op_type} ({node.op_type}) computes "
                                f"from constants, but ONNX's reference evaluator fails on it "
                                f"({type(err).__name__})") from None
        return dict(zip([o for o in node.output if o], results, strict=True))


def _check_nodes(model: Any, file: Path) -> None:
    """Each node an operation of ONNX's own, reading what an input, an initializer or an earlier
    node makes (what ONNX's shape inference would refuse without naming the node)."""
    made = {i.name for i in model.graph.input} | {i.name for i in model.graph.initializer} | {""}
    for node in model.graph.node:
        where = f"{file}: node {node.name or node.op_type}"
        if node.domain not in ("", "ai.onnx"):
            raise ImportProblem(f"{where} ({node.domain} {node.op_type}) has no cnncalc layer type (an "
                                f"operation outside ONNX's own)")
        unknown = [i for i in node.input if i not in made]
        if unknown:
            raise ImportProblem(f"{where} ({node.op_type}) reads {unknown[0]}, which no input, initializer "
                                f"or earlier node makes")
        made.update(node.output)


def _without_data(onnx: Any, file: Path) -> Any:
    """The model in ``file`` without its external data (read only after it loaded with it)."""
    return onnx.load(str(file), load_external_data=False)


def from_onnx(path: str | Path, name: str | None = None, blocks: bool = True) -> dict[str, Any]:
    """The spec of the ONNX model in ``path`` (one input [1, C, H, W] or [N, C, H, W]). With
    ``blocks`` (the default), module paths of the same structure are instances of a block and
    numbered instances in a row one call with ``repeat``; the layer names stay the same, and the
    folded spec is kept only where its analysis equals the flat one's."""
    onnx = _onnx()
    unreadable = (importlib.import_module("google.protobuf.message").DecodeError, ValueError, OSError)

    file = Path(path)
    if not file.is_file():
        raise ImportProblem(f"{file}: no such file")
    try:
        model = onnx.load(str(file))
    except unreadable as err:
        raise ImportProblem(f"{file}: not an ONNX model ({type(err).__name__})") from None
    except onnx.checker.ValidationError:
        # onnx.load reads the weights stored beside the file (save_as_external_data); it checks
        # that each is a file in the model's folder
        missing = [i.name for i in _without_data(onnx, file).graph.initializer
                   if i.data_location == onnx.TensorProto.EXTERNAL]
        raise ImportProblem(f"{file}: the external data of {len(missing)} initializer"
                            f"{'s' if len(missing) != 1 else ''} ({', '.join(missing[:3])}"
                            f"{', …' if len(missing) > 3 else ''}) cannot be read: copy the data files "
                            f"the model was saved with beside it") from None
    if not model.HasField("graph"):
        raise ImportProblem(f"{file}: not an ONNX model (no graph)")
    _check_nodes(model, file)
    initializers = {i.name: i for i in model.graph.initializer}
    stored = sum(math.prod(i.dims) for i in initializers.values())
    data_inputs = [i for i in model.graph.input if i.name not in initializers]
    # torch's exporter puts the model's own inputs first, then (export_params=False) its weights,
    # under their state_dict names or names of its own (onnx::Conv_193), with their shapes
    unvalued = {i.name: i for i in data_inputs[1:] if _weight_input(i)}
    data_inputs = [i for i in data_inputs if i.name not in unvalued]
    unstored = sum(math.prod(d.dim_value for d in i.type.tensor_type.shape.dim) for i in unvalued.values())
    g = _Graph(onnx, model, file, unvalued)
    values, shapes = g.values, g.shapes
    if len(data_inputs) != 1 or len(shapes.get(data_inputs[0].name, ())) != 4 or \
            min(shapes[data_inputs[0].name][1:]) < 1:
        names = ", ".join(i.name for i in data_inputs[:4]) + (", …" if len(data_inputs) > 4 else "")
        raise ImportProblem(f"{file}: cnncalc imports a model with one input of [N, C, H, W] and known "
                            f"C, H, W; this one has {len(data_inputs)} ({names or 'none'})")
    made: dict[str, str] = {data_inputs[0].name: "input"}
    layers: list[dict[str, Any]] = []
    expected: dict[str, tuple[tuple[int, ...], int]] = {}
    defaults: dict[str, Fields] = {}
    folded: list[str] = []
    taken: set[str] = set()
    consumers: dict[str, list[Any]] = {}
    for node in g.nodes:
        for i in node.input:
            consumers.setdefault(i, []).append(node)
    containers = {p for node in g.nodes for p in _hierarchy(node.name)[:-1]}
    modules = {p for node in g.nodes for p in _hierarchy(node.name)}  # names a functional layer avoids
    sigmoid_of: dict[str, str] = {}  # a Sigmoid's output → its input
    matmuls: dict[str, int] = {}  # a MatMul's output → its linear layer's index (for its bias)

    def attrs(node: Any) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(name: str, node: Any) -> Any:
        if name not in values:
            raise ImportProblem(f"{file}: node {node.name or node.op_type} ({node.op_type}) needs {name} "
                                f"to be a constant")
        return values[name]

    def add(node: Any, kind: str, fields: Fields, reads: list[str], params: int, out: str) -> None:
        base = _path(node.name, node.op_type, containers)
        head, _, last = base.rpartition(".")
        if last == node.op_type.lower() and node.op_type in _FUNCTIONS:  # named as torch's import names it
            base = f"{head}.{_FUNCTIONS[node.op_type]}" if head else _FUNCTIONS[node.op_type]
        if kind == "silu" and last == "mul":  # x · sigmoid(x): a module of its own (nn.SiLU) or a layer
            base = head if head and head not in containers else base[: -len("mul")] + "silu"
        hierarchy = _hierarchy(node.name)
        own = bool(hierarchy) and base == hierarchy[-1]  # a module's own layer: named by its path
        layer_name, n = base, 0
        while layer_name in taken or layer_name == "input" or (not own and layer_name in modules):
            n += 1
            layer_name = f"{base}_{n}"
        taken.add(layer_name)
        for r in reads:
            if r not in made:
                raise ImportProblem(f"{file}: node {node.name} ({node.op_type}) reads {r}, which no layer "
                                    f"makes")
        sources = [made[r] for r in reads]
        entry: dict[str, Any] = {"name": layer_name, "type": kind}
        previous = layers[-1]["name"] if layers else "input"
        if len(sources) > 1 or sources[0] != previous:
            entry["from"] = sources if len(sources) > 1 else sources[0]
        entry.update(fields)
        layers.append(entry)
        defaults[layer_name] = dict(_DEFAULTS.get(kind, {}))
        made[out] = layer_name
        shape = shapes.get(out)
        if not shape or any(d < 1 for d in shape):
            raise ImportProblem(f"{file}: ONNX gives no shape for {out} ({layer_name})")
        expected[layer_name] = (shape[1:], params)

    for node in g.nodes:
        op, a = node.op_type, attrs(node)
        out = node.output[0] if node.output else ""
        tensors = [i for i in node.input if i and i not in values]
        where = f"{file}: node {node.name or op} ({op})"
        if op == "Identity" and node.input[0] in made:
            made[out] = made[node.input[0]]
            continue
        if op in ("Conv", "ConvTranspose"):
            weight = const(node.input[1], node)
            has_bias = len(node.input) > 2 and bool(node.input[2])
            pads = list(a.get("pads", [0, 0, 0, 0]))
            auto = _text(a.get("auto_pad", "NOTSET")) != "NOTSET"
            if auto or pads[:2] != pads[2:] or weight.ndim != 4 or "output_shape" in a:
                raise ImportProblem(f"{where}: only 2-D convolutions with the same padding on both sides map")
            groups = int(a.get("group", 1))
            channels = shapes.get(tensors[0], (0, 0))[1] if tensors else 0
            reads = weight.shape[1] * groups if op == "Conv" else weight.shape[0]
            if reads != channels:
                raise ImportProblem(f"{where}: its weight {list(weight.shape)} reads {reads} channels "
                                    f"(groups: {groups}); its input has {channels} channels")
            out_channels = weight.shape[0] if op == "Conv" else weight.shape[1] * groups
            fields: Fields = {"out_channels": int(out_channels), "kernel_size": _pair(weight.shape[2:])}
            for key, attr, default in (("stride", "strides", [1, 1]), ("padding", None, [0, 0]),
                                       ("dilation", "dilations", [1, 1])):
                value = pads[:2] if attr is None else list(a.get(attr, default))
                if value != default:
                    fields[key] = _pair([int(v) for v in value])
            if op == "ConvTranspose" and list(a.get("output_padding", [0, 0])) != [0, 0]:
                fields["output_padding"] = _pair([int(v) for v in a["output_padding"]])
            if groups != 1:
                fields["groups"] = groups
            if not has_bias:
                fields["bias"] = False
            params = int(weight.size) + (int(const(node.input[2], node).size) if has_bias else 0)
            add(node, "conv2d" if op == "Conv" else "convtranspose2d", fields, tensors, params, out)
            if has_bias and node.input[1].startswith("onnx::"):
                folded.append(layers[-1]["name"])
            continue
        if op == "BatchNormalization":
            scale = const(node.input[1], node)
            eps = float(a.get("epsilon", 1e-5))
            fields = {} if math.isclose(eps, 1e-5, rel_tol=1e-6) else {"eps": eps}
            add(node, "batchnorm2d" if len(shapes.get(out, ())) == 4 else "batchnorm1d", fields, tensors,
                2 * int(scale.size), out)
            continue
        if op == "Gemm":
            weight = const(node.input[1], node)
            if int(a.get("transA", 0)) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0 or \
                    weight.ndim != 2:
                raise ImportProblem(f"{where}: only Gemm as a linear layer (transA=0, alpha=beta=1) maps")
            features = int(weight.shape[0] if int(a.get("transB", 0)) else weight.shape[1])
            has_bias = len(node.input) > 2 and bool(node.input[2])
            bias = int(const(node.input[2], node).size) if has_bias else 0
            if has_bias and bias != features:
                raise ImportProblem(f"{where}: a bias of {bias} values for {features} outputs is not a "
                                    f"linear layer's")
            fields = {"out_features": features}
            if not has_bias:
                fields["bias"] = False
            add(node, "linear", fields, tensors, int(weight.size) + bias, out)
            continue
        if op == "MatMul":
            if len(tensors) != 1 or node.input[0] != tensors[0] or const(node.input[1], node).ndim != 2:
                raise ImportProblem(f"{where}: only a product with a constant [in, out] weight on the right "
                                    f"maps (as linear)")
            weight = values[node.input[1]]
            add(node, "linear", {"out_features": int(weight.shape[1]), "bias": False}, tensors,
                int(weight.size), out)
            matmuls[out] = len(layers) - 1
            continue
        if op == "Add" and len(tensors) == 1 and len(node.input) == 2 and tensors[0] in matmuls and \
                len(consumers.get(tensors[0], [])) == 1:
            # nn.Linear on more than two dimensions (or any exporter's Linear): MatMul, then Add of the bias
            entry = layers[matmuls[tensors[0]]]
            bias = values[next(i for i in node.input if i != tensors[0])]
            features = entry["out_features"]
            if bias.size == features and bias.shape[-1:] == (features,) and \
                    shapes.get(out) == shapes.get(tensors[0]):
                del entry["bias"]
                shape, params = expected[entry["name"]]
                expected[entry["name"]] = (shape, params + features)
                made[out] = entry["name"]
                continue
        if op in ("MaxPool", "AveragePool"):
            kernel = [int(k) for k in a["kernel_shape"]]
            pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
            if len(kernel) != 2 or pads[:2] != pads[2:] or _text(a.get("auto_pad", "NOTSET")) != "NOTSET":
                raise ImportProblem(f"{where}: only 2-D pooling with the same padding on both sides maps")
            fields = {"kernel_size": _pair(kernel)}
            strides = [int(s) for s in a.get("strides", [1, 1])]
            if strides != kernel:
                fields["stride"] = _pair(strides)
            if pads[:2] != [0, 0]:
                fields["padding"] = _pair(pads[:2])
            if int(a.get("ceil_mode", 0)):
                fields["ceil_mode"] = True
            if op == "MaxPool" and list(a.get("dilations", [1, 1])) != [1, 1]:
                fields["dilation"] = _pair([int(d) for d in a["dilations"]])
            if op == "AveragePool" and not int(a.get("count_include_pad", 0)):
                fields["count_include_pad"] = False
            add(node, "maxpool2d" if op == "MaxPool" else "avgpool2d", fields, tensors, 0, out)
            defaults[layers[-1]["name"]]["stride"] = fields["kernel_size"]
            continue
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            kind = "adaptiveavgpool2d" if op == "GlobalAveragePool" else "adaptivemaxpool2d"
            add(node, kind, {"output_size": 1}, tensors, 0, out)
            continue
        if op in ("ReduceMean", "ReduceMax"):
            axes = a.get("axes") if len(node.input) < 2 or not node.input[1] else const(node.input[1], node)
            rank = len(shapes.get(tensors[0], ()))
            listed = sorted(int(x) % rank for x in axes) if axes is not None and rank else []
            if rank == 4 and listed == [2, 3] and op == "ReduceMean" and not int(a.get("keepdims", 1)):
                # x.mean((2, 3)): the pooled maps [C, 1, 1], flattened to [C], as the torch import has it
                pooled = f"{out}#pooled"
                shapes[pooled] = (*shapes[tensors[0]][:2], 1, 1)
                add(node, "globalavgpool", {}, tensors, 0, pooled)
                add(node, "flatten", {}, [pooled], 0, out)
                continue
            if rank != 4 or listed != [2, 3] or not int(a.get("keepdims", 1)):
                raise ImportProblem(f"{where}: only a {op} over H and W that keeps them (keepdims=1, as "
                                    f"x.mean((2, 3), keepdim=True)) maps, as global pooling")
            if op == "ReduceMean":
                add(node, "globalavgpool", {}, tensors, 0, out)
            else:
                add(node, "adaptivemaxpool2d", {"output_size": 1}, tensors, 0, out)
            continue
        if op in ("Resize", "Upsample"):
            add(node, "upsample", _upsample(node, a, values, shapes, g.opset, where), tensors[:1], 0, out)
            continue
        if op == "Pad":
            add(node, "zeropad2d", _zero_pad(node, a, values, shapes, g.opset, where), tensors[:1], 0, out)
            continue
        if op == "Slice" and len(tensors) == 1 and node.input[0] == tensors[0]:
            # x[:, :, a:b, c:d] (the original U-Net's crop): a zeropad2d with negative padding
            add(node, "zeropad2d", {"padding": _crop(node, values, shapes, where)}, tensors, 0, out)
            continue
        if op == "Clip":
            bounds = [float(const(i, node)) if i else None for i in [*node.input[1:3], "", ""][:2]]
            low = a.get("min") if bounds[0] is None else bounds[0]
            high = a.get("max") if bounds[1] is None else bounds[1]
            if low == 0 and high == 6:
                add(node, "relu6", {}, tensors, 0, out)
                continue
            raise ImportProblem(f"{where}: Clip({low}, {high}) has no cnncalc layer type (Clip(0, 6) is "
                                f"relu6)")
        if op == "Sigmoid" and len(consumers.get(out, [])) == 1 and any(
                n.op_type == "Mul" and out in n.input and tensors[0] in n.input for n in g.nodes):
            sigmoid_of[out] = tensors[0]
            continue
        if op == "Mul" and len(tensors) == 2 and any(sigmoid_of.get(t) in tensors for t in tensors):
            gate = next(t for t in tensors if t in sigmoid_of)
            add(node, "silu", {}, [sigmoid_of[gate]], 0, out)
            continue
        simple = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "HardSwish": "hardswish"}
        if op in simple:
            add(node, simple[op], {}, tensors, 0, out)
            continue
        if op == "HardSigmoid" and math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-5) and \
                math.isclose(a.get("beta", 0.5), 0.5):
            add(node, "hardsigmoid", {}, tensors, 0, out)
            continue
        if op in ("LeakyRelu", "Elu"):
            key, usual = ("negative_slope", 0.01) if op == "LeakyRelu" else ("alpha", 1.0)
            number = float(a.get("alpha", usual))
            fields = {} if math.isclose(number, usual) else {key: _number(number)}
            add(node, op.lower(), fields, tensors, 0, out)
            continue
        if op == "Gelu":
            approximate = _text(a.get("approximate", "none"))
            add(node, "gelu", {} if approximate == "none" else {"approximate": approximate}, tensors, 0, out)
            continue
        if op == "LRN":
            fields = {"size": int(a["size"])}
            for key, attr, usual in (("alpha", "alpha", 1e-4), ("beta", "beta", 0.75), ("k", "bias", 1.0)):
                number = float(a.get(attr, usual))
                if not math.isclose(number, usual, rel_tol=1e-6):
                    fields[key] = _number(number)
            add(node, "localresponsenorm", fields, tensors, 0, out)
            continue
        if op in ("Add", "Mul"):
            learned = [i for i in node.input if i not in tensors and (i in initializers or i in unvalued)
                       and _state_name(i)]
            if len(tensors) == 1 and len(node.input) == 2 and learned:
                # A parameter the model's forward reads itself (x * self.gamma): the exporter keeps
                # its state_dict name. A parameter layer at that path, then the merge.
                held = values[learned[0]]
                dims = [int(d) for d in held.shape]
                if not dims or min(dims) < 1 or (len(dims) == 4 and dims[0] != 1) or len(dims) > 4:
                    raise ImportProblem(f"{where}: {op} with parameter {learned[0]} of shape {dims}, which "
                                        f"no parameter layer can be")
                if learned[0] not in made:
                    name = learned[0]
                    if name in taken or name in modules:
                        raise ImportProblem(f"{where}: parameter {name} has the name of a layer")
                    taken.add(name)
                    layers.append({"name": name, "type": "parameter", "shape": dims})
                    defaults[name] = {}
                    made[learned[0]] = name
                    expected[name] = (image_shape(dims), int(held.size))
                add(node, op.lower(), {}, list(node.input), 0, out)
                continue
            if len(tensors) != 2 or len(node.input) != 2:
                raise ImportProblem(f"{where}: {op} with a constant is a parameter outside a layer; a spec "
                                    f"cannot hold it")
            add(node, op.lower(), {}, tensors, 0, out)
            continue
        if op == "Concat":
            rank = len(shapes.get(out, ()))
            if int(a.get("axis", 0)) not in (1, 1 - rank) or len(tensors) != len(node.input):
                raise ImportProblem(f"{where}: only a concatenation of layers along channels maps")
            add(node, "concat", {}, tensors, 0, out)
            continue
        if op in ("Flatten", "Reshape"):
            merged = _merged(shapes.get(tensors[0], ()) if tensors else (), shapes.get(out, ()))
            if merged is None or (op == "Flatten" and int(a.get("axis", 1)) != 1):
                raise ImportProblem(f"{where}: only a reshape that merges neighbouring dimensions after the "
                                    f"batch maps (as flatten)")
            start, end = merged
            fields = {}
            if start != 1:
                fields["start_dim"] = start
            if end != len(shapes[tensors[0]]) - 1:
                fields["end_dim"] = end
            add(node, "flatten", fields, tensors[:1], 0, out)
            continue
        if op in ("Softmax", "LogSoftmax"):
            add(node, op.lower(), {"dim": int(a.get("axis", -1))}, tensors, 0, out)
            continue
        if op in ("Dropout", "Identity"):
            made[out] = made[tensors[0]]
            continue
        raise ImportProblem(f"{where} has no cnncalc layer type")

    result = model.graph.output[0].name if len(model.graph.output) == 1 else None
    if result is None or result not in made:
        raise ImportProblem(f"{file}: cnncalc imports a model with one output made by a layer")
    if not layers:
        raise ImportProblem(f"{file}: the model has no layers to import")
    if made[result] != layers[-1]["name"]:  # the output is made earlier: the spec ends with it
        layers.append({"name": "output", "type": "identity", "from": made[result]})
        expected["output"] = (expected[made[result]][0], 0)
        defaults["output"] = {}
    spec: dict[str, Any] = {"name": name or file.stem, "input": list(shapes[data_inputs[0].name][1:]),
                            "layers": layers}
    counted = sum(params for _, params in expected.values())
    running = sum(params for layer in layers if layer["type"].startswith("batchnorm")
                  for params in [expected[layer["name"]][1]])
    notes = [f"imported from {file.name}: {len(layers)} layers, {counted:,} parameters; the file's "
             f"initializers hold {stored:,} values"]
    if unvalued:
        notes[0] += (f", and {len(unvalued)} of its inputs are weights without values (exported without "
                     f"parameters): {unstored:,} values by their shapes")
    if stored + unstored != counted or running:  # equal sums can hide running statistics and sharing
        reasons = []
        if running:
            reasons.append(f"{running:,} running means and variances of batch norms (initializers, not "
                           f"parameters)")
        rest = stored + unstored - counted - running
        if rest > 0:
            reasons.append(f"{rest:,} in constants the exporter made (shapes, clip bounds)")
        elif rest < 0:
            reasons.append(f"{-rest:,} fewer where the exporter stores equal initializers once for several "
                           f"layers (Identity nodes)")
        notes.append("the difference: " + "; ".join(reasons))
    if folded:
        notes.append(f"batch norm folded into the convolution by the exporter: {', '.join(folded[:6])}"
                     f"{', …' if len(folded) > 6 else ''} ({len(folded)} in all; each convolution's bias is "
                     f"the folded shift, and the batch norms' own parameters are not in the file)")
    spec["description"] = "; ".join(notes)
    spec = {k: spec[k] for k in ("name", "description", "input", "layers")}
    _check(spec, expected, source=f"ONNX ({file})")
    if blocks:
        from cnncalc.pytorch.folding import fold

        instances, children = _structure(layers)
        blocked = fold(spec, defaults, instances, children)
        if blocked is not None:
            try:
                _check(blocked, expected, source=f"ONNX ({file})")
            except ImportProblem:
                return spec  # the flat spec is exact; a fold that is not is left out
            return blocked
    return spec


def _merged(before: tuple[int, ...], after: tuple[int, ...]) -> tuple[int, int] | None:
    """(start_dim, end_dim) where ``after`` is ``before`` with the dims start … end merged (the
    batch, dim 0, kept), else None."""
    if len(before) == len(after) == 2 and before == after:
        return 1, 1  # torch.flatten(x, 1) of [N, F]: nothing to merge
    if len(before) < 2 or not after or len(after) >= len(before) or after[0] != before[0]:
        return None
    start = next((k for k in range(len(after)) if after[k] != before[k]), len(after) - 1)
    end = start + len(before) - len(after)
    if start < 1 or before[:start] != after[:start] or before[end + 1:] != after[start + 1:] or \
            math.prod(before[start:end + 1]) != after[start]:
        return None
    return start, end


def _upsample(node: Any, a: dict[str, Any], values: dict[str, Any], shapes: dict[str, tuple[int, ...]],
              opset: int, where: str) -> Fields:
    """``upsample``'s fields for a Resize (or the Upsample of opsets before 10) as torch exports
    ``F.interpolate`` and ``nn.Upsample``: nearest is coordinate mode asymmetric with nearest mode
    floor; bilinear is mode linear with half_pixel (align_corners false) or align_corners. What
    no torch mode computes (cubic, other coordinate or rounding modes, antialias) is refused."""
    shape = shapes.get(node.input[0], ())
    if len(shape) != 4:
        raise ImportProblem(f"{where}: only resizing an [N, C, H, W] map maps (as upsample)")
    mode = _text(a.get("mode", "nearest"))
    if node.op_type == "Upsample" or opset < 11:  # Upsample, and Resize of opset 10: asymmetric, floor
        coordinates, rounding = "asymmetric", "floor"
        scales_name, sizes_name = (node.input[1] if len(node.input) > 1 else ""), ""
        if mode != "nearest":
            raise ImportProblem(f"{where}: mode {mode} of this opset reads its input asymmetrically, which "
                                f"neither of torch's bilinear modes does; only nearest maps")
    else:
        coordinates = _text(a.get("coordinate_transformation_mode", "half_pixel"))
        rounding = _text(a.get("nearest_mode", "round_prefer_floor"))
        scales_name = node.input[2] if len(node.input) > 2 else ""
        sizes_name = node.input[3] if len(node.input) > 3 else ""
        if int(a.get("antialias", 0)) or _text(a.get("keep_aspect_ratio_policy", "stretch")) != "stretch":
            raise ImportProblem(f"{where}: antialias and keep_aspect_ratio_policy have no upsample field")
    axes = [int(x) % 4 for x in a.get("axes", [0, 1, 2, 3])]
    if sorted(axes) not in ([2, 3], [0, 1, 2, 3]):
        raise ImportProblem(f"{where}: only resizing H and W maps (as upsample)")
    fields: Fields = {}
    style: Fields = {}
    if mode == "nearest" and (coordinates, rounding) == ("asymmetric", "floor"):
        pass
    elif mode == "linear" and coordinates in ("half_pixel", "pytorch_half_pixel", "align_corners"):
        style["mode"] = "bilinear"
        if coordinates == "align_corners":
            style["align_corners"] = True
    else:
        raise ImportProblem(f"{where}: mode {mode} with coordinate_transformation_mode {coordinates}"
                            f"{f' and nearest_mode {rounding}' if mode == 'nearest' else ''} is none of "
                            f"torch's upsample modes (nearest: asymmetric, floor; bilinear: half_pixel or "
                            f"align_corners)")

    def constant(name: str) -> list[float] | None:
        if not name:
            return None
        if name not in values:
            raise ImportProblem(f"{where}: its scales or sizes ({name}) are not constant")
        found = [float(v) for v in values[name].reshape(-1)]
        if not found:
            return None
        if len(found) != len(axes):
            raise ImportProblem(f"{where}: {len(found)} scales or sizes for {len(axes)} axes")
        return [found[axes.index(k)] if k in axes else float(shape[k] if name == sizes_name else 1)
                for k in range(4)]

    scales = [float(s) for s in a["scales"]] if "scales" in a else constant(scales_name)
    sizes = constant(sizes_name)
    if sizes is not None:
        if [int(s) for s in sizes[:2]] != list(shape[:2]):
            raise ImportProblem(f"{where}: resizing the batch or the channels has no cnncalc layer type")
        fields["size"] = _pair([int(s) for s in sizes[2:]])
    elif scales is not None:
        if scales[:2] != [1.0, 1.0]:
            raise ImportProblem(f"{where}: resizing the batch or the channels has no cnncalc layer type")
        fields["scale_factor"] = _pair([_number(s) for s in scales[2:]])
    else:
        raise ImportProblem(f"{where}: gives neither scales nor sizes")
    out = shapes.get(node.output[0], ())
    if coordinates == "pytorch_half_pixel" and (len(out) != 4 or min(out[2:]) < 2):
        raise ImportProblem(f"{where}: pytorch_half_pixel to a size of 1 reads the first pixel, not the "
                            f"centre as torch's bilinear does")
    return {**fields, **style}


def _zero_pad(node: Any, a: dict[str, Any], values: dict[str, Any], shapes: dict[str, tuple[int, ...]],
              opset: int, where: str) -> Fields:
    """``zeropad2d``'s padding for a Pad of zeros on H and W: ONNX's pads are [begin of each
    axis, end of each axis], torch's (left, right, top, bottom)."""
    shape = shapes.get(node.input[0], ())
    mode = _text(a.get("mode", "constant"))
    if opset < 11:
        pads, value = [int(p) for p in a.get("pads", [])], float(a.get("value", 0.0))
        axes = list(range(len(shape)))
    else:
        if any(i not in values for i in node.input[1:3] if i):
            raise ImportProblem(f"{where}: its pads are not constant")
        pads = [int(p) for p in values[node.input[1]].reshape(-1)]
        value = float(values[node.input[2]].reshape(-1)[0]) if len(node.input) > 2 and node.input[2] else 0.0
        axes_name = node.input[3] if len(node.input) > 3 else ""
        axes = ([int(x) % len(shape) for x in values[axes_name].reshape(-1)] if axes_name in values and
                axes_name else list(range(len(shape))))
    if mode != "constant" or value != 0.0:
        raise ImportProblem(f"{where}: a {mode} padding{f' of {value:g}' if mode == 'constant' else ''} has "
                            f"no cnncalc layer type (zeropad2d pads with zeros)")
    if len(shape) != 4 or len(pads) != 2 * len(axes):
        raise ImportProblem(f"{where}: only padding an [N, C, H, W] map maps (as zeropad2d)")
    begin = dict(zip(axes, pads[: len(axes)], strict=True))
    end = dict(zip(axes, pads[len(axes):], strict=True))
    if any(begin.get(k, 0) or end.get(k, 0) for k in (0, 1)):
        raise ImportProblem(f"{where}: padding the batch or the channels has no cnncalc layer type")
    quad = [begin.get(3, 0), end.get(3, 0), begin.get(2, 0), end.get(2, 0)]
    return {"padding": quad[0] if len(set(quad)) == 1 else quad}


def _structure(layers: list[dict[str, Any]]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """What module types would tell, found from the layer names (module paths) alone: each
    path that holds numbered children (``layer1`` of ``layer1.0``, ``layer1.1``) is a container,
    with those children in order; each other path that holds two or more layers is an instance,
    of one type with the paths whose layers have the same relative names and types (those of one
    a part of those of the other: ResNet's block with a downsample and without). The type is
    named after what the paths are: their common last name (``conv``), their common stem
    (``enc`` of ``enc1``, ``enc2``), or ``block`` for numbered paths."""
    names = [layer["name"] for layer in layers]
    kinds = {layer["name"]: layer["type"] for layer in layers}
    below: dict[str, list[str]] = {}  # path → its direct children's names, in order
    inside: dict[str, list[str]] = {}  # path → the layers under it, in order
    for layer_name in names:
        parts = layer_name.split(".")
        for k in range(1, len(parts)):
            path = ".".join(parts[:k])
            inside.setdefault(path, []).append(layer_name)
            child = below.setdefault(path, [])
            if parts[k] not in child:
                child.append(parts[k])
    children = {p: c for p, c in below.items() if all(part.isdigit() for part in c)}
    candidates = [p for p in inside if p not in children and len(inside[p]) >= 2]

    def signature(path: str) -> list[tuple[str, str]]:
        return [(n[len(path) + 1:], kinds[n]) for n in inside[path]]

    def within(short: list[tuple[str, str]], long: list[tuple[str, str]]) -> bool:
        it = iter(long)
        return all(any(item == other for other in it) for item in short)

    clusters: list[tuple[list[tuple[str, str]], list[str]]] = []
    for path in sorted(candidates, key=lambda p: -len(inside[p])):
        mine = signature(path)
        for longest, members in clusters:
            if within(mine, longest):
                members.append(path)
                break
        else:
            clusters.append((mine, [path]))
    instances: dict[str, str] = {}
    for _, members in clusters:
        if len(members) < 2:
            continue
        # named after the outermost members: those inside another instance do not fold here
        outer = [m for m in members if not any(m.startswith(c + ".") for c in candidates)] or members
        lasts = {m.rpartition(".")[2] for m in outer}
        stems = {re.sub(r"[\W\d_].*", "", last) for last in lasts}  # inception3a → inception
        if len(lasts) == 1 and not next(iter(lasts)).isdigit():
            type_name = next(iter(lasts))
        elif len(stems) == 1 and next(iter(stems)):
            type_name = next(iter(stems))
        else:
            type_name = "block"
        for member in members:
            instances[member] = type_name
    return instances, children
