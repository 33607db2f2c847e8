"""``cnncalc solve``: the kernels, paddings and strides that give a wanted output size.

A thin click command over :func:`cnncalc.solve.solve`, and its two renderers: a rich table
(rich imported inside the function) and JSON. Neither prints; the command does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from cnncalc.solve import Answer, Problem
from cnncalc.solve import solve as run_solve

if TYPE_CHECKING:
    from rich.console import Group

__all__ = ["render_json", "render_table", "solve"]

_HEADINGS = {
    "target": "Nearest outputs that can be had:",
    "kernel": "Exact with another kernel:",
    "stride": "Exact with another stride:",
    "padding": "Exact with another padding:",
    "dilation": "Exact with another dilation:",
    "size": "Exact for another input size:",
}


def _question(answer: Answer) -> str:
    p = answer.problem
    what = ("max pooling" + (" (ceil_mode)" if p.ceil_mode else "")) if p.pool else "convolution"
    goal = f"ceil({p.size}/s) ('same')" if p.same else str(p.target)
    n, exact = len(answer.solutions), len(answer.exact)
    found = f"{n} solution{'s' if n != 1 else ''}, {exact or 'none'} exact" if n else "no solution"
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


def _footer(answer: Answer, limit: int) -> list[str]:
    p = answer.problem
    lines = []
    hidden = len(answer.solutions) - limit if limit else 0
    if hidden > 0:
        lines.append(f"… and {hidden} more (--limit 0 shows all)")
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


def render_table(answer: Answer, limit: int = 20) -> Group:
    """The solutions as a rich table, with a heading, the rows left out, and the suggestions."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    shown = answer.solutions[:limit] if limit else answer.solutions
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
    parts += [Text(line) for line in _footer(answer, limit)]
    return Group(*parts)


def render_json(answer: Answer, limit: int = 20) -> str:
    """The answer as indented JSON: the question, counts, the solutions shown, suggestions."""
    return json.dumps(answer.to_dict(limit), indent=2, ensure_ascii=False) + "\n"


@click.command()
@click.option("--size", "-J", "size", type=int, required=True, help="Input size J (height or width).")
@click.option("--target", "-O", "target", type=int, default=None, help="Wanted output size.")
@click.option("--same", is_flag=True,
              help="Solve for ceil(J/s): PyTorch's padding='same' at stride 1, TensorFlow's at stride s.")
@click.option("--kernel", "-M", type=int, default=None, help="Fix the kernel size M.")
@click.option("--stride", "-s", type=int, default=None, help="Fix the stride s.")
@click.option("--padding", "-P", type=int, default=None, help="Fix the padding P (each side).")
@click.option("--dilation", "-d", type=int, default=None, help="Fix the dilation d [default: 1].")
@click.option("--max-kernel", type=int, default=11, show_default=True, help="Largest kernel tried.")
@click.option("--max-stride", type=int, default=4, show_default=True, help="Largest stride tried.")
@click.option("--max-padding", type=int, default=None,
              help="Largest padding tried [default: M_eff − 1; pooling M // 2].")
@click.option("--max-dilation", type=int, default=1, show_default=True,
              help="Largest dilation tried when --dilation is not given.")
@click.option("--pool", is_flag=True, help="Solve for max pooling (PyTorch's rules) instead of convolution.")
@click.option("--ceil-mode", is_flag=True, help="Pooling with ceil_mode=True.")
@click.option("--limit", type=int, default=20, show_default=True, help="Rows shown; 0 shows all.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="A rich table, or JSON for scripts.")
@click.option("--width", type=click.IntRange(40, 1000), default=None,
              help="Table width in characters [default: the terminal's, or 160 when piped].")
def solve(size: int, target: int | None, same: bool, kernel: int | None, stride: int | None,
          padding: int | None, dilation: int | None, max_kernel: int, max_stride: int,
          max_padding: int | None, max_dilation: int, pool: bool, ceil_mode: bool, limit: int,
          fmt: str, width: int | None) -> None:
    """Find every kernel M, padding P and stride s that turn input size J into a target.

    The output is PyTorch's floor((J + 2P − d(M − 1) − 1)/s) + 1. Solutions are listed exact
    first, where (J + 2P − M)/s is whole and no row is rounded away, then by simplicity;
    with --same, by stride (1 first), symmetric padding before uneven.
    When none is exact, it suggests exact ones nearby. Example: --size 224 --target 55
    --kernel 11 (AlexNet's conv1).
    """
    from cnncalc.errors import CnncalcError

    if limit < 0:
        raise CnncalcError(f"--limit must be at least 0; got {limit}")
    answer = run_solve(Problem(size=size, target=target, same=same, pool=pool, ceil_mode=ceil_mode,
                               kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                               max_kernel=max_kernel, max_stride=max_stride, max_padding=max_padding,
                               max_dilation=max_dilation))
    if fmt == "json":
        click.echo(render_json(answer, limit), nl=False)
        return
    from cnncalc.console import print_renderable

    print_renderable(render_table(answer, limit), width=width)

