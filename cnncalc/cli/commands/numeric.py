"""The lecture's operators on numbers: ``softmax`` and ``convolve``.

Thin click commands over :mod:`cnncalc.lecture.numeric` (the arithmetic) and
:mod:`cnncalc.render.numeric` (the tables and JSON). Pooling on numbers is
:func:`cnncalc.lecture.numeric.pool_values`, used by ``cnncalc pool``. None of them
imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

__all__ = ["convolve", "softmax"]

FORMATS = ("table", "json")


def _print(renderable: Any) -> None:
    from cnncalc.cli.console import print_renderable

    # soft_wrap: a long sum stays on one line (the terminal may wrap it), never cut at the width
    print_renderable(renderable, soft_wrap=True)


def _short_format(args: Sequence[str]) -> list[str]:
    """``-f json`` (or ``-fjson``) as ``--format json``, before click parses softmax's words.

    softmax cannot declare ``-f`` to click: with ignore_unknown_options, click reads a word
    like ``-inf`` letter by letter, skips the unknown i and n, and takes the f as ``-f`` with
    the next word as its value. No number starts with ``-f``, so such a word is only ever
    the option; an option's value (``--target -f``) and the words after ``--`` stay as they are.
    """
    out: list[str] = []
    words = iter(args)
    for word in words:
        if word == "--":
            out.append(word)
            out.extend(words)
        elif word in ("--target", "--format"):
            out.append(word)
            value = next(words, None)
            if value is not None:
                out.append(value)
        elif word.startswith("-f"):
            out.append("--format" if word == "-f" else f"--format={word[2:]}")
        else:
            out.append(word)
    return out


class _SoftmaxCommand(click.Command):
    """Reads ``-f`` as ``--format`` itself (see :func:`_short_format`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, _short_format(args))


class _ShortFormatOption(click.Option):
    """``--format``, shown in the help as ``-f, --format`` (the short form is read by
    :class:`_SoftmaxCommand`, not declared to click)."""

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        record = super().get_help_record(ctx)
        return None if record is None else (f"-f, {record[0]}", record[1])


# ignore_unknown_options lets negative logits through as arguments (`softmax -1 2`); the
# command declares no short option but -h, so no number can be mistaken for one (-f is read
# before click parses, see _short_format).
@click.command(cls=_SoftmaxCommand, context_settings={"ignore_unknown_options": True})
@click.argument("logits", nargs=-1, metavar="Z1 Z2 ...")
@click.option("--target", type=int, default=None, metavar="I",
              help="The correct class, a 0-based index (0 is the first logit): adds the cost "
                   "−log Prob(I) and its gradient Prob(j) − [j = I].")
@click.option("--format", "fmt", cls=_ShortFormatOption, type=click.Choice(FORMATS), default="table",
              show_default=True, help="A table, or JSON for scripts.")
def softmax(logits: tuple[str, ...], target: int | None, fmt: str) -> None:
    """Softmax of the logits Z1 Z2 ...: Prob(j) = exp(z_j)/Σ_k exp(z_k) and log Prob(j)
    (lecture 6.2.2), stable for any finite logits.

    With --target I, also the cost −log Prob(I) and ∂cost/∂z_j = Prob(j) − [j = I]: the
    correct class is pushed up, and the wrong class with the highest activation is pushed
    down most. Negative logits work as they are (`cnncalc softmax -1 2 0.5`); logits may
    also be one quoted list, "2, 1, 0.1".
    """
    from cnncalc.lecture.numeric import parse_logits
    from cnncalc.lecture.numeric import softmax as compute
    from cnncalc.render.numeric import softmax_group, softmax_json

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
@click.option("--stride", "-s", type=click.IntRange(min=1), default=1, show_default=True,
              help="Stride s: the window moves s positions at a time.")
@click.option("--padding", "-P", type=click.IntRange(min=0), default=0, show_default=True,
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
    from cnncalc.lecture.numeric import CellBudget, convolution_size, parse_matrix, parse_number
    from cnncalc.lecture.numeric import convolve as compute
    from cnncalc.render.numeric import convolution_group, convolution_json

    def named(option: str, values: tuple[str, ...]) -> list[str]:
        return [option if len(values) == 1 else f"{option} {n}" for n in range(1, len(values) + 1)]

    budget = CellBudget()  # one for every matrix of the call
    input_names, kernel_names = named("--input", inputs), named("--kernel", kernels)
    first_image = parse_matrix(inputs[0], input_names[0], budget)
    first_kernel = parse_matrix(kernels[0], kernel_names[0], budget)
    # the work (and the sums written out) is known from the first channel: refuse before
    # reading the others
    convolution_size((len(first_image), len(first_image[0])), (len(first_kernel), len(first_kernel[0])),
                     len(inputs), stride, padding, sums)
    images = [first_image, *(parse_matrix(text, name, budget)
                             for text, name in zip(inputs[1:], input_names[1:], strict=True))]
    weights = [first_kernel, *(parse_matrix(text, name, budget)
                               for text, name in zip(kernels[1:], kernel_names[1:], strict=True))]
    result = compute(images, weights, bias=parse_number(bias, "--bias"), stride=stride, padding=padding,
                     flip=flip, sums=sums)
    if fmt == "json":
        click.echo(convolution_json(result), nl=False)
    else:
        _print(convolution_group(result))
