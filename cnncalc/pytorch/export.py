"""Export a spec as standalone source code: for now, a PyTorch ``nn.Module``.

Pure text generation from the spec and its analysis; torch is never imported. A chain of
layers is one flat class (:mod:`cnncalc.pytorch.export_chain`); a network that branches or
calls blocks is one class per block definition and one for the network, its module paths the
spec's names (:mod:`cnncalc.pytorch.export_graph`). Either way the ``state_dict()`` keys are
those of :func:`cnncalc.pytorch.bridge.build`.
"""

from __future__ import annotations

from cnncalc.analysis.walk import Report, analyze
from cnncalc.pytorch import export_chain, export_graph
from cnncalc.pytorch.bridge import NN_MODULE_ATTRIBUTES, buildable
from cnncalc.pytorch.export_chain import class_name_error, default_class_name
from cnncalc.spec.models import Spec

__all__ = ["NN_MODULE_ATTRIBUTES", "TARGETS", "class_name_error", "default_class_name", "export",
           "to_torch"]

TARGETS = ("torch",)


def export(spec: Spec, to: str = "torch", class_name: str | None = None,
           report: Report | None = None) -> str:
    """The spec as source code for target ``to`` (one of :data:`TARGETS`)."""
    if to != "torch":
        raise ValueError(f"unknown export target {to!r}; use one of: {', '.join(TARGETS)}")
    return to_torch(spec, class_name, report)


def to_torch(spec: Spec, class_name: str | None = None, report: Report | None = None) -> str:
    """Standalone PyTorch source for ``spec``.

    ``report`` is ``analyze(spec)``, computed when not given (which raises ``ShapeError`` on a
    spec that cannot be built). ``class_name`` defaults to :func:`default_class_name`.
    """
    report = report or analyze(spec)
    buildable(spec, report, "export")
    name = class_name or default_class_name(report.name)
    problem = class_name_error(name)
    if problem:
        raise ValueError(f"class name {name!r} {problem}")
    if export_graph.structured(report):
        return export_graph.write(spec, report, name)
    return export_chain.write(spec, report, name)
