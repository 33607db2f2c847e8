"""LongTable (cnncalc.render.long_table): long tables written directly, the same text as rich's.

The analyze table of 10,000 layers took 13.5 s through rich (1.3 s as JSON), a 314×314 feature map
3 s: LongTable writes the rows itself. Here every table is printed both ways — LongTable's rows
(MIN_ROWS = 0, so even short tables take that path) and rich's alone — and the two must be the
same, byte for byte, plain and with colours, at narrow and wide widths, with names that fold and
text rich may read as markup. Speed is measured in benchmarks/bounded.py, not here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from cnncalc.analysis.walk import Report, analyze
from cnncalc.lecture.numeric import convolve
from cnncalc.render import long_table
from cnncalc.render.numeric import _matrix, convolution_group, matrix_table
from cnncalc.render.report import rich_group
from cnncalc.spec import bundled
from cnncalc.spec.loader import load_spec

WIDTHS = [40, 63, 80, 120, 160, 400]


@pytest.fixture
def both_ways(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def render(renderable: Any, width: int, colour: bool = False, soft_wrap: bool = False) -> tuple[str, str]:
        texts = []
        for min_rows in (0, 10**9):  # LongTable's rows, then rich alone
            monkeypatch.setattr(long_table, "MIN_ROWS", min_rows)
            console = Console(file=io.StringIO(), width=width, highlight=False, soft_wrap=soft_wrap,
                              force_terminal=colour, color_system="truecolor" if colour else None,
                              legacy_windows=False)
            console.print(renderable)
            texts.append(console.file.getvalue())  # type: ignore[attr-defined]
        return texts[0], texts[1]

    yield render


def spec_report(tmp_path: Path, layers: int, names: list[str] | None = None) -> Report:
    block = ["{type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}", "{type: batchnorm2d}",
             "{type: relu}", "{type: maxpool2d, kernel_size: 3, stride: 1, padding: 1}"]
    lines = ["name: long", "input: {channels: 16, height: 64, width: 64}", "layers:"]
    for i in range(layers):
        name = f", name: {json.dumps(names[i % len(names)] + str(i))}" if names else ""
        lines.append(f"  - {block[i % 4][:-1]}{name}}}")
    path = tmp_path / "long.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return analyze(load_spec(path))


@pytest.mark.parametrize("name", bundled.names())
def test_bundled_reports_are_the_same_text(both_ways: Any, name: str) -> None:
    report = analyze(load_spec(name))
    for width in WIDTHS:
        fast, rich = both_ways(rich_group(report, width), width)
        assert fast == rich, (name, width)
    fast, rich = both_ways(rich_group(report, 160), 160, colour=True)
    assert fast == rich and "\x1b[" in fast


@pytest.mark.parametrize("names", [None, ["a_very_long_layer_name_that_folds_"], ["x"],
                                   ["block:conv", "w[1]", "a\\b", "[bold]b"]])
def test_long_reports_are_the_same_text(both_ways: Any, tmp_path: Path, names: list[str] | None) -> None:
    report = spec_report(tmp_path, 150, names)
    for width in WIDTHS:
        fast, rich = both_ways(rich_group(report, width), width)
        assert fast == rich, (names, width)


def test_plain_long_tables_take_the_fast_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a timing: that the rows are written by LongTable (rich renders only a sample)."""
    monkeypatch.setattr(long_table, "MIN_ROWS", 0)
    calls: list[int] = []
    report = spec_report(tmp_path, 400, ["a_layer_name_longer_than_ten_"])
    for width in (80, 160):
        table = rich_group(report, width).renderables[0]
        assert isinstance(table, long_table.LongTable)
        build = table.build

        def counting(only: Any, build: Any = build) -> Any:
            calls.append(-1 if only is None else len(only))
            return build(only)

        table.build = counting
        console = Console(file=io.StringIO(), width=width, color_system=None)
        lines = table._lines(console, console.options)
        assert lines is not None and -1 not in calls and max(calls) <= 10
        calls.clear()
    wide = tuple(tuple(Fraction(r * c) for c in range(90)) for r in range(120))
    console = Console(file=io.StringIO(), width=2000, force_terminal=True, color_system="truecolor")
    assert _matrix(wide, "m")._lines(console, console.options) is not None


def test_matrices_are_the_same_text(both_ways: Any) -> None:
    wide = tuple(tuple(Fraction((r * 31 + c * 7) % 23 - 11, 1 + (r + c) % 3) for c in range(90))
                 for r in range(120))
    narrow = tuple(tuple(Fraction(r - c) for c in range(3)) for r in range(150))
    for matrix in (wide, narrow):
        for width in (40, 160):
            fast, rich = both_ways(_matrix(matrix, "m"), width, soft_wrap=True)
            assert fast == rich
            fast, rich = both_ways(_matrix(matrix, "m"), width, colour=True, soft_wrap=True)
            assert fast == rich
    # matrix_table alone, as a library user prints it, is an ordinary rich Table
    assert matrix_table(narrow, "m").row_count == 150
    result = convolve([[v for v in row] for row in wide], "1 0; 0 -1", padding=1)
    fast, rich = both_ways(convolution_group(result), 160, soft_wrap=True)
    assert fast == rich

