"""Renderers for :mod:`cnncalc.lecture.solve`: a rich table and JSON, never printing.

rich is imported inside :func:`render_table`, so that ``--format json`` never loads it.
A table lists at most ``TABLE_ROWS`` solutions, whatever ``--limit`` asks (``--limit 0``
included): rich takes about half a millisecond a row, and the widest search allowed has
tens of thousands; JSON lists them all.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from cnncalc.lecture.solve import Answer
from cnncalc.lecture.solve_transposed import TransposedAnswer
from cnncalc.text import plural

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["TABLE_ROWS", "render_json", "render_table"]

#: a table shows at most this many rows (about a quarter of a second of rich)
TABLE_ROWS = 500

_HEADINGS = {
    "target": "Nearest outputs that can be had:",
    "kernel": "Exact with another kernel:",
    "stride": "Exact with another stride:",
    "padding": "Exact with another padding:",
    "dilation": "Exact with another dilation:",
    "output_padding": "Exact with another output_padding:",
    "size": "Exact for another input size:",
}


def _question(answer: Answer) -> str:
    p = answer.problem
    what = ("max pooling" + (" (ceil_mode)" if p.ceil_mode else "")) if p.pool else "convolution"
    goal = f"ceil({p.size}/s) ('same')" if p.same else str(p.target)
    n, exact = len(answer.solutions), len(answer.exact)
    found = f"{plural(n, 'solution')}, {exact or 'none'} exact" if n else "no solution"
    return f"{p.size} → {goal} by {what} ({p.bounds()}): {found}"


def _suggestion_lines(answer: Answer) -> list[str]:
    lines: list[str] = []
    kind = None
    for suggestion in answer.suggestions:
        if suggestion.kind != kind:
            kind = suggestion.kind
            lines.append(_HEADINGS[kind])
        lines.append(f"  {suggestion.text()}")
    return lines


def _footer(answer: Answer, limit: int, shown: int) -> list[str]:
    p = answer.problem
    lines = []
    hidden = len(answer.solutions) - shown
    if hidden > 0:
        how = ("--limit 0 shows all" if limit and limit < TABLE_ROWS
               else f"a table shows at most {TABLE_ROWS}; --format json lists all")
        lines.append(f"… and {hidden} more ({how})")
    if not answer.solutions:
        goal = "its 'same' size" if p.same else str(p.target)
        lines.append(f"No solution: no layer with {p.bounds()} turns {p.size} into {goal}.")
        nearest = [s.solution.out for s in answer.suggestions if s.kind == "target"]
        if nearest and p.target is not None and min(nearest) > p.target:
            lines.append(f"Every allowed layer gives more than {p.target}: a smaller output needs a larger "
                         "stride or kernel (--max-stride, --max-kernel).")
    elif not answer.exact:
        lines.append("No exact solution: (J + 2P − M)/s is never whole here, and PyTorch rounds it "
                     "down as shown.")
    return lines + _suggestion_lines(answer)


def render_table(answer: Answer | TransposedAnswer, limit: int = 20) -> Group:
    """The solutions as a rich table, with a heading, the rows left out, and the suggestions.

    ``limit`` rows at most (0: all), and never more than ``TABLE_ROWS``."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if isinstance(answer, TransposedAnswer):
        return _transposed_table(answer, limit)

    shown = answer.solutions[:min(limit, TABLE_ROWS) if limit else TABLE_ROWS]
    dilated = answer.problem.dilation not in (None, 1) or answer.problem.max_dilation > 1 \
        or any(s.dilation != 1 for s in shown)
    table = Table(header_style="bold")
    for heading in ("M", "P", "s", *(("d",) if dilated else ()), "exact"):
        table.add_column(heading, justify="right" if heading != "exact" else "left", no_wrap=True)
    table.add_column("1 + (J + 2P − M)/s", no_wrap=True)
    table.add_column("note")
    for s in shown:
        pad = str(s.pad_before) if s.symmetric else f"{s.pad_before}+{s.pad_after}"
        cells = [str(s.kernel), pad, str(s.stride), *((str(s.dilation),) if dilated else ()),
                 "yes" if s.exact else "no", s.formula(), s.note()]
        table.add_row(*cells)
    parts: list[Text | Table] = [Text(_question(answer))]
    if shown:
        parts.append(table)
    parts += [Text(line) for line in _footer(answer, limit, len(shown))]
    return Group(*parts)


def _transposed_table(answer: TransposedAnswer, limit: int) -> Group:
    """The transposed convolutions found: M, P, s, (d,) output_padding, PyTorch's formula, notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    p = answer.problem
    shown = answer.solutions[:min(limit, TABLE_ROWS) if limit else TABLE_ROWS]
    dilated = p.dilation not in (None, 1) or p.max_dilation > 1 or any(s.dilation != 1 for s in shown)
    n, exact = len(answer.solutions), len(answer.exact)
    found = f"{plural(n, 'solution')}, {exact or 'none'} exact" if n else "no solution"
    parts: list[Text | Table] = [
        Text(f"{p.size} → {p.target} by transposed convolution ({p.bounds()}): {found}")]
    if shown:
        table = Table(header_style="bold")
        for heading in ("M", "P", "s", *(("d",) if dilated else ()), "output_padding", "exact"):
            table.add_column(heading, justify="right" if heading != "exact" else "left", no_wrap=True)
        table.add_column("(J − 1)s − 2P + d(M − 1) + output_padding + 1", no_wrap=True)
        table.add_column("note")
        for s in shown:
            table.add_row(str(s.kernel), str(s.padding), str(s.stride),
                          *((str(s.dilation),) if dilated else ()),
                          str(s.output_padding), "yes" if s.exact else "no", s.formula(), s.note())
        parts.append(table)
    hidden = len(answer.solutions) - len(shown)
    if hidden > 0:
        how = ("--limit 0 shows all" if limit and limit < TABLE_ROWS
               else f"a table shows at most {TABLE_ROWS}; --format json lists all")
        parts.append(Text(f"… and {hidden} more ({how})"))
    if not answer.solutions:
        parts.append(Text(f"No solution: no transposed convolution with {p.bounds()} turns {p.size} "
                          f"into {p.target}."))
    elif not answer.exact:
        parts.append(Text("No exact solution: every one needs output_padding (rows/columns a conv2d "
                          "with the same M, s, P would round away)."))
    kind = None
    for suggestion in answer.suggestions:
        if suggestion.kind != kind:
            kind = suggestion.kind
            parts.append(Text(_HEADINGS[kind]))
        parts.append(Text(f"  {suggestion.text()}"))
    return Group(*parts)


def render_json(answer: Answer | TransposedAnswer, limit: int = 20) -> str:
    """The answer as indented JSON: the question, counts, the solutions shown, suggestions."""
    return json.dumps(answer.to_dict(limit), indent=2, ensure_ascii=False) + "\n"
