"""The report as the library hands it out: the analysis, rendering itself.

:func:`cnncalc.analyze` returns a :class:`Report`: the analysis's data
(:class:`cnncalc.analysis.walk.Report`) with the ways to show it. Its printed form is the table
(as torchinfo's summary is); ``render(fmt)`` gives any of the formats; rich and Jupyter show it
by themselves. It sits above the renderers, so that the analysis never imports them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from cnncalc.analysis import walk
from cnncalc.render import report as render

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

__all__ = ["Report"]


@dataclass(frozen=True)
class Report(walk.Report):
    """The analysis of one spec. Its printed form is the table.

    ``render(fmt)`` gives the same report as ``table``, ``json``, ``csv``, ``markdown`` or
    ``html`` text; ``to_dict()`` gives the JSON document as Python data.
    """

    @classmethod
    def of(cls, analysis: walk.Report) -> Report:
        """The report of an analysis (the same data)."""
        if isinstance(analysis, cls):
            return analysis
        return cls(**{f.name: getattr(analysis, f.name) for f in fields(analysis)})

    def to_dict(self) -> dict[str, Any]:
        return render.report_dict(self)

    def render(self, fmt: str = "table", width: int | None = None) -> str:
        if fmt == "html":
            from cnncalc.render.html import report_html  # its drawing code, only when asked

            return report_html(self, self.depth)
        return render.render(self, fmt, width=width)

    def __str__(self) -> str:
        return self.render("table")

    def _repr_html_(self) -> str:
        """Jupyter shows a report as the HTML report (``analyze --format html``)."""
        return self.render("html")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield render.rich_group(self, options.max_width)
