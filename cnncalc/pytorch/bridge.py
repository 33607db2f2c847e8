"""The torch bridge: a spec built as a real ``torch.nn.Module``.

It imports torch (and LeNet-5's own modules, ``cnncalc.pytorch.lenet``) only
inside its functions, so that ``analyze`` and ``check`` never load it. Each
spec layer becomes a child module named after the layer; a layer with
``activation:`` becomes a small ``Sequential`` of the layer and its g(), so a
forward hook on the child sees what the analysis reports for that row.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cnncalc.analysis.walk import Report, analyze, conv_padding, uneven_pad_module
from cnncalc.errors import Issue, SpecError, TorchMissingError
from cnncalc.graph import INPUT
from cnncalc.spec.models import Opaque, Spec, activation_of

if TYPE_CHECKING:
    from torch import nn

__all__ = ["GRAPH_ATTRIBUTES", "INPLACE", "NN_MODULE_ATTRIBUTES", "build", "buildable", "is_flat",
           "module_names", "module_paths", "require_torch", "softmax_dim", "unique_names"]

# Every attribute a child's name must not take: those of an ``nn.Sequential`` instance (build's
# container: its methods and the instance's own ``training``, ``_modules``, ``_parameters``,
# hooks, ...) and of ``nn.Module``, its class and its instances. ``add_module`` refuses a name
# the instance already has, and an attribute named like a method would hide it. This is torch
# 2.13's answer on Python 3.11 to 3.14, kept as text so that the exporter needs no torch;
# module_names adds what the installed torch answers, and tests/test_export.py checks that
# this list still covers it, so that export's names are build's.
_ATTRIBUTES = """
    T_destination __add__ __annotate__ __annotations__ __base__ __bases__ __basicsize__
    __call__ __class__ __delattr__ __delitem__ __dict__ __dictoffset__ __dir__ __doc__ __eq__
    __firstlineno__ __flags__ __format__ __ge__ __getattr__ __getattribute__ __getitem__
    __getstate__ __gt__ __hash__ __iadd__ __imul__ __init__ __init_subclass__ __instancecheck__
    __itemsize__ __iter__ __le__ __len__ __lt__ __module__ __mro__ __mul__ __name__ __ne__
    __new__ __or__ __prepare__ __qualname__ __reduce__ __reduce_ex__ __repr__ __rmul__ __ror__
    __setattr__ __setitem__ __setstate__ __sizeof__ __static_attributes__ __str__
    __subclasscheck__ __subclasses__ __subclasshook__ __text_signature__ __type_params__
    __weakref__ __weakrefoffset__ _apply _backward_hooks _backward_pre_hooks _buffers
    _call_impl _compiled_call_impl _forward_hooks _forward_hooks_always_called
    _forward_hooks_with_kwargs _forward_pre_hooks _forward_pre_hooks_with_kwargs
    _get_backward_hooks _get_backward_pre_hooks _get_item_by_idx _get_name
    _is_full_backward_hook _load_from_state_dict _load_state_dict_post_hooks
    _load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
    _non_persistent_buffers_set _parameters _register_load_state_dict_pre_hook
    _register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward
    _state_dict_hooks _state_dict_pre_hooks _version _wrapped_call_impl add_module append apply
    bfloat16 buffers call_super_init children compile cpu cuda double dump_patches eval extend
    extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half insert
    ipu load_state_dict modules mro mtia named_buffers named_children named_modules
    named_parameters parameters pop register_backward_hook register_buffer
    register_forward_hook register_forward_pre_hook register_full_backward_hook
    register_full_backward_pre_hook register_load_state_dict_post_hook
    register_load_state_dict_pre_hook register_module register_parameter
    register_state_dict_post_hook register_state_dict_pre_hook requires_grad_ set_extra_state
    set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
"""
NN_MODULE_ATTRIBUTES = frozenset(_ATTRIBUTES.split())


# The root module's own attributes (cnncalc.pytorch.modules.GraphModule), which no child may take.
GRAPH_ATTRIBUTES = frozenset({"_cnncalc_steps", "_cnncalc_output"})

# Layer types whose ``inplace: true`` writes into their input (build and export give such a
# layer a copy of a value that something else reads too).
INPLACE = ("relu", "elu", "leakyrelu", "dropout", "dropout2d", "relu6", "silu", "hardswish", "hardsigmoid")


def require_torch() -> Any:
    """torch, or :class:`TorchMissingError` (bad input: exit 2) where it is not installed."""
    try:
        import torch
    except ImportError:
        raise TorchMissingError() from None
    return torch


def is_flat(report: Report) -> bool:
    """Whether build gives a plain ``nn.Sequential`` of one child per layer (a chain written
    as in contract §1: every layer reads the one before, no block is called, and no name is a
    dotted path), rather than a module with a submodule at each layer's path. A name such as
    ``features.0`` is a module path (torchvision's, or an imported model's), so a chain that
    has one is built at its paths too: its ``state_dict`` keys are then the model's."""
    graph = report.graph
    return graph is None or (graph.is_chain and not any(node.calls or "." in node.path
                                                        for node in graph.nodes))


def module_names(spec: Spec | Report) -> list[str]:
    """The torch module path of each layer (each row of the report), in order: unique and legal.

    A chain (:func:`is_flat`) has one child per layer, named after it: torch forbids '.' and
    names that an ``nn.Sequential`` instance already has as an attribute (``forward``, ``train``,
    ``training``, ``_modules``, ``append``); such names get '_' in place of '.' or a trailing
    '_' (``training_``), and a number when that would collide with another layer's name.

    A network that branches has each layer at its path: ``layer2.0.downsample.0`` is the
    submodule ``0`` of ``downsample`` of ``0`` of ``layer2``, as torchvision names it. Each part
    of a path is changed only where torch forbids it, as above. The report and ``verify`` keep
    the spec's own names.
    """
    torch = require_torch()
    report = spec if isinstance(spec, Report) else analyze(spec)
    names = [row.name for row in report.rows]
    container = torch.nn.Sequential()
    if is_flat(report):
        return unique_names(names, lambda name: name in NN_MODULE_ATTRIBUTES or hasattr(container, name))
    from cnncalc.pytorch.modules import GraphModule

    root = GraphModule()
    return module_paths(names, lambda name: (name in NN_MODULE_ATTRIBUTES or name in GRAPH_ATTRIBUTES
                                             or hasattr(container, name) or hasattr(root, name)))


def unique_names(layer_names: Sequence[str], reserved: Callable[[str], bool]) -> list[str]:
    """:func:`module_names` of a chain without torch: ``reserved(name)`` says whether a child may
    not take that name (the exporter asks :data:`NN_MODULE_ATTRIBUTES`, so that it needs no torch)."""
    taken: set[str] = set()
    names = []
    for layer_name in layer_names:
        base = layer_name.replace(".", "_") or "_"
        names.append(_unique(base, taken, reserved))
    return names


def module_paths(layer_paths: Sequence[str], reserved: Callable[[str], bool]) -> list[str]:
    """:func:`module_names` of a network that branches, without torch: each layer's module path,
    its parts those of the layer's path, each unique among its siblings and not ``reserved``
    (the exporter asks :data:`NN_MODULE_ATTRIBUTES` and :data:`GRAPH_ATTRIBUTES`).

    A path that is also the start of another (layers named ``b`` and ``b.1``) would make one
    module both a layer and the container of another; the container keeps the name, and the
    layer's last part gets a number (``b_2``).
    """
    parts = [tuple(path.split(".")) for path in layer_paths]
    containers: dict[tuple[str, ...], str] = {}  # by the spec's parts: the torch path
    taken: dict[str, set[str]] = {}  # by a container's torch path ("" the root): its children

    def place(parent: tuple[str, ...], part: str) -> str:
        where = containers[parent] if parent else ""
        name = _unique(part, taken.setdefault(where, set()), reserved)
        return f"{where}.{name}" if where else name

    for path in parts:
        for k in range(1, len(path)):
            if path[:k] not in containers:
                containers[path[:k]] = place(path[:k - 1], path[k - 1])
    return [place(path[:-1], path[-1]) for path in parts]


def _unique(base: str, taken: set[str], reserved: Callable[[str], bool]) -> str:
    while reserved(base):
        base += "_"
    name, n = base, 1
    while name in taken or reserved(name):
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def buildable(spec: Spec, report: Report, doing: str) -> None:
    """Refuse, as bad input, a spec with a layer torch cannot be given: an ``opaque`` layer
    (``import --leaf``) stands for a module cnncalc has never seen the code of. ``doing`` is
    what was asked (``verify``, ``export``, ``build``)."""
    for node, row in zip(report.graph.nodes if report.graph else (), report.rows, strict=False):
        if isinstance(node.layer, Opaque):
            what = f" ({node.layer.module})" if node.layer.module else ""
            issue = Issue(f"opaque layer{what}: cnncalc knows its parameters and output shape but not what "
                          f"it computes, so it cannot {doing} it; {doing} takes specs whose layers all have "
                          f"cnncalc types (analyze, draw and explain take this one)", line=node.line,
                          layer=node.path, index=row.index)
            raise SpecError([issue], spec.source)


def build(spec: Spec) -> nn.Module:
    """Build the spec as a torch module whose output is the network's.

    A chain (:func:`is_flat`) is an ``nn.Sequential`` with one child per layer, in order. A
    network that branches is a :class:`~cnncalc.pytorch.modules.GraphModule`: each layer the
    submodule at its path (:func:`module_names`; plain ``nn.Module`` containers for the parts
    in between), run in the order written, each reading the outputs its ``from`` names. A
    layer with ``activation:`` is a ``Sequential`` of the layer and its g() either way, so that
    a forward hook on it sees what the analysis reports for that row.

    The input sizes torch asks for (``in_channels``, ``in_features``) come from
    the analysis, which also rejects a spec that cannot be built.
    """
    torch = require_torch()
    torch_nn = torch.nn
    report = analyze(spec)
    buildable(spec, report, "build")
    paths = module_names(report)
    modules = [_layer(torch_nn, layer, row) for layer, row in zip(report.layers, report.rows, strict=True)]
    if is_flat(report):
        model: nn.Module = torch_nn.Sequential(OrderedDict(zip(paths, modules, strict=True)))
        return model
    from cnncalc.pytorch.modules import GraphModule

    assert report.graph is not None  # is_flat says so otherwise
    root = GraphModule()
    from cnncalc.pytorch.modules import ParameterRead

    for k, (path, module) in enumerate(zip(paths, modules, strict=True)):
        parent: nn.Module = root
        *heads, leaf = path.split(".")
        for head in heads:
            child = parent._modules.get(head)
            if child is None:
                child = torch_nn.Module()
                parent.add_module(head, child)
            parent = child
        if isinstance(module, torch_nn.Parameter):  # at its path itself, as the model holds it
            parent.register_parameter(leaf, module)
            modules[k] = ParameterRead(parent, leaf)
        else:
            parent.add_module(leaf, module)
    nodes = report.graph.nodes
    index = {INPUT: 0, **{node.path: k for k, node in enumerate(nodes, 1)}}
    output = index[report.graph.output]
    reads = [tuple(index[name] for name in node.inputs) for node in nodes]
    last: dict[int, int] = {}  # each value's last reader
    readers: dict[int, int] = {}
    for k, inputs in enumerate(reads, 1):
        for i in inputs:
            last[i] = k
            readers[i] = readers.get(i, 0) + 1
    done: dict[int, list[int]] = {}
    for value, k in last.items():
        if value != output:
            done.setdefault(k, []).append(value)
    for k, (node, module, inputs) in enumerate(zip(nodes, modules, reads, strict=True), 1):
        first = inputs[0] if inputs else -1
        # in place on a value someone else still reads (or on a parameter itself): on a copy
        copy = (node.layer.type in INPLACE and bool(getattr(node.layer, "inplace", False))
                and (first == 0 or first == output or readers[first] > 1
                     or isinstance(modules[first - 1], ParameterRead)))
        root._cnncalc_steps.append((module, inputs, tuple(done.get(k, ())), copy))
    root._cnncalc_output = output
    return root


def _layer(nn: Any, layer: Any, row: Any) -> Any:
    """One layer's module, with its activation (if any) in a Sequential after it."""
    module = _module(nn, layer, row.input_shape)
    activation = activation_of(layer)
    if activation is not None:
        module = nn.Sequential(OrderedDict([
            (layer.type, module),
            ("activation", _activation(nn, activation, softmax_dim(layer.type, row.input_shape)))]))
    return module


def softmax_dim(kind: str, shape: Sequence[int]) -> int:
    """The dim of a softmax given as a layer's ``activation:``: the channels or classes (1), but
    a linear layer's own outputs (-1) when it acts on the last dimension of a non-flat input."""
    return -1 if kind == "linear" and len(shape) > 1 else 1


def _activation(nn: Any, name: str, dim: int) -> Any:
    return {
        "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU, "elu": nn.ELU, "relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish,
        "hardsigmoid": nn.Hardsigmoid,
        "softmax": lambda: nn.Softmax(dim=dim), "logsoftmax": lambda: nn.LogSoftmax(dim=dim),
    }[name]()


def _module(nn: Any, layer: Any, shape: tuple[int, ...]) -> Any:
    kind = layer.type
    if kind == "parameter":  # ones until a state_dict gives its learned values
        return nn.Parameter(require_torch().ones(tuple(layer.shape)))
    if kind in ("conv2d", "subsampling", "rbf"):
        from cnncalc.pytorch import lenet as lenet  # LeNet-5's own layers (LeCun et al. 1998

        if kind == "conv2d" and layer.connection_table is not None:
            (top, bottom), (left, right) = conv_padding(layer, shape[1:3])
            return lenet.TableConv2d(layer.connection_table, layer.kernel_size, layer.stride,
                                     (left, right, top, bottom), layer.dilation, layer.bias,
                                     layer.padding_mode)
        if kind == "subsampling":
            return lenet.Subsampling(shape[0], layer.kernel_size, layer.stride or layer.kernel_size,
                                     layer.bias)
        if kind == "rbf":
            return lenet.RBF(shape[0], layer.out_features)
    if kind == "conv2d":
        (top, bottom), (left, right) = conv_padding(layer, shape[1:3])
        conv = dict(in_channels=shape[0], out_channels=layer.out_channels,
                    kernel_size=layer.kernel_size, stride=layer.stride, dilation=layer.dilation,
                    groups=layer.groups, bias=layer.bias, padding_mode=layer.padding_mode)
        if top == bottom and left == right:
            return nn.Conv2d(padding=(top, left), **conv)
        # Uneven 'same' (an even kernel, or TensorFlow's rule at stride > 1): pad first.
        pad = getattr(nn, uneven_pad_module(layer.padding_mode))((left, right, top, bottom))
        return nn.Sequential(OrderedDict([("pad", pad), ("conv", nn.Conv2d(padding=0, **conv))]))
    if kind == "linear":
        return nn.Linear(shape[-1], layer.out_features, bias=layer.bias)  # on the last dim
    if kind == "maxpool2d":
        return nn.MaxPool2d(layer.kernel_size, stride=layer.stride or layer.kernel_size,
                            padding=layer.padding, dilation=layer.dilation, ceil_mode=layer.ceil_mode)
    if kind == "avgpool2d":
        return nn.AvgPool2d(layer.kernel_size, stride=layer.stride or layer.kernel_size,
                            padding=layer.padding, ceil_mode=layer.ceil_mode,
                            count_include_pad=layer.count_include_pad,
                            divisor_override=layer.divisor_override)
    if kind == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(layer.output_size)
    if kind == "adaptivemaxpool2d":
        return nn.AdaptiveMaxPool2d(layer.output_size)
    if kind == "flatten":
        return nn.Flatten(layer.start_dim, layer.end_dim)
    if kind in ("batchnorm2d", "batchnorm1d"):
        cls = nn.BatchNorm2d if kind == "batchnorm2d" else nn.BatchNorm1d
        return cls(shape[0], eps=layer.eps, momentum=layer.momentum, affine=layer.affine,
                   track_running_stats=layer.track_running_stats)
    if kind == "localresponsenorm":
        return nn.LocalResponseNorm(layer.size, alpha=layer.alpha, beta=layer.beta, k=layer.k)
    if kind in ("dropout", "dropout2d"):
        return (nn.Dropout if kind == "dropout" else nn.Dropout2d)(layer.p, inplace=layer.inplace)
    if kind == "zeropad2d":
        return nn.ZeroPad2d(layer.padding)
    if kind == "relu":
        return nn.ReLU(inplace=layer.inplace)
    if kind == "elu":
        return nn.ELU(alpha=layer.alpha, inplace=layer.inplace)
    if kind == "leakyrelu":
        return nn.LeakyReLU(negative_slope=layer.negative_slope, inplace=layer.inplace)
    if kind == "gelu":
        return nn.GELU(approximate=layer.approximate)
    if kind in ("relu6", "silu", "hardswish", "hardsigmoid"):
        cls = {"relu6": nn.ReLU6, "silu": nn.SiLU, "hardswish": nn.Hardswish,
               "hardsigmoid": nn.Hardsigmoid}[kind]
        return cls(inplace=layer.inplace)
    if kind == "identity":
        return nn.Identity()
    if kind == "globalavgpool":
        return nn.AdaptiveAvgPool2d(1)
    if kind == "convtranspose2d":
        return nn.ConvTranspose2d(shape[0], layer.out_channels, layer.kernel_size, stride=layer.stride,
                                  padding=layer.padding, output_padding=layer.output_padding,
                                  groups=layer.groups, bias=layer.bias, dilation=layer.dilation)
    if kind == "upsample":
        scale: Any = layer.scale_factor
        if scale is not None and scale[0] == scale[1]:
            scale = scale[0]
        return nn.Upsample(size=layer.size, scale_factor=scale, mode=layer.mode,
                           align_corners=layer.align_corners)
    if kind in ("add", "mul", "concat", "centercrop"):
        from cnncalc.pytorch import modules

        return {"add": modules.Add, "mul": modules.Mul, "concat": modules.Concat,
                "centercrop": modules.CenterCrop}[kind]()
    if kind in ("tanh", "sigmoid"):
        return nn.Tanh() if kind == "tanh" else nn.Sigmoid()
    if kind in ("softmax", "logsoftmax"):
        cls = nn.Softmax if kind == "softmax" else nn.LogSoftmax
        return cls(dim=1 if layer.dim is None else layer.dim)
    raise NotImplementedError(f"no torch module for layer type {kind!r}")
