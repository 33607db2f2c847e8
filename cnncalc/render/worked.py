"""Renderers for worked formulas (``explain``, ``conv``, ``pool``) and marked answers (``check``).

Like :mod:`cnncalc.render.report`, these return rich renderables or text and never print;
rich is imported inside the functions that need it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from cnncalc.analysis.walk import LayerRow, LayerWarning
from cnncalc.lecture.check import Malformed, Mark, Marking, metric_label
from cnncalc.lecture.worked import Worked
from cnncalc.text import markdown, printable

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["given_text", "layer_heading", "marking_group", "marking_json", "status", "worked_group",
           "worked_json", "worked_markdown", "working_text"]

Explained = list[tuple[LayerRow, list[Worked], list[LayerWarning]]]


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def layer_heading(row: LayerRow, details: str = "", name: str | None = None) -> str:
    """``C1 (#1): conv2d+tanh on 1×32×32``; ``name`` is the name as the format writes it
    (:func:`~cnncalc.text.printable` by default)."""
    shapes = row.input_shapes or (row.input_shape,)
    shape = " and ".join("×".join(str(s) for s in one) for one in shapes)
    kind = row.kind
    shown = printable(row.name) if name is None else name
    reads = f" on {shape}" if row.inputs else ", reading nothing"  # a parameter
    return f"{shown} (#{row.index}): {kind}{' ' + details if details else ''}{reads}"


def worked_group(explained: Explained, headings: list[str] | None = None) -> Group:
    """Per layer: each quantity with its formula, the formula worked with numbers, and why."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    for position, (row, worked, warnings) in enumerate(explained):
        title = headings[position] if headings else layer_heading(row)
        parts.append(Text(title, style="bold"))
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column()
        for item in worked:
            if item.metric == "output_shape" and not item.formula:
                continue
            text = Text()
            if item.formula and item.formula not in ("0", item.worked):
                text.append(f"{item.formula} = ", style="cyan")
            text.append(item.worked, style="bold")
            if item.note:
                text.append(f"\n{item.note}", style="dim")
            grid.add_row(f"  {item.label}", text)
        parts.append(grid)
        for w in warnings:
            parts.append(Text.assemble(("  warning: ", "bold yellow"), printable(w.message)))
        if position < len(explained) - 1:
            parts.append(Text(""))
    return Group(*parts)


def worked_json(explained: Explained) -> str:
    doc = [{
        "name": row.name, "index": row.index, "type": row.type,
        "input_shape": list(row.input_shape), "output_shape": list(row.output_shape),
        "worked": [{"metric": w.metric, "question": w.label, "formula": w.formula, "worked": w.worked,
                    "value": list(w.value) if isinstance(w.value, tuple) else w.value, "note": w.note}
                   for w in worked],
        "warnings": [w.message for w in warnings],
    } for row, worked, warnings in explained]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def worked_markdown(explained: Explained) -> str:
    out: list[str] = []
    for row, worked, warnings in explained:
        out += [f"### {layer_heading(row, name=markdown(row.name))}", ""]
        for w in worked:
            if w.metric == "output_shape" and not w.formula:
                continue
            formula = f"{w.formula} = " if w.formula and w.formula not in ("0", w.worked) else ""
            note = f" ({w.note})" if w.note else ""
            out.append(f"- **{w.label}**: {formula}{w.worked}{note}")
        out += [f"- *warning*: {markdown(w.message)}" for w in warnings]
        out.append("")
    return "\n".join(out)


# --- check -----------------------------------------------------------------------------

def _where(mark: Mark) -> str:
    return printable(mark.layer if mark.index is None else f"{mark.layer} (#{mark.index})")


def given_text(mark: Mark) -> str:
    """The answer as the student wrote it: blank when unanswered, flagged when malformed."""
    if mark.blank:
        return ""
    if isinstance(mark.given, Malformed):
        return f"{printable(mark.given.text)} (malformed)"
    return _value(mark.given)


def working_text(mark: Mark) -> str:
    """The worked formula for the right answer (with the formula where it says more)."""
    if mark.worked is None:
        return ""
    if mark.metric == "output_shape" or not mark.worked.formula or mark.worked.formula in (
            "0", mark.worked.worked):
        return mark.worked.worked
    return f"{mark.worked.formula} = {mark.worked.worked}"


def status(mark: Mark) -> str:
    return "right" if mark.right else "blank" if mark.blank else "malformed" if mark.malformed else "wrong"


def marking_group(marking: Marking) -> Group:
    """Each answer with ✓ or ✗; for a wrong one the right value and the worked formula; the score."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold")
    for heading in ("Q", "layer", "question", "your answer", "", "correct", "working"):
        table.add_column(heading, overflow="fold", justify="right" if heading == "Q" else "left")
    for mark in marking.marks:
        sign = Text("✓", style="bold green") if mark.right else Text("✗", style="bold red")
        working = "" if mark.right else working_text(mark)
        # The layer is Text: rich would read a str as markup ("[/]") and emoji codes.
        table.add_row(f"Q{mark.number}", Text(_where(mark)), metric_label(mark.metric),
                      Text(given_text(mark)), sign, "" if mark.right else _value(mark.expected), working)
    problems = [Text(f"Q{m.number}: {printable(m.given.message)}", style="dim")
                for m in marking.marks if isinstance(m.given, Malformed)]
    percent = round(100 * marking.right / marking.total) if marking.total else 100
    blank = sum(m.blank for m in marking.marks)
    score = Text.assemble(("score: ", "bold"), f"{marking.right}/{marking.total} ({percent}%)"
                          + (f", {blank} unanswered" if blank else ""))
    return Group(table, *problems, score)


def marking_json(marking: Marking) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, Malformed):
            return str(value)
        return list(value) if isinstance(value, tuple) else value

    doc = {
        "score": {"right": marking.right, "total": marking.total},
        "all_right": marking.all_right,
        "marks": [{
            "number": m.number, "layer": m.layer, "index": m.index, "metric": m.metric,
            "question": metric_label(m.metric), "given": plain(m.given), "expected": plain(m.expected),
            "right": m.right, "status": status(m),
            "problem": m.given.message if isinstance(m.given, Malformed) else None,
            "formula": m.worked.formula if m.worked else None,
            "worked": m.worked.worked if m.worked else None,
        } for m in marking.marks],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
