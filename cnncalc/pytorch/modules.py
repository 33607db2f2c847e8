"""The merges of a network that branches as torch modules, and the module that runs the graph.

The torch bridge builds specs with them, and ``cnncalc export`` may copy the merges' source
into the code it writes (reading this file as text, so that exporting needs no torch). Each
merge therefore stands alone: it uses only ``torch`` and ``nn``, imported as below. None has
parameters (contract §2: merges add no units).

Like ``lenet.py``, this module imports torch at module level; only the bridge imports it,
inside its functions, so ``analyze`` and ``check`` never load it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["Add", "CenterCrop", "Concat", "GraphModule", "Mul", "ParameterRead"]


class Add(nn.Module):
    """The sum of two or more inputs, with torch broadcasting (a residual connection)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out


class Mul(nn.Module):
    """The product of two or more inputs, with torch broadcasting (squeeze-and-excitation's
    [C, 1, 1] gate times its [C, H, W] input)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """Two or more inputs joined along channels (dim 1: features for flat inputs)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=1)


class CenterCrop(nn.Module):
    """The original U-Net's crop: the first input cut to the height and width of the second,
    top = (H − h) // 2, left = (W − w) // 2."""

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        h, w = like.shape[-2:]
        top, left = (height - h) // 2, (width - w) // 2
        return x[..., top:top + h, left:left + w]


class ParameterRead:
    """A step of :class:`GraphModule` that reads a parameter registered at its path (``gamma``,
    ``layer1.0.gamma``): not a module, so that the ``state_dict`` key is the path itself."""

    def __init__(self, owner: nn.Module, name: str) -> None:
        self.owner, self.name = owner, name

    def __call__(self) -> torch.Tensor:
        value: torch.Tensor = getattr(self.owner, self.name)
        return value


class GraphModule(nn.Module):
    """A network that branches: each layer a submodule at its path (``layer2.0.conv1``), run in
    the order written, each reading the outputs it names.

    ``steps`` holds, per layer, its module, the indices of the values it reads (0 is the
    network's input, k the k-th layer's output), the values no later layer reads once it has
    run (freed then), and whether it must read a copy of its first input: an in-place layer
    whose input another layer still reads (or the caller's own input) would change it for them.
    The modules themselves are registered at their paths by the builder, not here, so that
    ``state_dict`` keys are the paths; ``steps`` only refers to them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._cnncalc_steps: list[tuple[Any, tuple[int, ...], tuple[int, ...], bool]] = []
        self._cnncalc_output = 0

    def forward(self, x: torch.Tensor) -> Any:
        values: list[Any] = [x] + [None] * len(self._cnncalc_steps)
        for index, (module, reads, done, copy) in enumerate(self._cnncalc_steps, 1):
            args = [values[i] for i in reads]
            if copy:
                args[0] = args[0].clone()
            values[index] = module(*args)
            for i in done:
                values[i] = None
        return values[self._cnncalc_output]
