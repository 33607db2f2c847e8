"""A chain written as one standalone PyTorch ``nn.Module``, and what every export shares.

Pure text generation from the spec and its analysis; torch is never imported.
The generated class has the structure :func:`cnncalc.pytorch.bridge.build` gives
(one attribute per layer, named as build names its children, an activation
fused into its layer's child), so its ``state_dict()`` keys are build's. The
custom modules of LeNet-5 (1998) are copied from ``cnncalc/pytorch/lenet.py``,
read as text, so the result needs torch alone, never cnncalc. The layer constructors and
the code-writing helpers here serve :mod:`cnncalc.pytorch.export_graph` too.
"""

from __future__ import annotations

import ast
import keyword
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cnncalc.analysis.walk import Report, conv_padding, uneven_pad_module
from cnncalc.pytorch.bridge import NN_MODULE_ATTRIBUTES, softmax_dim, unique_names
from cnncalc.spec.models import Spec, activation_of

__all__ = ["class_name_error", "default_class_name", "write"]

WIDTH = 99  # the code is meant to be pasted into other projects: short lines, as most keep

# LeNet-5's own modules, by the layer that needs each; their source is cnncalc/pytorch/lenet.py.
_CUSTOM = ("TableConv2d", "Subsampling", "RBF")
# Names the generated file defines or imports at module level, which the class must not take.
_TAKEN = frozenset({*_CUSTOM, "OrderedDict", "math", "torch", "nn", "F", "Fraction", "make_divisible",
                    "Add", "Mul", "Concat", "CenterCrop"})


def write(spec: Spec, report: Report, name: str) -> str:
    """Standalone PyTorch source for a chain: imports, any of LeNet-5's custom modules the spec
    uses, and one ``nn.Module`` class whose docstring lists every layer's output shape and
    parameters."""
    attributes = unique_names([row.name for row in report.rows], NN_MODULE_ATTRIBUTES.__contains__)
    constructors = [_constructor(layer, row.input_shape) for layer, row in
                    zip(report.layers, report.rows, strict=True)]
    flat = "\n".join(_flat(c) for c in constructors)
    custom = [cls for cls in _CUSTOM if re.search(rf"\b{cls}\(", flat)]
    classes = [_custom_source(cls) for cls in custom]
    imports = _imports(flat + "\n".join(classes))
    parts = [_module_docstring(report, name) + "\n\n" + imports, *classes,
             _model_class(name, spec, report, attributes, constructors)]
    return "\n\n\n".join(parts) + "\n"


def default_class_name(name: str) -> str:
    """A CamelCase class name for a network's name: ``LeNet-5`` → ``LeNet5``, ``VGG-16`` →
    ``Vgg16``, ``LeNet-5 (1998)`` → ``LeNet5_1998``; words written in capitals are capitalised."""
    words = re.findall(r"[A-Za-z0-9]+", name)
    text = ""
    for word in words:
        word = word.capitalize() if word.isupper() and len(word) > 1 else word[0].upper() + word[1:]
        if text and text[-1].isdigit() and word[0].isdigit():
            text += "_"  # LeNet5_1998, not LeNet51998
        text += word
    if not text or text[0].isdigit():
        text = "Net" + text
    if keyword.iskeyword(text) or text in _TAKEN:
        text += "Net"
    return text


def class_name_error(name: str) -> str | None:
    """Why ``name`` cannot name the generated class (``is a Python keyword``), or None."""
    if not name.isidentifier() or not name.isascii():
        return "is not a Python identifier: use ASCII letters, digits and _, not starting with a digit"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name in _TAKEN:
        return "is already used by the generated code; choose another"
    return None


# --- expressions, laid out as black would ---------------------------------------------------

@dataclass(frozen=True)
class _Call:
    func: str
    args: tuple[Expr, ...] = ()
    kwargs: tuple[tuple[str, Expr], ...] = ()

    def items(self) -> list[tuple[str, Expr]]:
        return [("", arg) for arg in self.args] + [(f"{key}=", value) for key, value in self.kwargs]


@dataclass(frozen=True)
class _List:
    items: tuple[str, ...]


Expr = str | _Call | _List


def _flat(expr: Expr) -> str:
    if isinstance(expr, str):
        return expr
    if isinstance(expr, _List):
        return "[" + ", ".join(expr.items) + "]"
    return expr.func + "(" + ", ".join(key + _flat(value) for key, value in expr.items()) + ")"


def _layout(expr: Expr, indent: int, prefix: str = "", suffix: str = "", hugged: bool = False) -> list[str]:
    """Lines of ``prefix + expr + suffix`` at ``indent``: one line when it fits in WIDTH, else
    the brackets opened over indented lines, the arguments on one line when they fit there, else
    one per line. A call whose one argument is a call hugs it (``nn.Sequential(OrderedDict(``),
    and the hugged call's arguments go one per line."""
    pad = " " * indent
    line = pad + prefix + _flat(expr) + suffix
    if len(line) <= WIDTH or isinstance(expr, str):
        return [line]
    if isinstance(expr, _List):
        rows, row = [], pad + "    "
        for item in expr.items:
            if len(row) + len(item) + 1 > WIDTH and row.strip():
                rows.append(row.rstrip())
                row = pad + "    "
            row += item + ", "
        return [pad + prefix + "[", *rows, row.rstrip(), pad + "]" + suffix]
    items = expr.items()
    if len(items) == 1 and not items[0][0] and isinstance(items[0][1], _Call):
        return _layout(items[0][1], indent, prefix + expr.func + "(", ")" + suffix, hugged=True)
    inner = pad + "    " + ", ".join(key + _flat(value) for key, value in items)
    if len(inner) <= WIDTH and not hugged:
        return [pad + prefix + expr.func + "(", inner, pad + ")" + suffix]
    lines = [pad + prefix + expr.func + "("]
    for key, value in items:
        lines += _layout(value, indent + 4, key, ",")
    return [*lines, pad + ")" + suffix]


def _literal(value: Any) -> str:
    """A Python literal for a spec value: double-quoted strings, tuples for pairs."""
    if isinstance(value, str):
        plain = value.isprintable() and '"' not in value and "\\" not in value
        return f'"{value}"' if plain else repr(value)
    if isinstance(value, (tuple, list)):
        text = ", ".join(_literal(v) for v in value)
        if isinstance(value, list):
            return f"[{text}]"
        return f"({text},)" if len(value) == 1 else f"({text})"
    return repr(value)  # int, float, bool, None


def _pair(value: tuple[int, int] | tuple[int | None, int | None]) -> str:
    """``5`` for (5, 5), ``(5, 3)`` otherwise, as torch accepts either (but not ``None`` for
    adaptive pooling's (None, None))."""
    return _literal(value[0]) if value[0] == value[1] and value[0] is not None else _literal(value)


# Fields whose keyword argument is written even at torch's default: in a class written for a
# block, those the spec gives as parameters or expressions, so that every call's constructor has
# the same arguments (stride=stride, whether stride is 1 or 2).
_KEEP: set[str] = set()


def _options(*pairs: tuple[str, Any, Any]) -> tuple[tuple[str, Expr], ...]:
    """Keyword arguments (name, value, torch's default), leaving out those at their default."""
    return tuple((key, _literal(value)) for key, value, default in pairs
                 if value != default or key in _KEEP)


# --- one constructor per layer type, as bridge.build builds it ------------------------------

def _conv2d(layer: Any, shape: Sequence[int]) -> Expr:
    (top, bottom), (left, right) = conv_padding(layer, tuple(shape[1:3]))
    common = (("stride", layer.stride, (1, 1)), ("dilation", layer.dilation, (1, 1)))
    if layer.connection_table is not None:
        pads = (left, right, top, bottom)
        table = _List(tuple(_literal(tuple(inputs)) for inputs in layer.connection_table))
        return _Call("TableConv2d", (table, _pair(layer.kernel_size)), _pairs(
            common[0], ("padding", pads[0] if len(set(pads)) == 1 else pads, 0), common[1])
            + _options(("bias", layer.bias, True),
                       ("padding_mode", layer.padding_mode if any(pads) else "zeros", "zeros")))
    even = top == bottom and left == right
    padding = (top, left) if even else (0, 0)
    conv = _Call("nn.Conv2d", (str(shape[0]), str(layer.out_channels), _pair(layer.kernel_size)),
                 _pairs(common[0], ("padding", padding, (0, 0)), common[1])
                 + _options(("groups", layer.groups, 1), ("bias", layer.bias, True),
                            ("padding_mode", layer.padding_mode if any(padding) else "zeros",
                             "zeros")))
    if even:
        return conv
    # Uneven 'same' (an even kernel, or TensorFlow's rule at stride > 1): pad first, as build does.
    pad = _Call(f"nn.{uneven_pad_module(layer.padding_mode)}", (_literal((left, right, top, bottom)),))
    return _sequential(("pad", pad), ("conv", conv))


def _pairs(*pairs: tuple[str, Any, Any]) -> tuple[tuple[str, Expr], ...]:
    """Like :func:`_options` for (h, w) pairs and ints: square pairs written as one int."""
    out: tuple[tuple[str, Expr], ...] = ()
    for key, value, default in pairs:
        if key not in _KEEP and (value == default or (isinstance(value, tuple) and isinstance(
                default, int) and set(value) == {default})):
            continue
        out += ((key, _pair(value) if isinstance(value, tuple) and len(value) == 2 else _literal(value)),)
    return out


def _subsampling(layer: Any, shape: Sequence[int]) -> Expr:
    stride = layer.stride or layer.kernel_size  # torch's default for pooling, and the paper's
    return _Call("Subsampling", (str(shape[0]), _pair(layer.kernel_size)),
                 _pairs(("stride", stride, layer.kernel_size)) + _options(("bias", layer.bias, True)))


def _rbf(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("RBF", (str(shape[0]), str(layer.out_features)))


def _linear(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.Linear", (str(shape[-1]), str(layer.out_features)), _options(("bias", layer.bias, True)))


def _pool2d(layer: Any, shape: Sequence[int]) -> Expr:
    stride = layer.stride or layer.kernel_size
    options = _pairs(("stride", stride, layer.kernel_size), ("padding", layer.padding, (0, 0)))
    if layer.type == "maxpool2d":
        options += _pairs(("dilation", layer.dilation, (1, 1)))
        options += _options(("ceil_mode", layer.ceil_mode, False))
        return _Call("nn.MaxPool2d", (_pair(layer.kernel_size),), options)
    options += _options(("ceil_mode", layer.ceil_mode, False),
                        ("count_include_pad", layer.count_include_pad, True),
                        ("divisor_override", layer.divisor_override, None))
    return _Call("nn.AvgPool2d", (_pair(layer.kernel_size),), options)


def _adaptive(layer: Any, shape: Sequence[int]) -> Expr:
    cls = "nn.AdaptiveAvgPool2d" if layer.type == "adaptiveavgpool2d" else "nn.AdaptiveMaxPool2d"
    return _Call(cls, (_pair(layer.output_size),))


def _flatten(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.Flatten", (), _options(("start_dim", layer.start_dim, 1),
                                            ("end_dim", layer.end_dim, -1)))


def _batchnorm(layer: Any, shape: Sequence[int]) -> Expr:
    cls = "nn.BatchNorm2d" if layer.type == "batchnorm2d" else "nn.BatchNorm1d"
    return _Call(cls, (str(shape[0]),), _options(
        ("eps", layer.eps, 1e-5), ("momentum", layer.momentum, 0.1), ("affine", layer.affine, True),
        ("track_running_stats", layer.track_running_stats, True)))


def _lrn(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.LocalResponseNorm", (str(layer.size),), _options(
        ("alpha", layer.alpha, 1e-4), ("beta", layer.beta, 0.75), ("k", layer.k, 1.0)))


def _dropout(layer: Any, shape: Sequence[int]) -> Expr:
    cls = "nn.Dropout" if layer.type == "dropout" else "nn.Dropout2d"
    return _Call(cls, (), _options(("p", layer.p, 0.5), ("inplace", layer.inplace, False)))


def _zeropad2d(layer: Any, shape: Sequence[int]) -> Expr:
    pads = layer.padding
    return _Call("nn.ZeroPad2d", (_literal(pads[0]) if len(set(pads)) == 1 else _literal(pads),))


def _elementwise(layer: Any, shape: Sequence[int]) -> Expr:
    kind = layer.type
    options: tuple[tuple[str, Expr], ...] = ()
    if kind == "elu":
        options = _options(("alpha", layer.alpha, 1.0))
    elif kind == "leakyrelu":
        options = _options(("negative_slope", layer.negative_slope, 0.01))
    elif kind == "gelu":
        options = _options(("approximate", layer.approximate, "none"))
    elif kind in ("softmax", "logsoftmax"):
        options = (("dim", _literal(1 if layer.dim is None else layer.dim)),)  # build's dim=1
    if kind in ("relu", "elu", "leakyrelu", "relu6", "silu", "hardswish", "hardsigmoid"):
        options += _options(("inplace", layer.inplace, False))
    return _Call(f"nn.{_ACTIVATIONS[kind]}", (), options)


def _conv_transpose2d(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.ConvTranspose2d", (str(shape[0]), str(layer.out_channels), _pair(layer.kernel_size)),
                 _pairs(("stride", layer.stride, (1, 1)), ("padding", layer.padding, (0, 0)),
                        ("output_padding", layer.output_padding, (0, 0)))
                 + _options(("groups", layer.groups, 1), ("bias", layer.bias, True))
                 + _pairs(("dilation", layer.dilation, (1, 1))))


def _upsample(layer: Any, shape: Sequence[int]) -> Expr:
    options: tuple[tuple[str, Expr], ...] = ()
    if layer.size is not None:
        options += (("size", _pair(layer.size)),)
    else:
        options += (("scale_factor", _pair(layer.scale_factor)),)
    return _Call("nn.Upsample", (), options + _options(("mode", layer.mode, "nearest"),
                                                       ("align_corners", layer.align_corners, None)))


def _global_avg_pool(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.AdaptiveAvgPool2d", ("1",))


def _identity(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call("nn.Identity")


def _parameter(layer: Any, shape: Sequence[int]) -> Expr:
    """Ones until a state_dict gives its learned values; the shape one tuple, as torch.ones takes
    it (a block's export marks the field as a whole: then it is one number here)."""
    sizes = layer.shape
    written = str(sizes) if isinstance(sizes, int) else "(" + ", ".join(map(str, sizes)) + (
        ",)" if len(sizes) == 1 else ")")
    return _Call("nn.Parameter", (_Call("torch.ones", (written,)),))


def _merge(layer: Any, shape: Sequence[int]) -> Expr:
    return _Call(MERGES[layer.type])


# cnncalc's layers that read several inputs, written into the file as small modules (MERGE_SOURCE).
MERGES = {"add": "Add", "mul": "Mul", "concat": "Concat", "centercrop": "CenterCrop"}

_ACTIVATIONS = {"relu": "ReLU", "leakyrelu": "LeakyReLU", "tanh": "Tanh", "sigmoid": "Sigmoid",
                "gelu": "GELU", "elu": "ELU", "softmax": "Softmax", "logsoftmax": "LogSoftmax",
                "relu6": "ReLU6", "silu": "SiLU", "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid"}

_CONSTRUCTORS: dict[str, Callable[[Any, Sequence[int]], Expr]] = {
    "conv2d": _conv2d, "linear": _linear, "subsampling": _subsampling, "rbf": _rbf,
    "maxpool2d": _pool2d, "avgpool2d": _pool2d, "adaptiveavgpool2d": _adaptive,
    "adaptivemaxpool2d": _adaptive, "flatten": _flatten, "batchnorm2d": _batchnorm,
    "batchnorm1d": _batchnorm, "localresponsenorm": _lrn, "dropout": _dropout, "dropout2d": _dropout,
    "zeropad2d": _zeropad2d, **dict.fromkeys(_ACTIVATIONS, _elementwise),
    "convtranspose2d": _conv_transpose2d, "upsample": _upsample, "globalavgpool": _global_avg_pool,
    "identity": _identity, **dict.fromkeys(MERGES, _merge), "parameter": _parameter,
}


def _constructor(layer: Any, shape: Sequence[int]) -> Expr:
    """The layer's module, with its activation fused in a Sequential as build does."""
    module = _CONSTRUCTORS[layer.type](layer, shape)
    activation = activation_of(layer)
    if activation is None:
        return module
    act = _Call(f"nn.{_ACTIVATIONS[activation]}", (),
                (("dim", str(softmax_dim(layer.type, shape))),)
                if activation in ("softmax", "logsoftmax") else ())
    return _sequential((layer.type, module), ("activation", act))


def _sequential(*children: tuple[str, Expr]) -> Expr:
    return _Call("nn.Sequential", (_Call("OrderedDict", (), children),))


# --- the file --------------------------------------------------------------------------------

def _custom_source(name: str) -> str:
    """The source of one of LeNet-5's modules, read from cnncalc/pytorch/lenet.py as text."""
    text = resources.files("cnncalc.pytorch").joinpath("lenet.py").read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            source = ast.get_source_segment(text, node)
            assert source is not None
            return source
    raise LookupError(f"cnncalc/pytorch/lenet.py defines no class {name}")


def _imports(code: str) -> str:
    """The imports ``code`` uses, grouped and sorted as isort does."""
    stdlib = [line for line, used in (("import math", r"\bmath\."),
                                      ("from collections import OrderedDict", r"\bOrderedDict\("))
              if re.search(used, code)]
    third = ["import torch"]
    if re.search(r"\bF\.", code):
        third.append("import torch.nn.functional as F")
    third.append("from torch import nn")
    return "\n".join(stdlib) + "\n\n" + "\n".join(third) if stdlib else "\n".join(third)


def _escape(text: str) -> str:
    """Text that can stand inside a triple-quoted docstring."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _shape(shape: Sequence[int]) -> str:
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def row_shape(row: Any, layer: Any) -> str:
    """A row's value as torch holds it: (N, ...) for what the network computes, a parameter's
    own shape (no batch) for a parameter."""
    if row.type == "parameter":
        return "(" + ", ".join(map(str, layer.shape)) + ("," if len(layer.shape) == 1 else "") + ")"
    return _shape(row.output_shape)


def _module_docstring(report: Report, class_name: str) -> str:
    x = ", ".join(["8", *map(str, report.input_shape)])
    y = ", ".join(["8", *map(str, report.output_shape)])
    return (f'"""{_escape(report.name)} in PyTorch, generated by cnncalc.\n\n'
            f"    model = {class_name}()\n"
            f"    y = model(torch.randn({x}))  # y.shape == ({y})\n"
            '"""')


def _class_docstring(spec: Spec, report: Report, attributes: list[str]) -> list[str]:
    title = report.name + (f": {report.description}" if report.description else "")
    title += "" if title.endswith((".", "!", "?")) else "."
    source = f" from {spec.source}" if spec.source else ""
    table = [("layer", "type", "output shape", "parameters")]
    for row, layer, attribute in zip(report.rows, report.layers, attributes, strict=True):
        table.append((attribute, row.kind, row_shape(row, layer), f"{row.parameters:,}"))
    table.append(("total", "", _shape(report.output_shape), f"{report.totals.parameters:,}"))
    widths = [max(len(cells[i]) for cells in table) for i in range(4)]
    rule = ("-" * w for w in widths)
    lines = [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d:>{widths[3]}}".rstrip()
             for a, b, c, d in (table[0], tuple(rule), *table[1:])]
    text = [f'"""{_escape(title)}', "",
            f"Generated by cnncalc{_escape(source)}. Input: {_shape(report.input_shape)}.", "",
            *(_escape(line) for line in lines), '"""']
    return ["    " + line if line else "" for line in text]


def _plain(attribute: str) -> bool:
    """Whether ``self.<attribute>`` names the child: an ASCII identifier (Python would
    NFKC-normalise others), not a keyword, and not private (Python would mangle it)."""
    return (attribute.isidentifier() and attribute.isascii() and not keyword.iskeyword(attribute)
            and not (attribute.startswith("__") and not attribute.endswith("__")))


def _model_class(name: str, spec: Spec, report: Report, attributes: list[str],
                 constructors: list[Expr]) -> str:
    lines = [f"class {name}(nn.Module):", *_class_docstring(spec, report, attributes), "",
             "    def __init__(self) -> None:", "        super().__init__()"]
    for attribute, constructor in zip(attributes, constructors, strict=True):
        if _plain(attribute):
            lines += _layout(constructor, 8, f"self.{attribute} = ")
        else:
            lines += _layout(constructor, 8, f"self.add_module({_literal(attribute)}, ", ")")
    calls = [f"x = self.{a}(x)" if _plain(a) else f"x = getattr(self, {_literal(a)})(x)"
             for a in attributes]
    column = min(max(len(call) for call in calls), WIDTH - 40) + 2  # the shape comments line up
    lines += ["", "    def forward(self, x: torch.Tensor) -> torch.Tensor:"]
    lines += [f"        {call.ljust(max(column, len(call) + 2))}# {_shape(row.output_shape)}"
              for call, row in zip(calls, report.rows, strict=True)]
    lines.append("        return x")
    return "\n".join(lines)
