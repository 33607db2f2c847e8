"""Renderers for a class's gradebook (``cnncalc check SPEC FOLDER``): table, CSV, JSON, Markdown.

A cell is ``✓`` for a right answer, the answer given for a wrong one (``✗ 4,705`` in the table),
empty for an unanswered one and ``?`` for a malformed one. In CSV a cell is 1 (right), 0
(wrong), empty (unanswered) or ``malformed``; JSON has every answer in full. After the rows:
the questions the class got wrong most, each with its right answer and worked formula.
"""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING, Any

from cnncalc.lecture.check import Mark, metric_label
from cnncalc.lecture.gradebook import Column, Gradebook
from cnncalc.render.worked import status
from cnncalc.text import markdown, printable

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["gradebook_csv", "gradebook_group", "gradebook_json", "gradebook_markdown"]

#: the table and Markdown list at most this many of the questions got wrong most; JSON lists all
SUMMARY = 10


def _value(value: Any) -> str:
    if isinstance(value, tuple):
        return "×".join(str(v) for v in value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cell(mark: Mark | None) -> str:
    if mark is None or mark.blank:
        return ""
    if mark.right:
        return "✓"
    if mark.malformed:
        return "?"
    return f"✗ {_value(mark.given)}"


def _score(book: Gradebook, position: int) -> str:
    score = book.score(position)
    if score is None:
        return "—"
    percent = round(100 * score / book.total) if book.total else 100
    return f"{score}/{book.total} ({percent}%)"


def _question(column: Column) -> str:
    return f"{column.layer}, {metric_label(column.metric)}"


def _working(column: Column) -> str:
    worked = column.worked
    if worked is None:
        return ""
    if column.metric == "output_shape" or not worked.formula or worked.formula in ("0", worked.worked):
        return worked.worked
    return f"{worked.formula} = {worked.worked}"


def _marked_of(book: Gradebook) -> str:
    text = f"{book.marked} of {len(book.submissions)} submissions marked"
    return text + (f", {book.unreadable} could not be read" if book.unreadable else "")


def gradebook_group(book: Gradebook) -> Group:
    """The gradebook as rich tables: the rows, then the questions got wrong most."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(header_style="bold", title=Text(f"{printable(book.spec.name or 'spec')}: "
                                                  f"{_marked_of(book)}", style="bold"), title_justify="left")
    table.add_column("student", overflow="fold")
    table.add_column("score", no_wrap=True)
    for column in book.columns:
        table.add_column(f"Q{column.number}", no_wrap=True)
    table.add_column("problem", overflow="fold")
    for position, submission in enumerate(book.submissions):
        cells = [Text(_cell(mark), style="green" if mark is not None and mark.right else "red")
                 for mark in book.cells(position)]
        problems = [f"Q{mark.number}: {mark.given.message}" for mark in book.cells(position)
                    if mark is not None and mark.malformed]
        problem = submission.problem or "; ".join(problems)
        table.add_row(Text(printable(submission.name)), _score(book, position), *cells,
                      Text(printable(problem), style="dim"))
    parts: list[Any] = [table]
    missed = book.wrong_most()[:SUMMARY]
    if missed:
        summary = Table(header_style="bold", title=Text("wrong most", style="bold"), title_justify="left")
        for heading in ("Q", "question", "wrong", "correct", "working"):
            summary.add_column(heading, overflow="fold", no_wrap=heading in ("Q", "wrong"))
        for column, wrong in missed:
            summary.add_row(f"Q{column.number}", Text(printable(_question(column))), f"{wrong}/{book.marked}",
                            _value(column.expected), _working(column))
        parts += [Text(""), summary]
    return Group(*parts)


def gradebook_csv(book: Gradebook) -> str:
    """One row per submission: student, file, right, total, then Q1… (1, 0, empty, malformed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", "file", "right", "total", *(f"Q{c.number}" for c in book.columns), "problem"])
    for position, submission in enumerate(book.submissions):
        score = book.score(position)
        cells = ["" if mark is None or mark.blank else "malformed" if mark.malformed else int(mark.right)
                 for mark in book.cells(position)]
        writer.writerow([submission.name, str(submission.path), "" if score is None else score, book.total,
                         *cells, submission.problem or ""])
    return out.getvalue()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value if value is None or isinstance(value, int) \
        else str(value)


def gradebook_json(book: Gradebook) -> str:
    doc = {
        "spec": book.spec.name,
        "questions": [{"number": c.number, "layer": c.layer, "metric": c.metric,
                       "question": metric_label(c.metric), "expected": _plain(c.expected),
                       "formula": c.worked.formula if c.worked else None,
                       "worked": c.worked.worked if c.worked else None} for c in book.columns],
        "submissions": [{
            "student": submission.name, "file": str(submission.path),
            "right": book.score(position), "total": book.total,
            "problem": submission.problem,
            "answers": None if submission.marking is None else {
                f"Q{column.number}": {"given": None if mark is None else _plain(mark.given),
                                      "status": "blank" if mark is None else status(mark),
                                      "problem": mark.given.message if mark is not None and mark.malformed
                                      else None}
                for column, mark in zip(book.columns, book.cells(position), strict=True)},
        } for position, submission in enumerate(book.submissions)],
        "wrong_most": [{"number": column.number, "wrong": wrong, "of": book.marked}
                       for column, wrong in book.wrong_most()],
        "all_right": book.all_right,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def gradebook_markdown(book: Gradebook) -> str:
    def cell(text: str) -> str:
        return markdown(text)  # escapes | too: a cell stays one cell

    heads = ["student", "score", *(f"Q{c.number}" for c in book.columns), "problem"]
    out = [f"## {cell(book.spec.name or 'spec')}: {_marked_of(book)}", "",
           "| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for position, submission in enumerate(book.submissions):
        problems = [f"Q{mark.number}: {mark.given.message}" for mark in book.cells(position)
                    if mark is not None and mark.malformed]
        row = [cell(submission.name), _score(book, position),
               *(cell(_cell(mark)) for mark in book.cells(position)),
               cell(submission.problem or "; ".join(problems))]
        out.append("| " + " | ".join(row) + " |")
    missed = book.wrong_most()[:SUMMARY]
    if missed:
        out += ["", "### Wrong most", ""]
        out += [f"- **Q{c.number}** ({cell(_question(c))}): wrong in {wrong} of {book.marked}; "
                f"{cell(_value(c.expected))}: {cell(_working(c))}" for c, wrong in missed]
    return "\n".join(out) + "\n"
