"""Renderers: a :class:`~cnncalc.analysis.walk.Report` as a table, JSON, CSV or Markdown.

Each returns text and prints nothing; the CLI decides where it goes. rich is
imported only by the table renderer, so ``--format json`` never pays for it.

The report renders itself through these functions (``Report.render``, its printed form), so
the dependency runs from the analysis to its renderers, as torchinfo's summary does to its
formatting: this module reads a report's attributes and imports its types for annotations
only, never at run time.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cnncalc.analysis.core import ReceptiveField
from cnncalc.text import markdown, markdown_code, plural, printable

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from cnncalc.analysis.walk import LayerRow, LayerWarning, Report

__all__ = ["FORMATS", "render", "report_dict", "rich_group", "warning_line"]

FORMATS = ("table", "json", "csv", "markdown")  # and html: cnncalc.render.html, which builds on these

# (key, heading) of the per-layer columns of the table and Markdown. "reads" is shown only for a
# network that branches: what a row reads where that is not simply the row above.
_ALL_COLUMNS = (
    ("index", "#"), ("name", "layer"), ("reads", "reads"), ("type", "type"), ("input_shape", "input"),
    ("output_shape", "output"), ("weights_per_neuron", "w/neuron"), ("neurons", "neurons"),
    ("connections", "connections"), ("parameters", "params"), ("macs", "MACs"),
    ("output_bytes", "memory"), ("receptive_field", "RF"),
)
_COLUMNS = tuple(column for column in _ALL_COLUMNS if column[0] != "reads")


def _columns(report: Report) -> tuple[tuple[str, str], ...]:
    return _ALL_COLUMNS if report.branches else _COLUMNS
_LEGEND = ("w/neuron: weights per neuron, bias included; memory: the layer's output per image "
           "(float32); RF: receptive field size /jump, in input pixels")


def _legend(report: Report) -> str:
    extra = ""
    if report.branches:
        extra += "; reads: the rows a layer reads, where not the one above"
    if report.depth is not None:
        extra += (f"; blocks deeper than {report.depth} are folded into one row each (their sums; "
                  "no w/neuron)")
    return _LEGEND + extra


def render(report: Report, fmt: str = "table", width: int | None = None) -> str:
    """The report as text in one of :data:`FORMATS` (HTML: :func:`cnncalc.render.html.report_html`)."""
    if fmt == "json":
        return json.dumps(report_dict(report), indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "markdown":
        return _markdown(report)
    if fmt == "table":
        return _plain_text(report, width or 160)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


# --- JSON ------------------------------------------------------------------------------

def report_dict(report: Report) -> dict[str, Any]:
    """The contract's JSON document as Python data (keys in the contract's order first).

    For a network that branches (or one folded by ``--depth``), each layer also has ``inputs``,
    the names of the rows it reads (``["input"]`` for the network's input).
    """
    wiring = report.branches or report.depth is not None
    depth = {"depth": report.depth} if report.depth is not None else {}
    return {
        "name": report.name,
        "description": report.description,
        "input_shape": list(report.input_shape),
        "output_shape": list(report.output_shape),
        **depth,
        "layers": [_row_dict(row, wiring) for row in report.rows],
        "totals": {
            "parameters": report.totals.parameters,
            "neurons": report.totals.neurons,
            "connections": report.totals.connections,
            "macs": report.totals.macs,
            "output_bytes": report.totals.output_bytes,
            "parameter_bytes": report.totals.parameter_bytes,
        },
        "warnings": [{"layer": w.layer, "index": w.index, "kind": w.kind, "message": w.message}
                     for w in report.warnings],
    }


def _row_dict(row: LayerRow, wiring: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {}  # only where a row has them
    if row.input_shapes:
        extra["input_shapes"] = [list(shape) for shape in row.input_shapes]
    if row.global_context:
        extra["global_context"] = True
    if row.layers > 1:
        extra["layers"] = row.layers
    if row.notes:
        extra["notes"] = list(row.notes)
    return {
        "name": row.name,
        "type": row.type,
        "activation": row.activation,
        **({"inputs": list(row.inputs)} if wiring else {}),
        "input_shape": list(row.input_shape),
        "output_shape": list(row.output_shape),
        "weights_per_neuron": row.weights_per_neuron if row.layers == 1 else None,
        "neurons": row.neurons,
        "connections": row.connections,
        "parameters": row.parameters,
        "macs": row.macs,
        "output_bytes": row.output_bytes,
        "parameter_bytes": row.parameter_bytes,
        "receptive_field": _rf_dict(row.receptive_field),
        **extra,
    }


def _rf_dict(rf: tuple[ReceptiveField, ReceptiveField] | None) -> dict[str, list[Any]] | None:
    if rf is None:
        return None
    return {"size": [rf[0].size, rf[1].size], "jump": [_number(rf[0].jump), _number(rf[1].jump)],
            "start": [_number(rf[0].start), _number(rf[1].start)]}


def _number(value: Any) -> int | float:
    if type(value) is int:
        return value
    return int(value) if value == int(value) else float(value)


# --- cells shared by the text formats ----------------------------------------------------

def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(s) for s in shape)


def _bytes(n: int) -> str:
    """480 B, 18.4 KiB, 232.6 MiB: binary units, one decimal."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    power = 0
    while power < len(units) - 1 and n >= 1024 ** (power + 1):
        power += 1
    return f"{n} B" if power == 0 else f"{n / 1024 ** power:,.1f} {units[power]}"


def _rf(rf: tuple[ReceptiveField, ReceptiveField] | None) -> str:
    """Size and jump, ``11×11 /4``; ``—`` once the map is flattened (or globally pooled)."""
    if rf is None:
        return "—"
    size = f"{rf[0].size}" if rf[0].size == rf[1].size else f"{rf[0].size}×{rf[1].size}"
    jump = _jump(rf[0].jump) if rf[0].jump == rf[1].jump else f"{_jump(rf[0].jump)}×{_jump(rf[1].jump)}"
    return f"{size} /{jump}"


def _jump(jump: Any) -> str:
    """A jump as a number: 4, or 0.5 after upsampling (1/3 where no decimal is exact)."""
    value = Fraction(jump)
    if value.denominator == 1:
        return str(value.numerator)
    decimal = float(value)
    return f"{decimal:g}" if Fraction(f"{decimal:g}") == value else f"{value.numerator}/{value.denominator}"


def _reads(row: LayerRow, before: str | None) -> str:
    """What a row reads, where it is not the row above (the network's input for the first);
    "—" for a parameter, which reads nothing."""
    if row.inputs == ((before,) if before is not None else ("input",)):
        return ""
    if not row.inputs:
        return "—"
    return ", ".join(printable(name) for name in row.inputs)


def _cells(row: LayerRow, before: str | None = None, branches: bool = False) -> list[str]:
    cells = [str(row.index), printable(row.name), row.kind, _shape(row.input_shape),
             _shape(row.output_shape), f"{row.weights_per_neuron:,}" if row.layers == 1 else "",
             f"{row.neurons:,}", f"{row.connections:,}", f"{row.parameters:,}", f"{row.macs:,}",
             _bytes(row.output_bytes), _rf(row.receptive_field)]
    if branches:
        cells.insert(2, _reads(row, before))
    return cells


def _all_cells(report: Report) -> list[list[str]]:
    names = [None, *(row.name for row in report.rows)]
    return [_cells(row, before, report.branches) for row, before in zip(report.rows, names, strict=False)]


def _total_cells(report: Report) -> list[str]:
    t = report.totals
    cells = ["", "total", "", "", _shape(report.output_shape), "", f"{t.neurons:,}",
             f"{t.connections:,}", f"{t.parameters:,}", f"{t.macs:,}", _bytes(t.output_bytes), ""]
    if report.branches:
        cells.insert(2, "")
    return cells


def _summary(report: Report) -> str:
    t = report.totals
    return (f"input {_shape(report.input_shape)} → output {_shape(report.output_shape)}: "
            f"{plural(t.parameters, 'parameter')} ({_bytes(t.parameter_bytes)} as float32), "
            f"{plural(t.macs, 'MAC')}, {_bytes(t.output_bytes)} of outputs per image")


# --- table (rich) ------------------------------------------------------------------------

_NUMERIC = {"index", "weights_per_neuron", "neurons", "connections", "parameters", "macs", "output_bytes"}


# Dropped in this order while the table is wider than the console: the engineer's extras first,
# then what the remaining columns imply; a number is never cut, and the caption lists what went.
_OPTIONAL = ("receptive_field", "output_bytes", "macs", "input_shape", "type", "weights_per_neuron",
             "output_shape", "reads", "neurons")


def rich_table(report: Report, width: int | None = None, only: Sequence[int] | None = None,
               row_cells: Sequence[list[str]] | None = None) -> Table:
    """The per-layer table; columns the console cannot fit are left out, and the caption says so.

    ``only``: the rows at these indices and no others, the columns and their widths unchanged
    (for :class:`~cnncalc.render.long_table.LongTable`, which writes the other rows itself);
    ``row_cells``: every row's cells, when already worked out.
    """
    from rich.table import Table
    from rich.text import Text

    columns = _columns(report)
    keys = [key for key, _ in columns]
    totals = _total_cells(report)
    rows = _all_cells(report) if row_cells is None else row_cells
    widths = [max([len(heading), len(totals[i])] + [len(r[i]) for r in rows])
              for i, (_, heading) in enumerate(columns)]
    widths[1] = min(widths[1], 10)  # long names fold; types are short and never split
    if "reads" in keys:
        widths[2] = min(widths[2], 16)  # so do the names a row reads
    keep = list(range(len(columns)))
    for key in _OPTIONAL:
        if width is None or sum(widths[i] + 3 for i in keep) + 1 <= width:
            break
        if key in keys:
            keep.remove(keys.index(key))
    title = printable(report.name + (f" — {report.description}" if report.description else ""))
    # User text is Text, never a str, which rich would read as markup and emoji codes.
    table = Table(title=Text(title, style="table.title"), show_footer=True, header_style="bold",
                  footer_style="bold", title_justify="left")
    for i in keep:
        # Numbers, shapes and types are never cut; only names fold when they must.
        folds = keys[i] in ("name", "reads")
        table.add_column(columns[i][1], footer=totals[i], justify="right" if keys[i] in _NUMERIC else "left",
                         min_width=widths[i], no_wrap=not folds, overflow="fold")
    for cells in rows if only is None else [rows[r] for r in only]:
        table.add_row(*(Text(cells[i]) for i in keep))
    return table


def rich_group(report: Report, width: int | None = None) -> Group:
    """The table, its summary and legend, then notes and warnings, for a console of this width."""
    from rich.console import Group
    from rich.text import Text

    from cnncalc.render.long_table import LongTable

    cells = _all_cells(report)
    columns = _columns(report)
    shown = {column.header for column in rich_table(report, width, only=(), row_cells=cells).columns}
    hidden = [heading for _, heading in columns if heading not in shown]
    keep = [i for i, (_, heading) in enumerate(columns) if heading in shown]
    # rich takes about 1 ms a row; LongTable writes the same text (10,000 layers: 8.4 s → 1.05 s end to end)
    table = LongTable(lambda only: rich_table(report, width, only, cells),
                      [[row[i] for i in keep] for row in cells])
    parts: list[Any] = [table, Text(_summary(report)), Text(_legend(report))]
    if hidden:
        parts.append(Text(f"hidden to fit the terminal: {', '.join(hidden)} (widen it, or use --width "
                          "or --format markdown)"))
    for row, note in _notes(report):
        parts.append(Text.assemble(("note: ", "bold"), printable(f"{row.name} (#{row.index}): {note}")))
    for w in report.warnings:
        parts.append(Text.assemble(("warning: ", "bold yellow"), warning_line(w)))
    return Group(*parts)


def warning_line(warning: LayerWarning) -> str:
    """``conv1 (#1): message`` on one line, as the table shows it after ``warning:``."""
    return printable(f"{warning.layer} (#{warning.index}): {warning.message}")


def _notes(report: Report) -> list[tuple[LayerRow, str]]:
    """How to read a row where the columns alone could mislead (a connection table's w/neuron)."""
    return [(row, note) for row in report.rows for note in row.notes]


def _plain_text(report: Report, width: int) -> str:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None, force_terminal=False,
                      legacy_windows=False, highlight=False, markup=False, emoji=False)
    console.print(rich_group(report, width))
    return buffer.getvalue()


# --- CSV and Markdown --------------------------------------------------------------------

def _csv(report: Report) -> str:
    """One row per layer with raw numbers (no separators) for spreadsheets; a total row last."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    wiring = report.branches or report.depth is not None
    writer.writerow(["index", "name", "type", "activation", *(["inputs"] if wiring else []), "input_shape",
                     "output_shape", "weights_per_neuron", "neurons", "connections", "parameters", "macs",
                     "output_bytes", "parameter_bytes", "rf_size", "rf_jump"])
    for row in report.rows:
        rf = row.receptive_field
        writer.writerow([
            row.index, row.name, row.type, row.activation or "", *([" ".join(row.inputs)] if wiring else []),
            _shape(row.input_shape), _shape(row.output_shape),
            row.weights_per_neuron if row.layers == 1 else "", row.neurons, row.connections,
            row.parameters, row.macs, row.output_bytes, row.parameter_bytes,
            "" if rf is None else _shape((rf[0].size, rf[1].size)),
            "" if rf is None else "×".join(_jump(axis.jump) for axis in rf),
        ])
    t = report.totals
    writer.writerow(["", "total", "", "", *([""] if wiring else []), "", _shape(report.output_shape), "",
                     t.neurons, t.connections, t.parameters, t.macs, t.output_bytes, t.parameter_bytes, "",
                     ""])
    return buffer.getvalue()


def _markdown(report: Report) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    out = [f"## {markdown(report.name)}", ""]
    if report.description:
        out += [markdown(report.description), ""]
    columns = _columns(report)
    out += [_summary(report) + ".", "", _legend(report) + ".", "", line([h for _, h in columns]),
            "|" + "|".join("---:" if key in _NUMERIC else "---" for key, _ in columns) + "|"]
    out += [line([markdown(c) for c in cells]) for cells in _all_cells(report)]
    out.append(line([f"**{markdown(c)}**" if c else "" for c in _total_cells(report)]))
    if any(row.notes for row in report.rows):
        out += ["", "**Notes**", ""]
        out += [f"- {markdown_code(row.name)} (#{row.index}): {markdown(note)}"
                for row, note in _notes(report)]
    if report.warnings:
        out += ["", "**Warnings**", ""]
        out += [f"- {markdown_code(w.layer)} (#{w.index}): {markdown(w.message)}" for w in report.warnings]
    return "\n".join(out) + "\n"
