"""The torch bridge: a spec built as a real ``torch.nn.Module``.

The only module of cnncalc that imports torch, and only inside its functions,
so that ``analyze`` and ``check`` never load it. Each spec layer becomes a
child module named after the layer; a layer with ``activation:`` becomes a
small ``Sequential`` of the layer and its g(), so a forward hook on the child
sees what the analysis reports for that row.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from cnncalc.analysis import analyze, conv_padding
from cnncalc.errors import TorchMissingError
from cnncalc.spec import Spec

if TYPE_CHECKING:
    from torch import nn

__all__ = ["build", "module_names"]


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise TorchMissingError() from None
    return torch


def module_names(spec: Spec) -> list[str]:
    """The child-module name of each spec layer, in order: unique and legal in torch.

    torch forbids '.' and names that shadow ``nn.Module`` attributes (``forward``,
    ``train``); such names get '_' in place of '.' or a trailing '_', and a number when
    that would collide with another layer's name.
    """
    torch = _torch()
    taken: set[str] = set()
    names = []
    for layer in spec.layers:
        base = (layer.name or "").replace(".", "_") or "_"
        if hasattr(torch.nn.Module, base):
            base += "_"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        names.append(name)
    return names


def build(spec: Spec) -> nn.Sequential:
    """Build the spec as an ``nn.Sequential`` with one child per layer, in order.

    The input sizes torch asks for (``in_channels``, ``in_features``) come from
    the analysis, which also rejects a spec that cannot be built.
    """
    torch = _torch()
    torch_nn = torch.nn
    children: OrderedDict[str, Any] = OrderedDict()
    for layer, row, name in zip(spec.layers, analyze(spec).rows, module_names(spec), strict=True):
        module = _module(torch_nn, layer, row.input_shape)
        activation = getattr(layer, "activation", None)
        if activation is not None:
            module = torch_nn.Sequential(OrderedDict([(layer.type, module),
                                                ("activation", _activation(torch_nn, activation))]))
        children[name] = module
    model: nn.Sequential = torch_nn.Sequential(children)
    return model


def _activation(nn: Any, name: str) -> Any:
    return {
        "relu": nn.ReLU, "leakyrelu": nn.LeakyReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
        "gelu": nn.GELU, "elu": nn.ELU,
        "softmax": lambda: nn.Softmax(dim=1), "logsoftmax": lambda: nn.LogSoftmax(dim=1),
    }[name]()


_PADS = {"zeros": "ZeroPad2d", "reflect": "ReflectionPad2d", "replicate": "ReplicationPad2d",
         "circular": "CircularPad2d"}


@functools.cache
def _lenet_modules() -> SimpleNamespace:
    """torch modules for LeNet-5's own layers (LeCun et al. 1998, §II.B), defined on first use
    so that torch is imported only when a spec is built. Each stores only the independent
    parameters, so ``sum(p.numel() for p in m.parameters())`` is the analysis's count."""
    torch = _torch()
    F = torch.nn.functional
    Module: Any = torch.nn.Module
    Parameter: Any = torch.nn.Parameter

    class TableConv2d(Module):  # type: ignore[misc]
        """A convolution under a connection table: output map j has its own filter
        (1 × L_j × kh × kw) over just its listed input maps, and a bias. No dense weight
        with a mask: the weights a table leaves out do not exist."""

        def __init__(self, table: list[tuple[int, ...]], kernel_size: tuple[int, int],
                     stride: tuple[int, int], pads: tuple[int, int, int, int], dilation: tuple[int, int],
                     bias: bool, padding_mode: str) -> None:
            super().__init__()
            self.stride, self.dilation, self.pads = stride, dilation, pads
            self.pad_mode = "constant" if padding_mode == "zeros" else padding_mode
            self.weights = torch.nn.ParameterList()
            for j, inputs in enumerate(table):
                bound = 1 / math.sqrt(len(inputs) * kernel_size[0] * kernel_size[1])
                self.weights.append(Parameter(torch.empty(1, len(inputs), *kernel_size).uniform_(
                    -bound, bound)))
                # Buffers follow .to(device); not persistent, since the spec defines them.
                self.register_buffer(f"inputs_{j}", torch.tensor(inputs, dtype=torch.long),
                                     persistent=False)
            self.bias = Parameter(torch.zeros(len(table))) if bias else None

        def forward(self, x: Any) -> Any:
            if any(self.pads):
                x = F.pad(x, self.pads, mode=self.pad_mode)
            maps = [F.conv2d(x.index_select(1, getattr(self, f"inputs_{j}")), weight,
                             stride=self.stride, dilation=self.dilation)
                    for j, weight in enumerate(self.weights)]
            out = torch.cat(maps, dim=1)
            return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    class Subsampling(Module):  # type: ignore[misc]
        """S2/S4: the sum of each window × a trainable coefficient per map + a trainable
        bias per map (2·C parameters with the bias)."""

        def __init__(self, channels: int, kernel_size: tuple[int, int], stride: tuple[int, int],
                     bias: bool) -> None:
            super().__init__()
            self.kernel_size, self.stride = kernel_size, stride
            self.weight = Parameter(torch.ones(channels))
            self.bias = Parameter(torch.zeros(channels)) if bias else None

        def forward(self, x: Any) -> Any:
            # divisor_override=1: the window's sum, not its mean.
            total = F.avg_pool2d(x, self.kernel_size, self.stride, divisor_override=1)
            out = total * self.weight.view(1, -1, 1, 1)
            return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)

    class RBF(Module):  # type: ignore[misc]
        """The output layer: y_i = Σ_j (x_j − w_ij)², one prototype row per output, no bias."""

        def __init__(self, in_features: int, out_features: int) -> None:
            super().__init__()
            self.weight = Parameter(torch.randn(out_features, in_features))

        def forward(self, x: Any) -> Any:
            return ((x.unsqueeze(1) - self.weight.unsqueeze(0)) ** 2).sum(dim=2)

    return SimpleNamespace(TableConv2d=TableConv2d, Subsampling=Subsampling, RBF=RBF)


def _module(nn: Any, layer: Any, shape: tuple[int, ...]) -> Any:
    kind = layer.type
    if kind == "conv2d" and layer.connection_table is not None:
        (top, bottom), (left, right) = conv_padding(layer, shape[1:3])
        return _lenet_modules().TableConv2d(layer.connection_table, layer.kernel_size, layer.stride,
                                            (left, right, top, bottom), layer.dilation, layer.bias,
                                            layer.padding_mode)
    if kind == "subsampling":
        return _lenet_modules().Subsampling(shape[0], layer.kernel_size, layer.stride or layer.kernel_size,
                                            layer.bias)
    if kind == "rbf":
        return _lenet_modules().RBF(shape[0], layer.out_features)
    if kind == "conv2d":
        (top, bottom), (left, right) = conv_padding(layer, shape[1:3])
        conv = dict(in_channels=shape[0], out_channels=layer.out_channels,
                    kernel_size=layer.kernel_size, stride=layer.stride, dilation=layer.dilation,
                    groups=layer.groups, bias=layer.bias, padding_mode=layer.padding_mode)
        if top == bottom and left == right:
            return nn.Conv2d(padding=(top, left), **conv)
        # Uneven 'same' (an even kernel, or TensorFlow's rule at stride > 1): pad first.
        pad = getattr(nn, _PADS[layer.padding_mode])((left, right, top, bottom))
        return nn.Sequential(OrderedDict([("pad", pad), ("conv", nn.Conv2d(padding=0, **conv))]))
    if kind == "linear":
        return nn.Linear(shape[0], layer.out_features, bias=layer.bias)
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
    if kind in ("tanh", "sigmoid"):
        return nn.Tanh() if kind == "tanh" else nn.Sigmoid()
    if kind in ("softmax", "logsoftmax"):
        cls = nn.Softmax if kind == "softmax" else nn.LogSoftmax
        return cls(dim=1 if layer.dim is None else layer.dim)
    raise NotImplementedError(f"no torch module for layer type {kind!r}")
