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
    from cnncalc.analysis import LayerRow, Report, analyze
    from cnncalc.errors import CnncalcError, Issue, ShapeError, SpecError, TorchMissingError
    from cnncalc.loader import load_spec
    from cnncalc.spec import Spec
    from cnncalc.torch_bridge import build
    from cnncalc.verification import Verification, verify

__version__ = "0.1.0"

_WHERE = {
    "analyze": "cnncalc.analysis",
    "Report": "cnncalc.analysis",
    "LayerRow": "cnncalc.analysis",
    "load_spec": "cnncalc.loader",
    "Spec": "cnncalc.spec",
    "CnncalcError": "cnncalc.errors",
    "Issue": "cnncalc.errors",
    "SpecError": "cnncalc.errors",
    "ShapeError": "cnncalc.errors",
    "TorchMissingError": "cnncalc.errors",
    # torch is imported when build() or verify() runs, not when they are looked up
    "build": "cnncalc.torch_bridge",
    "verify": "cnncalc.verification",
    "Verification": "cnncalc.verification",
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
