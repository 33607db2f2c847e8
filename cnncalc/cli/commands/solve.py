"""``cnncalc solve``: the kernels, paddings and strides that give a wanted output size.

A thin click command over :func:`cnncalc.lecture.solve.solve` (the search, which checks every value
and bound) and :mod:`cnncalc.render.solve` (the table and JSON).
"""

from __future__ import annotations

import click

from cnncalc.lecture.solve import DILATION_CAP, FIXED_STRIDE_CAP, KERNEL_CAP, STRIDE_CAP, Answer, Problem
from cnncalc.lecture.solve import solve as run_solve
from cnncalc.lecture.solve_transposed import TransposedAnswer, TransposedProblem, solve_transposed
from cnncalc.render.solve import TABLE_ROWS, render_json, render_table

__all__ = ["solve"]


@click.command()
@click.option("--size", "-J", "size", type=int, required=True, help="Input size J (height or width).")
@click.option("--target", "-O", "target", type=int, default=None, help="Wanted output size.")
@click.option("--same", is_flag=True,
              help="Solve for ceil(J/s): PyTorch's padding='same' at stride 1, TensorFlow's at stride s.")
@click.option("--kernel", "-M", type=int, default=None, help="Fix the kernel size M.")
@click.option("--stride", "-s", type=int, default=None,
              help=f"Fix the stride s (at most {FIXED_STRIDE_CAP}).")
@click.option("--padding", "-P", type=int, default=None, help="Fix the padding P (each side).")
@click.option("--dilation", "-d", type=int, default=None, help="Fix the dilation d [default: 1].")
@click.option("--max-kernel", type=int, default=11, show_default=True,
              help=f"Largest kernel tried (at most {KERNEL_CAP}).")
@click.option("--max-stride", type=int, default=4, show_default=True,
              help=f"Largest stride tried (at most {STRIDE_CAP}).")
@click.option("--max-padding", type=int, default=None,
              help="Largest padding tried [default: M_eff − 1; pooling M // 2].")
@click.option("--max-dilation", type=int, default=1, show_default=True,
              help=f"Largest dilation tried when --dilation is not given (at most {DILATION_CAP}).")
@click.option("--output-padding", type=int, default=None,
              help="With --transposed: fix the output_padding (below max(s, d)).")
@click.option("--pool", is_flag=True, help="Solve for max pooling (PyTorch's rules) instead of convolution.")
@click.option("--transposed", is_flag=True,
              help="Solve for a transposed convolution (ConvTranspose2d): which output_padding, padding "
                   "and stride give the target.")
@click.option("--ceil-mode", is_flag=True, help="Pooling with ceil_mode=True.")
@click.option("--limit", type=int, default=20, show_default=True,
              help=f"Rows shown; 0 shows all (a table at most {TABLE_ROWS}).")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="A rich table, or JSON for scripts.")
@click.option("--width", type=click.IntRange(40, 1000), default=None,
              help="Table width in characters [default: the terminal's, or 160 when piped].")
def solve(size: int, target: int | None, same: bool, kernel: int | None, stride: int | None,
          padding: int | None, dilation: int | None, max_kernel: int, max_stride: int,
          max_padding: int | None, max_dilation: int, output_padding: int | None, pool: bool,
          transposed: bool, ceil_mode: bool, limit: int, fmt: str, width: int | None) -> None:
    """Find every kernel M, padding P and stride s that turn input size J into a target.

    The output is PyTorch's floor((J + 2P − d(M − 1) − 1)/s) + 1. Solutions are listed exact
    first, where (J + 2P − M)/s is whole and no row is rounded away, then by simplicity;
    with --same, by stride (1 first), symmetric padding before uneven.
    When none is exact, it suggests exact ones nearby. Example: --size 224 --target 55
    --kernel 11 (AlexNet's conv1).

    With --transposed, the output is (J − 1)·s − 2P + d(M − 1) + output_padding + 1; exact
    solutions need no output_padding. Example: --transposed --size 16 --target 32 (2× upsampling).
    """
    from cnncalc.errors import CnncalcError

    if limit < 0:
        raise CnncalcError(f"--limit must be at least 0; got {limit}")
    answer: Answer | TransposedAnswer
    if transposed:
        clash = [flag for flag, given in (("--same", same), ("--pool", pool), ("--ceil-mode", ceil_mode))
                 if given]
        if clash:
            raise click.UsageError(f"{clash[0]} does not go with --transposed")
        if target is None:
            raise CnncalcError("give a target size (--target): a transposed convolution has no 'same'")
        answer = solve_transposed(TransposedProblem(
            size=size, target=target, kernel=kernel, stride=stride, padding=padding, dilation=dilation,
            output_padding=output_padding, max_kernel=max_kernel, max_stride=max_stride,
            max_padding=max_padding, max_dilation=max_dilation))
    elif output_padding is not None:
        raise click.UsageError("--output-padding goes with --transposed")
    else:
        answer = run_solve(Problem(size=size, target=target, same=same, pool=pool, ceil_mode=ceil_mode,
                                   kernel=kernel, stride=stride, padding=padding, dilation=dilation,
                                   max_kernel=max_kernel, max_stride=max_stride, max_padding=max_padding,
                                   max_dilation=max_dilation))
    if fmt == "json":
        click.echo(render_json(answer, limit), nl=False)
        return
    from cnncalc.cli.console import print_renderable

    print_renderable(render_table(answer, limit), width=width)

