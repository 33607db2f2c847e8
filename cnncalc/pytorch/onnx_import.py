"""Import: an ONNX file as a cnncalc spec (``cnncalc import model.onnx``).

Needs the ``onnx`` package (``pip install "cnncalc[onnx]"``), not torch. Each node becomes a
layer named by the module path the exporter wrote into its name (``/layer1/layer1.0/conv1/Conv``
is ``layer1.0.conv1``); what export did to the model is undone where it can be: ``Clip(0, 6)``
is ``relu6``, ``x · Sigmoid(x)`` is ``silu``, ``Flatten`` and a ``Reshape`` to two dimensions are
``flatten``, ``Gemm`` is ``linear``. A batch norm the exporter folded into the convolution before
it cannot be taken apart again: the convolution keeps the folded bias, and the spec's description
says which ones. The description also gives ONNX's initializer count against the spec's
parameters and why they differ (batch norms' running statistics are initializers, not
parameters). Every layer's shape is checked against ONNX's own shape inference.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path
from typing import Any

from cnncalc.pytorch.importer import ImportProblem, _check

__all__ = ["from_onnx"]

Fields = dict[str, Any]


def _onnx() -> Any:
    """The onnx package (imported by name: an optional dependency, with no type stubs)."""
    try:
        return importlib.import_module("onnx")
    except ImportError:
        raise ImportProblem('importing an ONNX file needs the onnx package: '
                            'pip install "cnncalc[onnx]"') from None


def _pair(values: list[int]) -> Any:
    return values[0] if len(values) == 2 and values[0] == values[1] else list(values)


def _path(node_name: str, op: str) -> str:
    """The module path in an exporter's node name: /layer1/layer1.0/conv1/Conv → layer1.0.conv1;
    an operation of a module's own forward: /layer1/layer1.0/Add → layer1.0.add."""
    parts = [p for p in node_name.split("/") if p]
    if len(parts) == 1 and parts[0].split("_")[0] == op:  # the model's own forward: /Add
        return op.lower()
    if len(parts) < 2:
        return re.sub(r"[^\w.]", "_", node_name).strip("_") or op.lower()
    path, previous = "", ""
    for part in parts[:-1]:  # /layer2/layer2.0/downsample/downsample.0 → layer2.0.downsample.0
        if previous and part.startswith(previous + "."):
            path = path[: len(path) - len(previous)] + part
        else:
            path = f"{path}.{part}" if path else part
        previous = part
    last = parts[-1].split("_")[0]
    return path if last == op and _is_module_op(op) else f"{path}.{op.lower()}"


def _is_module_op(op: str) -> bool:
    return op in ("Conv", "ConvTranspose", "BatchNormalization", "Gemm", "MaxPool", "AveragePool",
                  "GlobalAveragePool", "Relu", "Clip", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish",
                  "LeakyRelu", "Elu", "Dropout", "Flatten", "Softmax", "LogSoftmax")


def from_onnx(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """The spec of the ONNX model in ``path`` (one input [1, C, H, W] or [N, C, H, W])."""
    onnx = _onnx()
    numpy_helper = importlib.import_module("onnx.numpy_helper")
    unreadable = (importlib.import_module("google.protobuf.message").DecodeError,
                  onnx.shape_inference.InferenceError, onnx.checker.ValidationError, ValueError, OSError)

    file = Path(path)
    if not file.is_file():
        raise ImportProblem(f"{file}: no such file")
    try:
        model = onnx.load(str(file))
        inferred = onnx.shape_inference.infer_shapes(model)
    except unreadable as err:
        raise ImportProblem(f"{file}: not an ONNX model ({type(err).__name__})") from None
    graph = inferred.graph
    values: dict[str, Any] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    shapes: dict[str, tuple[int, ...]] = {}
    for info in [*graph.value_info, *graph.output, *graph.input]:
        dims = info.type.tensor_type.shape.dim
        shapes[info.name] = tuple(d.dim_value for d in dims)
    inputs = [i for i in graph.input if i.name not in values]
    if len(inputs) != 1 or len(shapes[inputs[0].name]) != 4 or min(shapes[inputs[0].name][1:]) < 1:
        raise ImportProblem(f"{file}: cnncalc imports a model with one input of [N, C, H, W] and known "
                            f"C, H, W")
    made: dict[str, str] = {inputs[0].name: "input"}
    layers: list[dict[str, Any]] = []
    expected: dict[str, tuple[tuple[int, ...], int]] = {}
    folded: list[str] = []
    taken: set[str] = set()
    consumers: dict[str, int] = {}
    for node in graph.node:
        for i in node.input:
            consumers[i] = consumers.get(i, 0) + 1
    sigmoid_of: dict[str, str] = {}  # a Sigmoid's output → its input

    def attrs(node: Any) -> dict[str, Any]:
        return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(name: str, node: Any) -> Any:
        if name not in values:
            raise ImportProblem(f"{file}: node {node.name or node.op_type} ({node.op_type}) needs {name} "
                                f"to be a constant")
        return values[name]

    def add(node: Any, kind: str, fields: Fields, reads: list[str], params: int, out: str) -> None:
        base = _path(node.name, node.op_type)
        if kind == "silu" and base.rpartition(".")[2] == "mul":  # x · sigmoid(x), written as one layer
            base = base[: -len("mul")] + "silu"
        layer_name, n = base, 0
        while layer_name in taken or layer_name == "input":
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
        made[out] = layer_name
        shape = shapes.get(out)
        if not shape or any(d < 1 for d in shape):
            raise ImportProblem(f"{file}: ONNX gives no shape for {out} ({layer_name})")
        expected[layer_name] = (shape[1:], params)

    for node in graph.node:
        op, a = node.op_type, attrs(node)
        out = node.output[0] if node.output else ""
        tensors = [i for i in node.input if i and i not in values]
        where = f"{file}: node {node.name or op} ({op})"
        if op == "Constant":
            values[out] = numpy_helper.to_array(a["value"]) if "value" in a else None
            continue
        if op == "Identity" and node.input[0] in values:
            values[out] = values[node.input[0]]
            continue
        if op in ("Identity", "Dropout") and node.input[0] in made and op == "Identity":
            made[out] = made[node.input[0]]
            continue
        if op in ("Conv", "ConvTranspose"):
            weight = const(node.input[1], node)
            has_bias = len(node.input) > 2 and bool(node.input[2])
            pads = list(a.get("pads", [0, 0, 0, 0]))
            auto = a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
            if auto or pads[:2] != pads[2:] or weight.ndim != 4:
                raise ImportProblem(f"{where}: only 2-D convolutions with the same padding on both sides map")
            groups = int(a.get("group", 1))
            out_channels = weight.shape[0] if op == "Conv" else weight.shape[1] * groups
            fields: Fields = {"out_channels": int(out_channels), "kernel_size": _pair(list(weight.shape[2:]))}
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
            if int(a.get("transB", 0)) != 1 or int(a.get("transA", 0)) or a.get("alpha", 1.0) != 1.0 or \
                    a.get("beta", 1.0) != 1.0:
                raise ImportProblem(f"{where}: only Gemm as torch's Linear (transB=1, alpha=beta=1) maps")
            has_bias = len(node.input) > 2 and bool(node.input[2])
            fields = {"out_features": int(weight.shape[0])}
            if not has_bias:
                fields["bias"] = False
            params = int(weight.size) + (int(weight.shape[0]) if has_bias else 0)
            add(node, "linear", fields, tensors, params, out)
            continue
        if op in ("MaxPool", "AveragePool"):
            kernel = [int(k) for k in a["kernel_shape"]]
            pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
            if pads[:2] != pads[2:]:
                raise ImportProblem(f"{where}: only the same padding on both sides maps")
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
            continue
        if op in ("GlobalAveragePool", "GlobalMaxPool"):
            kind = "adaptiveavgpool2d" if op == "GlobalAveragePool" else "adaptivemaxpool2d"
            add(node, kind, {"output_size": 1}, tensors, 0, out)
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
        if op == "Sigmoid" and consumers.get(out) == 1 and any(
                n.op_type == "Mul" and out in n.input and tensors[0] in n.input for n in graph.node):
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
        if op == "LeakyRelu":
            slope = float(a.get("alpha", 0.01))
            fields = {} if math.isclose(slope, 0.01) else {"negative_slope": slope}
            add(node, "leakyrelu", fields, tensors, 0, out)
            continue
        if op in ("Add", "Mul"):
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
            if len(shapes.get(out, ())) != 2 or (op == "Flatten" and int(a.get("axis", 1)) != 1):
                raise ImportProblem(f"{where}: only a reshape to [N, features] maps (as flatten)")
            add(node, "flatten", {}, tensors[:1], 0, out)
            continue
        if op in ("Softmax", "LogSoftmax"):
            add(node, op.lower(), {"dim": int(a.get("axis", -1))}, tensors, 0, out)
            continue
        if op == "Dropout":
            made[out] = made[tensors[0]]
            continue
        raise ImportProblem(f"{where} has no cnncalc layer type")

    result = graph.output[0].name if len(graph.output) == 1 else None
    if result is None or result not in made:
        raise ImportProblem(f"{file}: cnncalc imports a model with one output made by a layer")
    if not layers:
        raise ImportProblem(f"{file}: the model has no layers to import")
    if made[result] != layers[-1]["name"]:  # the output is made earlier: the spec ends with it
        layers.append({"name": "output", "type": "identity", "from": made[result]})
        expected["output"] = (expected[made[result]][0], 0)
    spec: dict[str, Any] = {"name": name or file.stem, "input": list(shapes[inputs[0].name][1:]),
                            "layers": layers}
    stored = sum(int(v.size) for k, v in values.items() if k in {i.name for i in graph.initializer})
    counted = sum(params for _, params in expected.values())
    running = sum(params for layer in layers if layer["type"].startswith("batchnorm")
                  for params in [expected[layer["name"]][1]])
    notes = [f"imported from {file.name}: {len(layers)} layers, {counted:,} parameters; the file's "
             f"initializers hold {stored:,} values"]
    if stored != counted:
        reasons = []
        if running:
            reasons.append(f"{running:,} running means and variances of batch norms (initializers, not "
                           f"parameters)")
        rest = stored - counted - running
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
    _check(spec, expected)
    return spec
