"""cnncalc: every size and count of a CNN, layer by layer, from a short YAML spec.

>>> import cnncalc
>>> report = cnncalc.analyze(cnncalc.load_spec("lenet5"))
>>> report.totals.parameters
61706

The public names are loaded on first use, so ``import cnncalc`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cnncalc.analysis.walk import LayerRow, Report, analyze
    from cnncalc.errors import CnncalcError, Issue, ShapeError, SpecError, TorchMissingError
    from cnncalc.pytorch.bridge import build
    from cnncalc.pytorch.verification import Verification, verify
    from cnncalc.spec.loader import load_spec
    from cnncalc.spec.models import Spec

__version__ = "0.1.0"

_WHERE = {
    "analyze": "cnncalc.analysis.walk",
    "Report": "cnncalc.analysis.walk",
    "LayerRow": "cnncalc.analysis.walk",
    "load_spec": "cnncalc.spec.loader",
    "Spec": "cnncalc.spec.models",
    "CnncalcError": "cnncalc.errors",
    "Issue": "cnncalc.errors",
    "SpecError": "cnncalc.errors",
    "ShapeError": "cnncalc.errors",
    "TorchMissingError": "cnncalc.errors",
    # torch is imported when build() or verify() runs, not when they are looked up
    "build": "cnncalc.pytorch.bridge",
    "verify": "cnncalc.pytorch.verification",
    "Verification": "cnncalc.pytorch.verification",
}

__all__ = [  # provided lazily by __getattr__ below
    "CnncalcError", "Issue", "LayerRow", "Report", "ShapeError", "Spec", "SpecError",
    "TorchMissingError", "Verification", "analyze", "build", "load_spec", "verify",
]


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'cnncalc' has no attribute {name!r}")
