"""The lecture's operators on numbers: ``softmax`` and ``convolve``.

Thin click commands over :mod:`cnncalc.numeric` (the arithmetic) and
:mod:`cnncalc.numeric_render` (the tables and JSON). Pooling on numbers is
:func:`cnncalc.numeric.pool_values`, used by ``cnncalc pool``. None of them
imports torch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

__all__ = ["convolve", "softmax"]

FORMATS = ("table", "json")


def _print(renderable: Any) -> None:
    from rich.console import Console

    piped = not sys.stdout.isatty() and "COLUMNS" not in os.environ
    # soft_wrap: a long sum stays on one line (the terminal may wrap it), never cut at the width
    Console(width=160 if piped else None, highlight=False).print(renderable, soft_wrap=True)


# ignore_unknown_options lets negative logits through as arguments (`softmax -1 2`); the
# command has no short options but -h, so no number can be mistaken for one.
@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("logits", nargs=-1, metavar="Z1 Z2 ...")
@click.option("--target", type=int, default=None, metavar="I",
              help="The correct class, a 0-based index (0 is the first logit): adds the cost "
                   "−log Prob(I) and its gradient Prob(j) − [j = I].")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="A table, or JSON for scripts.")
def softmax(logits: tuple[str, ...], target: int | None, fmt: str) -> None:
    """Softmax of the logits Z1 Z2 ...: Prob(j) = exp(z_j)/Σ_k exp(z_k) and log Prob(j)
    (lecture 6.2.2), stable for any finite logits.

    With --target I, also the cost −log Prob(I) and ∂cost/∂z_j = Prob(j) − [j = I]: the
    correct class is pushed up, and the wrong class with the highest activation is pushed
    down most. Negative logits work as they are (`cnncalc softmax -1 2 0.5`); logits may
    also be one quoted list, "2, 1, 0.1".
    """
    from cnncalc.numeric import parse_logits
    from cnncalc.numeric import softmax as compute
    from cnncalc.numeric_render import softmax_group, softmax_json

    result = compute(parse_logits(logits), target)
    if fmt == "json":
        click.echo(softmax_json(result), nl=False)
    else:
        _print(softmax_group(result))


@click.command()
@click.option("--input", "inputs", multiple=True, required=True, metavar="MATRIX",
              help="The input I, as \"1 2 0; 0 1 3\" (rows split by ; or new lines, values by spaces "
                   "or commas) or @FILE. Repeat for several channels.")
@click.option("--kernel", "kernels", multiple=True, required=True, metavar="MATRIX",
              help="The kernel K, like --input; one per --input (a slice per channel).")
@click.option("--bias", default="0", show_default=True, metavar="B", help="The bias b added to every output.")
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stride s: the window moves s positions at a time.")
@click.option("--padding", type=click.IntRange(min=0), default=0, show_default=True,
              help="Zero padding P on every side.")
@click.option("--flip", is_flag=True,
              help="Flip the kernel by 180° first: true convolution, Σ K(m,n)·I(j−m, k−n).")
@click.option("--sums", is_flag=True, help="Write out every output's sum, K(m,n)×I(…) term by term.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Tables, or JSON for scripts.")
def convolve(inputs: tuple[str, ...], kernels: tuple[str, ...], bias: str, stride: int, padding: int,
             flip: bool, sums: bool, fmt: str) -> None:
    """Apply the convolution operator to numbers: S(j,k) = Σ_m Σ_n K(m,n)·I(j+m, k+n) (lecture 9.1).

    This is cross-correlation, as PyTorch's conv2d computes it; --flip gives the
    theoreticians' I(j−m, k−n). With several --input channels, S(j,k) = b + Σ_l of each
    channel's sum, one feature map. Integers stay integers; other values are exact
    decimals up to 8 places, otherwise rounded to 6 significant digits.
    """
    from cnncalc.numeric import convolve as compute
    from cnncalc.numeric import parse_matrix, parse_number
    from cnncalc.numeric_render import convolution_group, convolution_json

    def named(option: str, values: tuple[str, ...]) -> list[str]:
        return [option if len(values) == 1 else f"{option} {n}" for n in range(1, len(values) + 1)]

    images = [parse_matrix(text, name) for text, name in zip(inputs, named("--input", inputs), strict=True)]
    weights = [parse_matrix(text, name)
               for text, name in zip(kernels, named("--kernel", kernels), strict=True)]
    result = compute(images, weights, bias=parse_number(bias, "--bias"), stride=stride, padding=padding,
                     flip=flip, sums=sums)
    if fmt == "json":
        click.echo(convolution_json(result), nl=False)
    else:
        _print(convolution_group(result))
