"""Import: a torch module as a cnncalc spec (``cnncalc import``, :func:`from_module`).

The model is traced with ``torch.fx``: the standard layers stay leaves (one spec layer each,
named by its module path), everything else is traced through, and each functional operation on
a tensor (``x + y``, ``torch.cat``, ``F.relu``, ``torch.flatten``, ``x.view(n, -1)``) becomes a
layer named after the module whose ``forward`` calls it (``layer1.0.add``). Shapes are then
propagated on the meta device, so no tensor of image size is ever made. The result is a flat
graph: every layer names what it reads with ``from`` where that is not the layer before.

What cannot be written as a spec (a custom operation, an unknown module, a parameter used
outside a module, a module with parameters called twice, control flow that depends on the
data) is an :class:`ImportProblem` naming the module path and the source line; nothing is
approximated. The spec is checked against the trace before it is returned: every layer's
output shape and parameter count as the analysis finds them must equal torch's.
"""

from __future__ import annotations

import copy
import operator
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from cnncalc.errors import CnncalcError
from cnncalc.pytorch.bridge import require_torch
from cnncalc.spec.models import image_shape

__all__ = ["ImportProblem", "from_module", "load_model"]

Fields = dict[str, Any]


class ImportProblem(CnncalcError):
    """A model that cannot be written as a spec: what, where (module path and source line)."""


def _pair(value: Any) -> Any:
    """A torch pair as the spec writes it: one int where both sides agree."""
    if isinstance(value, (tuple, list)):
        items = [_plain(v) for v in value]
        return items[0] if len(items) == 2 and items[0] == items[1] else items
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


class _Written(dict[str, Any]):
    """A layer's fields as written, with torch's defaults of those left out (for folding)."""

    defaults: Fields


def _nondefault(fields: Fields, defaults: Fields) -> Fields:
    """The fields that differ from torch's defaults, so the spec reads as if written by hand."""
    written = _Written((k, v) for k, v in fields.items() if k not in defaults or defaults[k] != v)
    written.defaults = dict(defaults)
    return written


# --- modules -------------------------------------------------------------------------------------


def _module_layer(nn: Any, module: Any) -> tuple[str, Fields] | None:
    """The spec type and fields of a standard layer, or None where cnncalc has no such type."""
    if type(module) is nn.Conv2d:
        if module.padding_mode != "zeros" and isinstance(module.padding, str):
            return None
        padding = module.padding if isinstance(module.padding, str) else _pair(module.padding)
        return "conv2d", _nondefault({
            "out_channels": module.out_channels, "kernel_size": _pair(module.kernel_size),
            "stride": _pair(module.stride), "padding": padding, "dilation": _pair(module.dilation),
            "groups": module.groups, "bias": module.bias is not None, "padding_mode": module.padding_mode,
        }, {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"})
    if type(module) is nn.ConvTranspose2d:
        if module.padding_mode != "zeros":
            return None
        return "convtranspose2d", _nondefault({
            "out_channels": module.out_channels, "kernel_size": _pair(module.kernel_size),
            "stride": _pair(module.stride), "padding": _pair(module.padding),
            "output_padding": _pair(module.output_padding), "groups": module.groups,
            "bias": module.bias is not None, "dilation": _pair(module.dilation),
        }, {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True, "dilation": 1})
    if type(module) is nn.Linear:
        return "linear", _nondefault({"out_features": module.out_features, "bias": module.bias is not None},
                                     {"bias": True})
    if type(module) is nn.MaxPool2d:
        if module.return_indices:
            return None
        return _max_pool(module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)
    if type(module) is nn.AvgPool2d:
        return _avg_pool(module.kernel_size, module.stride, module.padding, module.ceil_mode,
                         module.count_include_pad, module.divisor_override)
    if type(module) in (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d):
        if type(module) is nn.AdaptiveMaxPool2d and module.return_indices:
            return None
        kind = "adaptiveavgpool2d" if type(module) is nn.AdaptiveAvgPool2d else "adaptivemaxpool2d"
        return _adaptive(kind, module.output_size)
    if type(module) is nn.Flatten:
        return "flatten", _nondefault({"start_dim": module.start_dim, "end_dim": module.end_dim},
                                      {"start_dim": 1, "end_dim": -1})
    if type(module) in (nn.BatchNorm2d, nn.BatchNorm1d):
        return ("batchnorm2d" if type(module) is nn.BatchNorm2d else "batchnorm1d"), _nondefault({
            "eps": module.eps, "momentum": module.momentum, "affine": module.affine,
            "track_running_stats": module.track_running_stats,
        }, {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True})
    if type(module) is nn.LocalResponseNorm:
        return "localresponsenorm", _nondefault({"size": module.size, "alpha": module.alpha,
                                                 "beta": module.beta, "k": module.k},
                                                {"alpha": 1e-4, "beta": 0.75, "k": 1.0})
    if type(module) in (nn.Dropout, nn.Dropout2d):
        return ("dropout" if type(module) is nn.Dropout else "dropout2d"), _nondefault(
            {"p": module.p, "inplace": module.inplace}, {"p": 0.5, "inplace": False})
    if type(module) is nn.ZeroPad2d:
        return "zeropad2d", {"padding": _plain(module.padding)}
    inplace_types = {nn.ReLU: "relu", nn.ReLU6: "relu6", nn.SiLU: "silu", nn.Hardswish: "hardswish",
                     nn.Hardsigmoid: "hardsigmoid"}
    if type(module) in inplace_types:
        return inplace_types[type(module)], _nondefault({"inplace": module.inplace}, {"inplace": False})
    if type(module) is nn.LeakyReLU:
        return "leakyrelu", _nondefault({"negative_slope": module.negative_slope, "inplace": module.inplace},
                                        {"negative_slope": 0.01, "inplace": False})
    if type(module) is nn.ELU:
        return "elu", _nondefault({"alpha": module.alpha, "inplace": module.inplace},
                                  {"alpha": 1.0, "inplace": False})
    if type(module) is nn.GELU:
        return "gelu", _nondefault({"approximate": module.approximate}, {"approximate": "none"})
    if type(module) in (nn.Tanh, nn.Sigmoid, nn.Identity):
        return {nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Identity: "identity"}[type(module)], {}
    if type(module) in (nn.Softmax, nn.LogSoftmax):
        return ("softmax" if type(module) is nn.Softmax else "logsoftmax"), (
            {} if module.dim is None else {"dim": module.dim})
    if type(module) is nn.Upsample:
        return _upsample(module.size, module.scale_factor, module.mode, module.align_corners)
    return None


def _crop(index: Any, shape: Sequence[int], out: tuple[int, ...]) -> tuple[str, Fields] | None:
    """``x[:, :, a:b, c:d]`` on [N, C, H, W] (steps of 1, the batch and channels whole) as a crop:
    ("centercrop", {"padding": ...}) where the cut is centred as centercrop cuts, else a
    ``zeropad2d`` with negative padding (left, right, top, bottom)."""
    items = list(index) if isinstance(index, tuple) else [index]
    if items and items[0] is Ellipsis and len(items) <= 3:
        items = [slice(None)] * (5 - len(items)) + items[1:]
    if len(shape) != 4 or len(out) != 4 or not 2 <= len(items) <= 4:
        return None
    items += [slice(None)] * (4 - len(items))
    if not all(isinstance(i, slice) and i.step in (None, 1) for i in items) or \
            any(items[d] != slice(None) for d in (0, 1)):
        return None
    cuts = []
    for d in (2, 3):
        start, stop, _ = items[d].indices(shape[d])
        if stop <= start:
            return None
        cuts.append((start, shape[d] - stop))
    (top, bottom), (left, right) = cuts
    padding = [-left, -right, -top, -bottom]
    centred = top == (shape[2] - out[2]) // 2 and left == (shape[3] - out[3]) // 2
    return ("centercrop" if centred else "zeropad2d"), {"padding": padding}


def _size_sources(node: Any) -> list[Any]:
    """The tensors whose sizes the arguments of ``node`` were computed from (``y.size()``,
    ``y.shape``), in the order the graph has them."""
    found: list[Any] = []
    seen: set[Any] = set()
    todo = [n for n in node.all_input_nodes if n is not node.args[0]] if node.args else []
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if (n.op == "call_method" and n.target in ("size", "dim")) or (
                n.op == "call_function" and n.target is getattr and len(n.args) > 1 and n.args[1] == "shape"):
            found.append(n.args[0])
            continue
        todo.extend(n.all_input_nodes)
    return found


def _max_pool(kernel: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool) -> tuple[str, Fields]:
    stride = kernel if stride is None or stride == [] else stride
    return "maxpool2d", _nondefault({
        "kernel_size": _pair(kernel), "stride": _pair(stride), "padding": _pair(padding),
        "dilation": _pair(dilation), "ceil_mode": bool(ceil_mode),
    }, {"stride": _pair(kernel), "padding": 0, "dilation": 1, "ceil_mode": False})


def _avg_pool(kernel: Any, stride: Any, padding: Any, ceil_mode: bool, count_include_pad: bool,
              divisor_override: Any) -> tuple[str, Fields]:
    stride = kernel if stride is None or stride == [] else stride
    return "avgpool2d", _nondefault({
        "kernel_size": _pair(kernel), "stride": _pair(stride), "padding": _pair(padding),
        "ceil_mode": bool(ceil_mode), "count_include_pad": bool(count_include_pad),
        "divisor_override": divisor_override,
    }, {"stride": _pair(kernel), "padding": 0, "ceil_mode": False, "count_include_pad": True,
        "divisor_override": None})


def _adaptive(kind: str, size: Any) -> tuple[str, Fields] | None:
    if isinstance(size, (tuple, list)) and any(s is None for s in size):
        return kind, {"output_size": list(size)}  # None: that side as it is, as the spec writes it
    return kind, {"output_size": _pair(size)}


def _upsample(size: Any, scale: Any, mode: str, align_corners: Any) -> tuple[str, Fields] | None:
    if mode not in ("nearest", "bilinear"):
        return None
    fields: Fields = {}
    if size is not None:
        fields["size"] = _pair(size)
    if scale is not None:
        scale = _pair(scale)
        fields["scale_factor"] = int(scale) if isinstance(scale, float) and scale.is_integer() else scale
    if mode != "nearest":
        fields["mode"] = mode
    if align_corners is not None:
        fields["align_corners"] = align_corners
    return "upsample", fields


# --- functions and methods -----------------------------------------------------------------------


def _bind(names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any], defaults: Fields) -> Fields:
    bound = dict(defaults)
    bound.update(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


# The activations that are one layer whatever their spelling: F.relu, torch.relu, x.relu(), x.relu_().
_ACTIVATIONS = {"relu": "relu", "relu_": "relu", "relu6": "relu6", "silu": "silu", "hardswish": "hardswish",
                "hardsigmoid": "hardsigmoid", "sigmoid": "sigmoid", "sigmoid_": "sigmoid", "tanh": "tanh",
                "tanh_": "tanh"}


def _function_layer(torch: Any, target: Any, args: Sequence[Any], kwargs: dict[str, Any],
                    shapes: Sequence[Any], out: Any) -> tuple[str, Fields] | str | None:
    """The spec type and fields of a call_function or call_method node (its arguments with
    their values), "alias" for an operation that changes nothing (``x.contiguous()``), or None."""
    F = torch.nn.functional
    name = target if isinstance(target, str) else getattr(target, "__name__", "")
    module = getattr(target, "__module__", "") or ""
    is_torch = isinstance(target, str) or module.startswith("torch") or target in (
        operator.add, operator.iadd, operator.mul, operator.imul)
    if not is_torch:
        return None
    tensors = [s for s in shapes if s is not None]
    if target in (operator.add, operator.iadd, torch.add) or name in ("add", "add_", "__add__", "__iadd__"):
        if len(args) == 2 and len(tensors) == 2 and not kwargs:
            return "add", {}
        return None
    if target in (operator.mul, operator.imul, torch.mul) or name in ("mul", "mul_", "__mul__", "__imul__"):
        if len(args) == 2 and len(tensors) == 2 and not kwargs:
            return "mul", {}
        return None
    if target in (torch.cat, torch.concat) or name in ("cat", "concat", "concatenate"):
        bound = _bind(("tensors", "dim"), args, kwargs, {"dim": 0})
        rank = len(out.shape)
        if len(tensors) == 1 and len(bound["tensors"]) == 1:
            return "alias"  # a list of one tensor joined: that tensor (DenseNet's first layer)
        if bound["dim"] in (1, 1 - rank) and rank in (2, 4):
            return "concat", {}
        return None
    if name in ("flatten", "view", "reshape"):
        # Whatever the spelling, what counts is the result: [N, everything else] from [N, ...].
        first = shapes[0]
        if first is not None and len(out.shape) == 2 and out.shape[0] == first[0] and len(first) >= 2:
            return "flatten", {}
        return None
    if name in ("contiguous", "clone") and not kwargs:
        return "alias"
    if name == "stochastic_depth" and module.startswith("torchvision"):
        # torchvision's stochastic depth: the input itself in eval mode (its training flag off)
        bound = _bind(("input", "p", "mode", "training"), args, kwargs, {"training": True})
        return "alias" if not bound["training"] or bound["p"] == 0 else None
    if name in _ACTIVATIONS or (name == "relu6" and module.startswith("torch.nn.functional")):
        if len(tensors) == 1 and all(k == "inplace" for k in kwargs) and len(args) <= 2:
            return _ACTIVATIONS[name], {}
        return None
    if target is F.leaky_relu:
        bound = _bind(("input", "negative_slope", "inplace"), args, kwargs, {"negative_slope": 0.01})
        return "leakyrelu", _nondefault({"negative_slope": bound["negative_slope"]}, {"negative_slope": 0.01})
    if target is F.elu:
        bound = _bind(("input", "alpha", "inplace"), args, kwargs, {"alpha": 1.0})
        return "elu", _nondefault({"alpha": bound["alpha"]}, {"alpha": 1.0})
    if target is F.gelu:
        bound = _bind(("input",), args, kwargs, {"approximate": "none"})
        return "gelu", _nondefault({"approximate": bound["approximate"]}, {"approximate": "none"})
    if target in (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax) or name in (
            "softmax", "log_softmax"):
        bound = _bind(("input", "dim"), args, kwargs, {"dim": None})
        if (set(kwargs) - {"dim", "_stacklevel", "dtype"} or bound.get("dtype") is not None
                or bound["dim"] is None):
            return None
        return ("softmax" if "log" not in name else "logsoftmax"), {"dim": bound["dim"]}
    if target in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d, torch.adaptive_avg_pool1d) or name in (
            "adaptive_avg_pool2d", "adaptive_max_pool2d"):
        bound = _bind(("input", "output_size", "return_indices"), args, kwargs, {"return_indices": False})
        if bound["return_indices"]:
            return None
        kind = "adaptiveavgpool2d" if "avg" in name else "adaptivemaxpool2d"
        return _adaptive(kind, bound["output_size"])
    if name in ("max_pool2d", "_max_pool2d", "max_pool2d_with_indices"):
        bound = _bind(("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode",
                       "return_indices"), args, kwargs,
                      {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                       "return_indices": False})
        if bound["return_indices"]:
            return None
        return _max_pool(bound["kernel_size"], bound["stride"], bound["padding"], bound["dilation"],
                         bound["ceil_mode"])
    if name == "avg_pool2d":
        bound = _bind(("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                       "divisor_override"), args, kwargs,
                      {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                       "divisor_override": None})
        return _avg_pool(bound["kernel_size"], bound["stride"], bound["padding"], bound["ceil_mode"],
                         bound["count_include_pad"], bound["divisor_override"])
    if target in (F.dropout, F.dropout2d):
        bound = _bind(("input", "p", "training", "inplace"), args, kwargs, {"p": 0.5})
        return ("dropout" if target is F.dropout else "dropout2d"), _nondefault({"p": bound["p"]}, {"p": 0.5})
    if target is F.pad or name == "pad":
        bound = _bind(("input", "pad", "mode", "value"), args, kwargs, {"mode": "constant", "value": None})
        pad = [int(p) for p in bound["pad"]]
        if bound["mode"] != "constant" or bound["value"] not in (None, 0, 0.0) or len(pad) not in (2, 4) \
                or shapes[0] is None or len(shapes[0]) != 4:
            return None
        return "zeropad2d", {"padding": [*pad, 0, 0] if len(pad) == 2 else pad}
    if target is F.interpolate:
        bound = _bind(("input", "size", "scale_factor", "mode", "align_corners"), args, kwargs,
                      {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None})
        return _upsample(bound["size"], bound["scale_factor"], bound["mode"], bound["align_corners"])
    if name == "mean":
        bound = _bind(("input", "dim", "keepdim"), args, kwargs, {"dim": None, "keepdim": False})
        dim = bound["dim"]
        listed = dim if isinstance(dim, (tuple, list)) else [] if dim is None else [dim]
        dims = sorted(d % 4 for d in listed)
        if shapes[0] is not None and len(shapes[0]) == 4 and dims == [2, 3]:
            # without keepdim, [N, C]: the pooled maps, then flattened (two layers: POOLED_FLAT)
            return ("globalavgpool", {}) if bound["keepdim"] else (_POOLED_FLAT, {})
        return None
    return None


# One operation that is two layers, globalavgpool then flatten (x.mean((2, 3)) without keepdim).
_POOLED_FLAT = "globalavgpool+flatten"


# --- tracing -------------------------------------------------------------------------------------


def _where(node: Any) -> str:
    """The last source line of the model's own code that made ``node``: 'file:line: code'."""
    trace = getattr(node, "stack_trace", None) or ""
    lines = [line.strip() for line in trace.strip().splitlines()]
    for k in range(len(lines) - 1, -1, -1):
        if lines[k].startswith("File ") and not any(part in lines[k].replace("\\", "/")
                                                    for part in ("/torch/", "/cnncalc/")):
            code = lines[k + 1] if k + 1 < len(lines) and not lines[k + 1].startswith("File ") else ""
            place = lines[k].split(",")
            file = place[0].removeprefix("File ").strip('"')
            line = place[1].strip().removeprefix("line ") if len(place) > 1 else "?"
            return f"{file}:{line}" + (f": {code}" if code else "")
    return "<torch's own code>"  # a layer called by nn.Sequential: its module path says where


def _on_the_input(node: Any, reads: Sequence[Any], what: str) -> None:
    """Refuse a computation on parameters alone (``torch.sigmoid(self.gate)``): torch holds a
    parameter without the batch, so no spec layer computes what it does; a merge with the
    network's values (``x * self.gate``) is fine."""
    if reads and all(n.op == "get_attr" for n in reads):
        names = ", ".join(str(n.target) for n in reads)
        raise ImportProblem(f"{_where(node)}: {what} computes on parameters alone ({names}), before they "
                            f"meet the network's values; a spec's parameter is read as it is, by add, mul "
                            f"or concat")


def _scope(node: Any) -> str:
    """The module path whose ``forward`` made ``node`` ("" for the model's own)."""
    stack = node.meta.get("nn_module_stack") or {}
    if not stack:
        return ""
    key, value = list(stack.items())[-1]
    path = value[0] if isinstance(value, tuple) else key
    return str(path)


def _describe(target: Any) -> str:
    if isinstance(target, str):
        return f"Tensor.{target}"
    module = getattr(target, "__module__", None) or ""
    return f"{module}.{getattr(target, '__name__', repr(target))}".lstrip(".")


def from_module(model: Any, input_shape: Sequence[int], name: str | None = None,
                blocks: bool = True, leaves: Sequence[str] = ()) -> dict[str, Any]:
    """The spec of ``model`` for one input of ``input_shape`` ([C, H, W]), as a mapping ready
    for YAML or :func:`cnncalc.load_spec`: layer names equal the model's module paths, and
    functional operations are layers named in the module that calls them (``layer1.0.add``).
    With ``blocks`` (the default), a submodule type used two times or more is a block and
    numbered instances in a row a call with ``repeat`` (:mod:`cnncalc.pytorch.folding`); the
    layer names stay the same. ``blocks=False`` gives one entry per layer.

    ``leaves`` names module types (``MyBlock`` or ``my_models.MyBlock``) to keep whole: each
    instance is one ``opaque`` layer with its parameter count and the output shape the trace
    found, for a custom module whose inside cnncalc cannot follow.

    Raises :class:`ImportProblem` for what no spec can say, naming the module path and the
    source line, and for a spec whose analysis would differ from the trace (shape or
    parameters of any layer).
    """
    torch = require_torch()
    fx = torch.fx
    nn = torch.nn
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ImportProblem(f"the input shape must be C,H,W (three positive sizes), got {list(input_shape)}")
    if not isinstance(model, nn.Module):
        raise ImportProblem(f"cnncalc imports a torch.nn.Module, got {type(model).__name__}")

    kept = _leaf_types(nn, model, leaves)
    calling: list[str] = []  # the module paths being traced; left as they are by an error

    class Tracer(fx.Tracer):  # type: ignore[misc,name-defined]
        def call_module(self, m: Any, forward: Any, args: Any, kwargs: Any) -> Any:
            calling.append(self.path_of_module(m))
            result = super().call_module(m, forward, args, kwargs)
            calling.pop()
            return result

        def is_leaf_module(self, m: Any, qualname: str) -> bool:
            # torch's own layers stay whole (an unknown one is then named as such); containers
            # and the model's own modules are traced through.
            return type(m) in kept or _module_layer(nn, m) is not None or (
                type(m).__module__.startswith("torch.nn") and type(m) is not nn.Module
                and not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)))

    tracer = Tracer()
    tracer.record_stack_traces = True
    training = model.training  # traced in eval mode: what dropout and stochastic depth do at inference
    model.eval()
    try:
        graph = tracer.trace(model)
    except fx.proxy.TraceError as err:
        where, code = _user_frame(err)
        scope = f"{calling[-1]}'s forward" if calling else "the model's forward"
        raise ImportProblem(f"{where}: in {scope}, `{code}` cannot be traced (torch.fx: {err}); control "
                            f"flow that depends on the data cannot be written as a spec") from None
    finally:
        model.train(training)
    gm = fx.GraphModule(tracer.root, graph)
    values = _propagate(torch, gm, shape)
    modules = dict(model.named_modules())
    reserved = set(modules) | {"input"}
    spec_layers: list[dict[str, Any]] = []
    made: dict[Any, str] = {}  # node → the layer whose output it is ("input" for the placeholder)
    taken: set[str] = set()
    calls: dict[str, int] = {}
    expected: dict[str, tuple[tuple[int, ...], int]] = {}
    layer_defaults: dict[str, Fields] = {}
    used: set[str] = set()
    last: str | None = None

    def tensor_shape(value: Any) -> tuple[int, ...] | None:
        return tuple(value.shape) if isinstance(value, torch.Tensor) else None

    def unique(base: str, avoid: set[str]) -> str:
        candidate, n = base, 0
        while candidate in taken or candidate in avoid:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        return candidate

    def concrete(value: Any) -> Any:
        return fx.node.map_arg(value, lambda n: values[n])

    def inputs_of(node: Any) -> list[Any]:
        found: list[Any] = []
        def collect(n: Any) -> Any:
            found.append(n)
            return n

        fx.node.map_arg((node.args, node.kwargs), collect)
        return [n for n in found if isinstance(values.get(n), torch.Tensor)]

    def add_layer(node: Any, layer_name: str, kind: str, fields: Fields, reads: list[Any]) -> None:
        nonlocal last
        for n in reads:
            if n not in made:
                what = "a parameter or buffer used outside a module" if n.op == "get_attr" else "a tensor"
                raise ImportProblem(f"{_where(node)}: {layer_name} reads {what} ({n.target}), which a "
                                    f"spec cannot hold")
        sources = [made[n] for n in reads]
        entry: dict[str, Any] = {"name": layer_name, "type": kind}
        previous = last if last is not None else "input"
        if len(sources) > 1 or (sources and sources[0] != previous):
            entry["from"] = sources if len(sources) > 1 else sources[0]
        entry.update(fields)
        layer_defaults[layer_name] = getattr(fields, "defaults", {})
        spec_layers.append(entry)
        made[node] = layer_name
        last = layer_name
        out = tensor_shape(values[node])
        assert out is not None
        expected[layer_name] = (out[1:], -1)

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if "input" in made.values():
                raise ImportProblem(f"the model's forward takes more than one input ({node.target}); a spec "
                                    f"has one")
            made[node] = "input"
        elif node.op == "get_attr":
            held = values.get(node)
            # (a layer's own weights, read while the tracer looked at the module, have no users)
            if not isinstance(held, torch.nn.Parameter) or not node.users:
                continue  # a buffer or constant: an error only where a layer reads it (add_layer)
            if held.dim() == 4 and held.shape[0] != 1:
                raise ImportProblem(f"{_where(node)}: parameter {node.target} has shape {list(held.shape)}: "
                                    f"four dimensions whose first is not 1 mix with the batch")
            layer_name = unique(node.target, set())
            add_layer(node, layer_name, "parameter", {"shape": list(held.shape)}, [])
            expected[layer_name] = (image_shape(held.shape), held.numel())
            used.add(node.target)
        elif node.op == "call_module":
            module = modules[node.target]
            layer = _module_layer(nn, module)
            if type(module) in kept:
                received = [tensor_shape(values[n]) for n in inputs_of(node)]
                out_value = tensor_shape(values[node])
                if out_value is None or len(out_value) < 2:
                    raise ImportProblem(f"{_where(node)}: module {node.target} ({type(module).__name__}) "
                                        f"returns no tensor of one value per image ([N, ...]); an opaque "
                                        f"layer outputs one")
                traced = [list(r[1:]) for r in received if r is not None]
                layer = "opaque", {
                    "module": _type_name(type(module)),
                    **({"input_shape": traced[0]} if len(traced) == 1 else {"input_shapes": traced}),
                    "output_shape": list(out_value[1:]),
                    "parameters": sum(p.numel() for p in module.parameters()),
                }
            if layer is None:
                raise ImportProblem(f"{_where(node)}: module {node.target} ({type(module).__name__}) has no "
                                    f"cnncalc layer type")
            count = calls.get(node.target, 0)
            calls[node.target] = count + 1
            params = sum(p.numel() for p in module.parameters())
            if count and params:
                raise ImportProblem(f"{_where(node)}: module {node.target} ({type(module).__name__}) is "
                                    f"called again; a spec has no shared weights")
            layer_name = unique(node.target, set()) if count == 0 else unique(node.target, reserved)
            reads = inputs_of(node)
            if (len(reads) != 1 or node.kwargs) and not (type(module) in kept and reads):
                raise ImportProblem(f"{_where(node)}: module {node.target} is called with {len(reads)} "
                                    f"tensors; its layer reads one")
            _on_the_input(node, reads, f"module {node.target}")
            add_layer(node, layer_name, *layer, reads)
            expected[layer_name] = (expected[layer_name][0], params)
            used.add(node.target)
            if type(module) in kept:  # its own submodules are inside it
                used.update(p for p in modules if p.startswith(node.target + "."))
        elif node.op in ("call_function", "call_method"):
            value = values[node]
            if not isinstance(value, torch.Tensor):
                if node.target is operator.getitem and isinstance(values.get(node.args[0]), torch.Tensor):
                    raise ImportProblem(f"{_where(node)}: indexing a tensor ({_scope(node) or 'the model'}) "
                                        f"has no cnncalc layer type")
                continue  # sizes and other plain values: they only feed the fields of layers
            reads = inputs_of(node)
            _on_the_input(node, reads, _describe(node.target))
            args = concrete(node.args)
            kwargs = concrete(node.kwargs)
            shapes = [tensor_shape(a) for a in args]
            if node.target in (torch.cat, torch.concat) and args:
                shapes = [tensor_shape(a) for a in args[0]] + shapes[1:]
            mapped = _function_layer(torch, node.target, args, kwargs, shapes, value)
            if node.target is operator.getitem and shapes[0] is not None:
                mapped = _crop(args[1], shapes[0], tuple(value.shape))
                if mapped is not None and mapped[0] == "centercrop":
                    # Cut to the size of a tensor it read the size of: that tensor is centercrop's
                    # second input, so the spec holds at any input size. Else the cut by its numbers.
                    like = [n for n in _size_sources(node) if n in made and n is not node.args[0]
                            and isinstance(values[n], torch.Tensor)
                            and tuple(values[n].shape[2:]) == tuple(value.shape[2:])]
                    if like:
                        mapped, reads = ("centercrop", {}), [node.args[0], like[-1]]
                    else:
                        mapped = "zeropad2d", mapped[1]
            if mapped is None:
                where = _scope(node)
                raise ImportProblem(f"{_where(node)}: {_describe(node.target)} in "
                                    f"{where or 'the model'}'s forward has no cnncalc layer type")
            if mapped == "alias":
                made[node] = made[reads[0]]
                continue
            assert isinstance(mapped, tuple)
            scope = _scope(node)
            op = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "op")
            base = {"add": "add", "iadd": "add", "mul": "mul", "imul": "mul", "cat": "cat",
                    "getitem": "crop"}.get(
                op.strip("_"), op.strip("_"))
            layer_name = unique(f"{scope}.{base}" if scope else base, reserved)
            pooled_flat = mapped[0] == _POOLED_FLAT
            add_layer(node, layer_name, "globalavgpool" if pooled_flat else mapped[0], mapped[1], reads)
            expected[layer_name] = (expected[layer_name][0], 0)
            if pooled_flat:  # the pooled maps [C, 1, 1], then flattened to [C]
                expected[layer_name] = ((*expected[layer_name][0], 1, 1), 0)
                flat_name = unique(f"{layer_name}_flatten", reserved)
                add_layer(node, flat_name, "flatten", {}, [node])
                expected[flat_name] = (expected[flat_name][0], 0)
        elif node.op == "output":
            result = node.args[0]
            if not isinstance(values.get(result), torch.Tensor) if hasattr(result, "op") else True:
                raise ImportProblem("the model's forward returns more than one tensor; a spec has one output")
            if made[result] != last:
                add_layer(result, unique("output", reserved), "identity", {}, [result])
                expected[last] = (expected[last][0], 0)  # type: ignore[index]
    if not spec_layers:
        raise ImportProblem("the model has no layers to import")
    spec: dict[str, Any] = {"name": name or type(model).__name__,
                            "input": list(shape), "layers": spec_layers}
    def unread(path: str) -> list[Any]:  # a module's own parameters neither it nor a get_attr reads
        module = modules[path]
        return [] if path in used or list(module.children()) else [
            p for n, p in module.named_parameters(recurse=False) if f"{path}.{n}" not in used]

    unused = [path for path in modules if path and unread(path)]
    if unused:
        count = sum(p.numel() for path in unused for p in unread(path))
        spec["description"] = (f"imported from {type(model).__name__}; {count:,} parameters of modules its "
                               f"forward does not call are left out ({', '.join(unused[:5])}"
                               f"{', …' if len(unused) > 5 else ''})")
    wiring = _check(spec, expected)
    if blocks:
        for folded in _folds(nn, spec, layer_defaults, modules):
            try:
                _check(folded, expected, wiring)
            except ImportProblem:
                continue  # the flat spec is exact; a fold that is not is left out
            return folded
    return spec


def _folds(nn: Any, spec: dict[str, Any], layer_defaults: dict[str, Fields],
           modules: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The folded specs to try, best first: blocks at every level (GoogLeNet's Inception calling
    BasicConv2d), then the outermost submodules only, then the innermost only."""
    from cnncalc.pytorch.folding import fold

    plain = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
    instances = {path: type(m).__qualname__ for path, m in modules.items()
                 if path and type(m) not in plain and _module_layer(nn, m) is None
                 and not type(m).__module__.startswith("torch.nn")}
    children = {path: [n for n, _ in m.named_children()] for path, m in modules.items()
                if isinstance(m, (nn.Sequential, nn.ModuleList))}

    def above(path: str) -> list[str]:
        parts = path.split(".")
        return [".".join(parts[:cut]) for cut in range(1, len(parts))]

    holding = {outer for path in instances for outer in above(path)}
    outermost = {p: t for p, t in instances.items() if not any(q in instances for q in above(p))}
    innermost = {p: t for p, t in instances.items() if p not in holding}
    tried: list[dict[str, str]] = []
    for chosen in (instances, outermost, innermost):
        if chosen not in tried:
            tried.append(chosen)
            folded = fold(spec, layer_defaults, chosen, children)
            if folded is not None:
                yield folded


def _type_name(kind: type) -> str:
    """A module type as a user would name it: my_models.MyBlock, or MyBlock for a class from a
    file loaded by path (whose module name is cnncalc's own) or from ``__main__``."""
    module = kind.__module__
    if module == "__main__" or module.startswith("_cnncalc_import_"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def _leaf_types(nn: Any, model: Any, leaves: Sequence[str]) -> set[type]:
    """The module types ``leaves`` names (``MyBlock``, ``pkg.mod.MyBlock``) among the model's."""
    inside = [m for path, m in model.named_modules() if path]  # the model itself cannot be a leaf
    present = {type(m) for m in inside}
    kept: set[type] = set()
    for wanted in leaves:
        found = {t for t in present if wanted in (
            t.__name__, t.__qualname__, _type_name(t), f"{t.__module__}.{t.__qualname__}",
            f"{t.__module__.removeprefix('_cnncalc_import_')}.{t.__qualname__}",
            *([f"torch.nn.{t.__qualname__}", f"nn.{t.__qualname__}"] if t.__module__.startswith("torch.nn.")
              else []))}
        if not found:
            plain = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
            own = sorted({_type_name(type(m)) for m in inside if not isinstance(m, plain) and (
                not type(m).__module__.startswith("torch.nn") or _module_layer(nn, m) is None)})
            raise ImportProblem(f"--leaf {wanted}: the model has no module of that type; its module types "
                                f"are: {', '.join(own[:12])}{', …' if len(own) > 12 else ''}")
        kept |= found
    return kept


def _user_frame(err: BaseException) -> tuple[str, str]:
    """'file:line' and the code of the innermost frame of the user's code in a tracing error."""
    inside = ("/torch/", "/cnncalc/")
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if not any(part in f.filename.replace("\\", "/") for part in inside)]
    if not frames:
        return "<unknown source line>", "?"
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}", frame.line or "?"


def _propagate(torch: Any, gm: Any, shape: tuple[int, ...]) -> dict[Any, Any]:
    """Every node's value for a batch of two inputs of ``shape`` on the meta device: tensors
    without data (shapes only), and the plain values (sizes, flags) computed from them."""
    # A copy whose parameters and buffers are made on the meta device directly: the weights are
    # never copied (a ResNet-50's 100 MB stays one copy, the model's own).
    memo: dict[int, Any] = {}
    for tensor in (*gm.parameters(), *gm.buffers()):
        empty = torch.empty_like(tensor, device="meta")
        memo[id(tensor)] = (torch.nn.Parameter(empty, tensor.requires_grad)
                            if isinstance(tensor, torch.nn.Parameter) else empty)
    meta = copy.deepcopy(gm, memo).to("meta").eval()
    values: dict[Any, Any] = {}
    by_name = {node.name: node for node in gm.graph.nodes}

    class Shapes(torch.fx.Interpreter):  # type: ignore[misc]
        def run_node(self, n: Any) -> Any:
            try:
                result = super().run_node(n)
            except (RuntimeError, ValueError) as err:  # the model refuses this input (a size mismatch)
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                raise ImportProblem(f"{_where(n)}: the model fails for an input of {list(shape)} at "
                                    f"{n.target}: {first}") from None
            values[by_name[n.name]] = result
            return result

    with torch.no_grad():
        # A batch of two: batch statistics (a batch norm that tracks none) need more than one value.
        Shapes(meta).run(torch.empty((2, *shape), device="meta"))
    return values


def _check(spec: dict[str, Any], expected: dict[str, tuple[tuple[int, ...], int]],
           wiring: list[tuple[str, tuple[str, ...]]] | None = None,
           source: str = "torch") -> list[tuple[str, tuple[str, ...]]]:
    """The analysis of ``spec`` must give every layer the shape and parameter count that
    ``source`` (torch's trace; an ONNX file: "ONNX (model.onnx)") gives, and, given the ``wiring``
    of the flat spec, the same rows in the same order, each reading the same rows (a sum's or
    product's terms in any order). Returns the wiring of ``spec``."""
    from cnncalc.analysis.walk import analyze
    from cnncalc.errors import SpecError
    from cnncalc.spec.loader import load_spec

    try:
        report = analyze(load_spec(spec))
    except SpecError as err:  # a bug of the importer: the message says what the analysis refused
        raise ImportProblem(f"the imported spec is refused by the analysis: {err.messages()[0]}") from None
    rows = [row.name for row in report.rows]
    if sorted(rows) != sorted(expected):
        raise ImportProblem("the imported spec's layers are not the model's; not imported rather than "
                            "approximated")
    for row in report.rows:
        shape, params = expected[row.name]
        if tuple(row.output_shape) != shape or (params >= 0 and row.parameters != params):
            raise ImportProblem(f"layer {row.name}: the analysis gives {list(row.output_shape)} and "
                                f"{row.parameters:,} parameters, {source} {list(shape)} and {params:,}; "
                                f"not imported rather than approximated")
    merges = ("add", "mul")
    mine = [(row.name, tuple(sorted(row.inputs)) if row.type in merges else tuple(row.inputs))
            for row in report.rows]
    if wiring is not None and mine != wiring:
        raise ImportProblem("the folded spec does not read as the model does; not imported rather than "
                            "approximated")
    return mine


def load_model(reference: str, args: dict[str, Any] | None = None) -> Any:
    """The model ``reference`` names: ``path/to/file.py:Name`` or ``package.module:Name``, where
    Name is a module class or a factory, called with ``args`` as keyword arguments."""
    import importlib
    import importlib.util
    import sys
    from pathlib import Path

    torch = require_torch()
    where, sep, attr = reference.rpartition(":")
    if not sep or not where or not attr:
        raise ImportProblem(f"{reference}: name a model as FILE.py:NAME or package.module:NAME")
    if where.endswith(".py"):
        path = Path(where)
        if not path.is_file():
            raise ImportProblem(f"{where}: no such file")
        module_name = f"_cnncalc_import_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(module_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportProblem(f"{where}: cannot be loaded as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[module_name] = module
        sys.path.insert(0, str(path.resolve().parent))
        try:
            loader_spec.loader.exec_module(module)
        finally:
            sys.path.remove(str(path.resolve().parent))
    else:
        try:
            module = importlib.import_module(where)
        except ModuleNotFoundError as err:
            raise ImportProblem(f"{where}: no such module ({err.name})") from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise ImportProblem(f"{reference}: {where} has no {attr!r}")
    if isinstance(factory, torch.nn.Module):
        if args:
            raise ImportProblem(f"{reference} is a module instance; --args are for a class or factory")
        return factory
    if not callable(factory):
        raise ImportProblem(f"{reference} is neither a module class nor a factory")
    try:
        model = factory(**(args or {}))
    except TypeError as err:
        raise ImportProblem(f"{reference}: {err}") from None
    if not isinstance(model, torch.nn.Module):
        raise ImportProblem(f"{reference} returned {type(model).__name__}, not a torch.nn.Module")
    return model

