"""cnncalc: every size and count of a CNN, layer by layer, from a short YAML spec.

>>> import cnncalc
>>> report = cnncalc.analyze("lenet5")
>>> report.totals.parameters
61706

``analyze``, ``build`` and ``verify`` take a spec as :func:`load_spec` returns it, or anything
:func:`load_spec` takes: a path, a bundled name or a mapping. The public names are loaded on
first use, so ``import cnncalc`` stays cheap (and never imports torch).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from torch import nn

    from cnncalc.analysis.walk import LayerRow
    from cnncalc.errors import CnncalcError, Issue, ShapeError, SpecError, TorchMissingError
    from cnncalc.pytorch.importer import ImportProblem
    from cnncalc.pytorch.verification import Verification
    from cnncalc.render.draw import Drawing
    from cnncalc.report import Report
    from cnncalc.spec.loader import load_spec
    from cnncalc.spec.models import Spec

from cnncalc.version import __version__ as __version__  # re-exported

_WHERE = {
    "Report": "cnncalc.report",
    "LayerRow": "cnncalc.analysis.walk",
    "load_spec": "cnncalc.spec.loader",
    "Spec": "cnncalc.spec.models",
    "CnncalcError": "cnncalc.errors",
    "Issue": "cnncalc.errors",
    "SpecError": "cnncalc.errors",
    "ShapeError": "cnncalc.errors",
    "TorchMissingError": "cnncalc.errors",
    "Verification": "cnncalc.pytorch.verification",
    "Drawing": "cnncalc.render.draw",
    "ImportProblem": "cnncalc.pytorch.importer",
}

__all__ = [  # the classes and load_spec are provided lazily by __getattr__ below
    "CnncalcError", "Drawing", "ImportProblem", "Issue", "LayerRow", "Report", "ShapeError", "Spec",
    "SpecError", "TorchMissingError", "Verification", "analyze", "build", "draw", "from_module",
    "load_spec", "verify",
]

#: What ``analyze``, ``build`` and ``verify`` take: a loaded spec, a path, a bundled name, a mapping.
SpecSource: TypeAlias = "Spec | str | os.PathLike[str] | Mapping[str, Any]"


def _spec(source: SpecSource, caller: str) -> Spec:
    """The spec ``source`` names, loaded when it is not one already."""
    from cnncalc.spec.models import Spec

    if isinstance(source, Spec):
        return source
    if isinstance(source, (str, os.PathLike, Mapping)):
        from cnncalc.spec.loader import load_spec

        return load_spec(source if isinstance(source, (str, Mapping)) else os.fspath(source))
    raise TypeError(f"cnncalc.{caller}() takes a spec: a path to a YAML file, a bundled name such "
                    f"as 'lenet5', a mapping, or what cnncalc.load_spec() returns; got "
                    f"{type(source).__name__}")


def analyze(spec: SpecSource | nn.Module, input_shape: Sequence[int] | None = None,
            leaves: Sequence[str] = ()) -> Report:
    """The per-layer report of ``spec`` (see :func:`cnncalc.analysis.walk.analyze`), or of a torch
    module for an input of ``input_shape`` ([C, H, W]), as ``torchinfo.summary`` takes them: the
    module is imported first (:func:`from_module`, ``leaves`` naming module types to keep whole).

    Raises :class:`SpecError` for a spec that cannot be loaded, :class:`ShapeError` at the first
    layer that cannot apply to its input, :class:`ImportProblem` for a module that cannot be
    written as a spec, and :class:`TypeError` for something that is no spec.
    """
    from cnncalc.analysis.walk import analyze as walk
    from cnncalc.report import Report

    torch = sys.modules.get("torch")  # a module can only exist where torch is already imported
    if torch is not None and isinstance(spec, torch.nn.Module):
        if input_shape is None:
            raise TypeError("cnncalc.analyze(module, input_shape) needs the input's [C, H, W]")
        return Report.of(walk(_spec(from_module(spec, input_shape, leaves=leaves), "analyze")))
    if input_shape is not None or leaves:
        raise TypeError("cnncalc.analyze() takes input_shape and leaves only with a torch module")
    return Report.of(walk(_spec(spec, "analyze")))  # type: ignore[arg-type]


def from_module(model: nn.Module, input_shape: Sequence[int], name: str | None = None,
                leaves: Sequence[str] = ()) -> dict[str, Any]:
    """The spec of a torch module for an input of ``input_shape`` ([C, H, W]): a mapping ready
    for YAML or :func:`load_spec` (see :func:`cnncalc.pytorch.importer.from_module`). ``leaves``
    names module types to keep whole, one ``opaque`` layer each."""
    from cnncalc.pytorch.importer import from_module as trace

    return trace(model, input_shape, name, leaves=leaves)


def draw(spec: SpecSource, depth: int | None = None) -> Drawing:
    """The picture of ``spec`` (see :func:`cnncalc.render.draw.draw`): its ``svg`` and ``dot``
    text; Jupyter shows it as its SVG. ``depth`` folds block calls nested deeper, as ``--depth``."""
    from cnncalc.render.draw import draw as make

    return make(analyze(spec), depth)


def build(spec: SpecSource) -> nn.Module:
    """``spec`` as a torch module: an ``nn.Sequential`` for a chain, each layer at its path for
    a network that branches (see :func:`cnncalc.pytorch.bridge.build`)."""
    from cnncalc.pytorch.bridge import build as make

    return make(_spec(spec, "build"))


def verify(spec: SpecSource, **options: Any) -> Verification:
    """Build ``spec`` in torch, run it and compare it with the analysis (see
    :func:`cnncalc.pytorch.verification.verify` for ``options``)."""
    from cnncalc.pytorch.verification import verify as run

    return run(_spec(spec, "verify"), **options)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
