"""LeNet-5's own layers (LeCun et al. 1998, §II.B) as torch modules.

The torch bridge builds specs with them, and ``cnncalc export`` copies their
source into the code it writes (reading this file as text, so that exporting
needs no torch). Each class must therefore stand alone: it may use only
``math``, ``torch``, ``nn`` and ``F``, imported as below, and nothing else from
this module or from cnncalc. Each stores only the independent parameters, so
``sum(p.numel() for p in m.parameters())`` is the analysis's count.

This is the one cnncalc module that imports torch at module level; only the
bridge imports it, inside its functions, so ``analyze`` and ``check`` never
load it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RBF", "Subsampling", "TableConv2d"]


class TableConv2d(nn.Module):
    """A convolution under a connection table (LeCun et al. 1998, Table I).

    Output map j reads only the input maps listed in ``table[j]``, with its own
    filter (1 × len(table[j]) × kh × kw) and a bias. The weights the table leaves
    out do not exist (no dense weight with a mask). ``padding`` is an int or
    (left, right, top, bottom), as in ``F.pad``.
    """

    def __init__(self, table: list[tuple[int, ...]], kernel_size: int | tuple[int, int],
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int, int, int] = 0,
                 dilation: int | tuple[int, int] = 1, bias: bool = True,
                 padding_mode: str = "zeros") -> None:
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.stride, self.dilation = stride, dilation
        self.padding = (padding,) * 4 if isinstance(padding, int) else tuple(padding)
        self.padding_mode = "constant" if padding_mode == "zeros" else padding_mode
        self.weights = nn.ParameterList()
        for j, inputs in enumerate(table):
            bound = 1 / math.sqrt(len(inputs) * kh * kw)
            self.weights.append(nn.Parameter(torch.empty(1, len(inputs), kh, kw).uniform_(-bound, bound)))
            # A buffer follows .to(device); not persistent, since the table defines it.
            self.register_buffer(f"inputs_{j}", torch.tensor(inputs, dtype=torch.long), persistent=False)
        self.bias = nn.Parameter(torch.zeros(len(table))) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.padding):
            x = F.pad(x, self.padding, mode=self.padding_mode)
        maps = [F.conv2d(x.index_select(1, getattr(self, f"inputs_{j}")), weight,
                         stride=self.stride, dilation=self.dilation)
                for j, weight in enumerate(self.weights)]
        out = torch.cat(maps, dim=1)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class Subsampling(nn.Module):
    """Trainable subsampling (LeCun et al. 1998, S2 and S4): each window's sum × a
    trainable coefficient per map + a trainable bias per map (2·C parameters with
    the bias). Windows do not overlap unless ``stride`` says so."""

    def __init__(self, channels: int, kernel_size: int | tuple[int, int] = 2,
                 stride: int | tuple[int, int] | None = None, bias: bool = True) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # divisor_override=1: the window's sum, not its mean.
        total = F.avg_pool2d(x, self.kernel_size, self.stride, divisor_override=1)
        out = total * self.weight.view(1, -1, 1, 1)
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


class RBF(nn.Module):
    """Euclidean radial basis function units (LeCun et al. 1998, the output layer):
    y_i = Σ_j (x_j − w_ij)², one prototype row per output, no bias."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.unsqueeze(1) - self.weight.unsqueeze(0)) ** 2).sum(dim=2)
