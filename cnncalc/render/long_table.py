"""A rich table of many plain rows, printed as rich prints it, in a fraction of the time.

rich lays out and renders every cell of a :class:`~rich.table.Table` through its general
machinery (measuring, wrapping, padding, cropping, styles): about 1 ms a row, so 10 s for the
report of a 10,000-layer spec and 3 s for a 314×314 feature map. cnncalc's long tables are plain
text in one-line cells, so :class:`LongTable` lets rich render only a *sample* of the rows (the
first and last, those that decide a column's width, and any whose text rich might read as markup
or an emoji code), takes the column widths and box characters from that, writes every row itself
by rich's rule (one space of padding each side, left or right justified, a long word folded at the
column's width), and checks itself: the lines it wrote for the sample rows must be, segment for
segment, the lines rich wrote for them. When they are not, or when a cell is not plain (a control
or wide character, surrounding spaces, a cell that would wrap at a space), rich renders the whole
table as before. Either way the text is the same, byte for byte; tests/test_long_table.py
compares the two on every bundled architecture, narrow widths and long names.

Short tables (fewer than :data:`MIN_ROWS` rows) are always rendered by rich.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.measure import Measurement
    from rich.segment import Segment
    from rich.style import Style
    from rich.table import Table

__all__ = ["MAX_SAMPLE", "MIN_ROWS", "LongTable"]

#: tables with fewer rows are rendered by rich alone (a few ms, and the reference)
MIN_ROWS = 100
#: a sample larger than this (many rows that rich must see) is not worth it: rich renders all
MAX_SAMPLE = 400
#: characters rich's markup and emoji codes use: a row with one is always in the sample, so any
#: difference between its text and what rich makes of it sends the table back to rich
_SPECIAL = frozenset("[]:\\")

#: builds the table with only the rows at these indices (all of them for None), in order; every
#: other setting (columns, widths, title, footer) the same
Build = Callable[[Sequence[int] | None], "Table"]


class LongTable:
    """``build(None)`` as rich prints it, with the rows written directly (see the module).

    ``cells`` are the rows' texts, one string per column of the table, in the columns' order.
    With ``natural``, every column has a ``min_width`` and the table is laid out that wide even
    where the console is narrower (rich would squeeze a table of more columns than half the
    console's width to nothing); print it with ``soft_wrap``, which never crops a line.
    """

    def __init__(self, build: Build, cells: Sequence[Sequence[str]], natural: bool = False) -> None:
        self.build = build
        self.cells = cells
        self.natural = natural

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        if self.natural:
            columns = self.build(()).columns
            options = options.update_width(max(options.max_width,
                                               sum((c.min_width or 0) + 3 for c in columns) + 1))
        lines = self._lines(console, options) if len(self.cells) >= MIN_ROWS else None
        if lines is None:
            yield from console.render(self.build(None), options)
            return
        for line in lines:
            yield from line
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        from rich.measure import Measurement

        sample = self._sample(self.build(()))
        return Measurement.get(console, options, self.build(None if sample is None else sample))

    def _sample(self, table: Table) -> list[int] | None:
        """The rows rich must render for the whole table's layout and to check the rest; None
        when a cell is not plain or the sample would be too large."""
        from rich.cells import cell_len

        rows = self.cells
        if not rows or any(len(row) != len(table.columns) for row in rows):
            return None
        for row in rows:
            for text in row:
                if not (text.isprintable() and text == text.strip() and "  " not in text
                        and cell_len(text) == len(text)):
                    return None
        sample = {0, len(rows) - 1}
        for i, column in enumerate(table.columns):
            longest = max(range(len(rows)), key=lambda r: len(rows[r][i]))
            if column.min_width is not None and column.min_width >= len(rows[longest][i]):
                continue  # the table fixes this column's width whatever its rows
            sample.add(longest)  # the widest cell, and the longest word (where it may wrap)
            sample.add(max(range(len(rows)), key=lambda r: max(map(len, rows[r][i].split(" ")))))
        sample.update(r for r, row in enumerate(rows) if any(not _SPECIAL.isdisjoint(text) for text in row))
        return sorted(sample) if len(sample) <= MAX_SAMPLE else None

    def _lines(self, console: Console, options: ConsoleOptions) -> list[list[Segment]] | None:
        from rich.segment import Segment

        settings = self.build(())
        sample = self._sample(settings)
        if sample is None or settings.box is None or not settings.show_edge or settings.show_lines:
            return None
        table = self.build(sample)
        rendered = list(Segment.split_lines(console.render(table, options)))
        texts = ["".join(segment.text for segment in line) for line in rendered]
        widths = _widths(texts[-1], len(table.columns)) if texts else None
        if widths is None:
            return None
        safe = console.safe_box if table.safe_box is None else table.safe_box
        box = table.box.substitute(options, safe=safe) if table.box is not None else None
        if box is None:
            return None
        edges = (box.mid_left, box.mid_vertical, box.mid_right)
        folds = [not column.no_wrap and column.overflow == "fold" for column in table.columns]
        justify = [column.justify for column in table.columns]
        if any(j not in ("left", "right") for j in justify):
            return None
        written: list[list[str]] = []
        for row in self.cells:
            lines = _row(row, widths, justify, folds, edges)
            if lines is None:
                return None
            written.append(lines)
        # find the sample's rows in rich's text: exactly one place
        expected = [line for r in sample for line in written[r]]
        starts = [p for p in range(len(texts) - len(expected) + 1) if texts[p:p + len(expected)] == expected]
        if len(starts) != 1:
            return None
        start, end = starts[0], starts[0] + len(expected)
        runs = _runs(rendered[start], widths)
        if runs is None:
            return None
        body = [[[Segment(line[a:b], style) for a, b, style in runs] for line in lines] for lines in written]
        sampled = [line for r in sample for line in body[r]]
        if any(_plain_styles(mine) != _plain_styles(theirs)
               for mine, theirs in zip(sampled, rendered[start:end], strict=True)):
            return None
        return [*rendered[:start], *(line for lines in body for line in lines), *rendered[end:]]


def _widths(bottom: str, count: int) -> list[int] | None:
    """The columns' text widths from the table's bottom border, ``└────┴──┘``: each run of the
    rule less the two spaces of padding; None when it is not such a border."""
    if len(bottom) < 3:
        return None
    rule = bottom[1]
    runs = [(char == rule, len(list(group))) for char, group in groupby(bottom[1:-1])]
    widths = [length - 2 for is_rule, length in runs if is_rule]
    dividers = [length for is_rule, length in runs if not is_rule]
    if len(widths) != count or any(w < 0 for w in widths) or any(d != 1 for d in dividers):
        return None
    return widths


def _row(row: Sequence[str], widths: Sequence[int], justify: Sequence[str], folds: Sequence[bool],
         edges: tuple[str, str, str]) -> list[str] | None:
    """One row's lines as rich writes them; None where rich would wrap differently (a cell
    longer than its column that is not one word in a column that folds)."""
    parts: list[list[str]] = []
    for text, width, fold in zip(row, widths, folds, strict=True):
        if len(text) <= width:
            parts.append([text])
        elif fold and " " not in text and width > 0:
            parts.append([text[i:i + width] for i in range(0, len(text), width)])
        else:
            return None
    left, divider, right = edges
    lines = []
    for y in range(max(len(p) for p in parts)):
        cells = []
        for chunks, width, how in zip(parts, widths, justify, strict=True):
            text = chunks[y] if y < len(chunks) else ""
            cells.append(" " + (text.rjust(width) if how == "right" else text.ljust(width)) + " ")
        lines.append(left + divider.join(cells) + right)
    return lines


def _runs(line: list[Segment], widths: Sequence[int]) -> list[tuple[int, int, Style | None]] | None:
    """A body line's parts as rich writes them, read from rich's own line: (start, end, style),
    assuming each part has one style (the left edge; each cell's left padding, text, right
    padding, and the divider after it), and joining neighbours without a style, which print the
    same joined (a styled part keeps its own escape codes, as rich writes them). The sample check
    confirms it."""
    at: list[Style | None] = []
    for segment in line:
        at.extend([segment.style or None] * len(segment.text))  # a null Style() prints as None does
    if len(at) != sum(widths) + 3 * len(widths) + 1:
        return None
    starts = [0]
    for width in widths:
        position = starts[-1] + 1
        starts += [position, position + 1, position + width + 1, position + width + 2]
    runs: list[tuple[int, int, Style | None]] = []
    for a, b in zip(starts, [*starts[1:], len(at)], strict=True):
        if a == b:
            continue  # an empty cell's text
        if runs and runs[-1][2] is None and at[a] is None:  # unstyled text prints the same joined
            runs[-1] = (runs[-1][0], b, None)
        else:
            runs.append((a, b, at[a]))
    return runs


def _plain_styles(line: Sequence[Segment]) -> list[tuple[str, Style | None]]:
    """A line as (text, style) pieces, neighbours without a style joined: what it prints."""
    runs: list[tuple[str, Style | None]] = []
    for segment in line:
        style = segment.style or None
        if runs and runs[-1][1] is None and style is None:
            runs[-1] = (runs[-1][0] + segment.text, style)
        elif segment.text:
            runs.append((segment.text, style))
    return runs
