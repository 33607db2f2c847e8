"""``cnncalc draw``: the network as a picture (SVG, or DOT for graphviz).

A thin click command over :mod:`cnncalc.render.draw`, which returns the text.
"""

from __future__ import annotations

from pathlib import Path

import click

from cnncalc.analysis.walk import analyze as run_analysis
from cnncalc.render.draw import draw as make_drawing
from cnncalc.spec.loader import load_spec

__all__ = ["draw", "write_output"]


def write_output(output: str, text: str) -> None:
    """Write ``text`` to ``output`` (UTF-8); a file that cannot be written is a usage error."""
    try:
        with open(output, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
    except OSError as err:
        raise click.BadParameter(f"cannot write {output}: {err.strerror}",
                                 param_hint="'-o' / '--output'") from None


@click.command()
@click.argument("spec")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the drawing to this file; a name ending in .dot gets DOT text "
                   "[default: SVG on standard output].")
@click.option("-f", "--format", "fmt", type=click.Choice(("svg", "dot")), default=None,
              help="svg or dot [default: from the output's suffix, else svg].")
@click.option("--depth", type=click.IntRange(1, 64), default=None,
              help="Draw every block call nested deeper than this as one box (as analyze --depth).")
def draw(spec: str, output: str | None, fmt: str | None, depth: int | None) -> None:
    """Draw SPEC: a chain as the lecture's stacks of feature maps (kernel windows, operations,
    fully connected bars); a network that branches as a layered graph, top to bottom, with its
    merges and skips and each edge's shape.

    SPEC is a YAML file, a bundled name such as `lenet5`, or - for standard input. No graphviz
    is needed; `-o net.dot` writes DOT text for those who have it.
    """
    if fmt is None:
        fmt = "dot" if output is not None and Path(output).suffix.lower() in (".dot", ".gv") else "svg"
    drawing = make_drawing(run_analysis(load_spec(spec)), depth)
    text = drawing.dot if fmt == "dot" else drawing.svg
    if output is None:
        click.echo(text, nl=False, color=True)
        return
    write_output(output, text)
    click.echo(f"wrote {output}", err=True)
