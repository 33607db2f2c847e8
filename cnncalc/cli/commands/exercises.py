"""The lecture as a workbench: ``check``, ``explain``, and the one-layer ``conv`` and ``pool``.

Thin click commands: each loads or builds a spec, runs the analysis, and hands
the worked formulas to a renderer. None of them imports torch.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import click

from cnncalc.analysis.walk import Report, analyze, conv_padding
from cnncalc.errors import CnncalcError
from cnncalc.graph import INPUT
from cnncalc.lecture.worked import explain_layer
from cnncalc.spec.loader import load_spec, spec_from_data
from cnncalc.spec.models import Conv2d, Spec
from cnncalc.text import plural

__all__ = ["check", "conv", "explain", "pool"]

FORMATS = ("table", "json", "markdown")


def _print(renderable: Any) -> None:
    from cnncalc.cli.console import print_renderable

    print_renderable(renderable)


# --- check --------------------------------------------------------------------------------

@click.command()
@click.argument("spec")
@click.argument("answers", nargs=-1, required=True)
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json", "csv", "markdown")),
              default="table", show_default=True,
              help="A marked table, JSON for scripts, CSV for a spreadsheet, or Markdown.")
@click.pass_context
def check(ctx: click.Context, spec: str, answers: tuple[str, ...], fmt: str) -> None:
    """Mark the answers in ANSWERS against SPEC, showing the worked formula for each wrong one.

    ANSWERS maps layer names to quantities: output_shape, output_size (the width),
    output_channels, weights_per_neuron, neurons, connections, parameters, macs;
    `totals:` takes the network's parameters, neurons, connections and macs, and a
    block call's path (layer2.0) its parameters (summed) and output_channels. A layer
    inside a block is named by its path (layer2.0.conv1:); quote a name YAML would
    read as a number ("0":). Numbers may be written 357,504. A blank answer is
    unanswered, one that is not a number is malformed: each is wrong, for that question only.
    Questions are numbered as on the quiz sheet (the template's "# 3." comments), else
    in file order.

    A folder (its *.yaml and *.yml files) or several ANSWERS files mark a class: a
    gradebook with one row per submission (the file's `student:` field, else its name),
    the score, one column per question, and the questions the class got wrong most with
    their working. A file that cannot be read is reported in its row.

    Exit status: 0 all right, 1 any wrong, 2 bad input (a bad spec, a missing folder, or
    an answers file that cannot be read).
    """
    loaded = load_spec(spec)
    report = analyze(loaded)
    if len(answers) == 1 and (not answers[0].strip() or not Path(answers[0]).is_dir()):  # "" is not "."
        _check_one(ctx, loaded, report, answers[0], fmt)
    from cnncalc.lecture.gradebook import answer_files, mark_class
    from cnncalc.render import gradebook as render

    book = mark_class(loaded, report, answer_files(answers))
    if fmt == "json":
        click.echo(render.gradebook_json(book), nl=False)
    elif fmt == "csv":
        click.echo(render.gradebook_csv(book), nl=False)
    elif fmt == "markdown":
        click.echo(render.gradebook_markdown(book), nl=False)
    else:
        _print(render.gradebook_group(book))
    ctx.exit(2 if book.unreadable else 0 if book.all_right else 1)


def _check_one(ctx: click.Context, spec: Spec, report: Report, answers: str, fmt: str) -> None:
    """One answers file: every answer with its mark (as a one-row gradebook in CSV and Markdown)."""
    from cnncalc.lecture.check import Marker, Targets, load_answered
    from cnncalc.render.worked import marking_group, marking_json

    if fmt in ("csv", "markdown"):
        load_answered(answers, Targets.of(spec, report))  # a file that cannot be read: exit 2, as ever
        return
    answered = load_answered(answers, Targets.of(spec, report))
    marking = Marker(report).mark(answered.answers, answered.numbers)
    if fmt == "json":
        click.echo(marking_json(marking), nl=False)
    else:
        _print(marking_group(marking))
    ctx.exit(0 if marking.all_right else 1)


# --- explain ------------------------------------------------------------------------------

@click.command()
@click.argument("spec")
@click.argument("layer", required=False)
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Tables, JSON, or Markdown for notes and answer sheets.")
def explain(spec: str, layer: str | None, fmt: str) -> None:
    """Work the lecture's formulas for every layer of SPEC, or for one LAYER (a name, a path such
    as layer2.0.conv1, or #position); a block call's path (layer2.0) explains every layer in it.

    For each layer: the width of the next layer, weights per neuron, neurons,
    connections and independent parameters, as the formula and again with the
    layer's numbers, e.g. 1 + (224 + 2×2 − 11)/4 = 55.25 → 55. A merge (add, mul, concat,
    centercrop) says what it reads and how it shapes its output.
    """
    loaded = load_spec(spec)
    report = analyze(loaded)
    positions = range(len(report.rows)) if layer is None else _find(loaded, report, layer)
    _show(loaded, report, list(positions), fmt)


def _find(spec: Spec, report: Report, wanted: str) -> list[int]:
    """The rows LAYER names: one layer by path or #position, or every layer of a block call."""
    names = [row.name for row in report.rows]
    if wanted in names:
        return [names.index(wanted)]
    inside = [i for i, row in enumerate(report.rows) if wanted in row.calls]
    if inside:
        return inside
    match = re.fullmatch(r"#?(\d+)", wanted)
    if match and 1 <= int(match.group(1)) <= len(names):
        return [int(match.group(1)) - 1]
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"the layers are: {', '.join(names)}"
    raise CnncalcError(f"{spec.source or '<spec>'}: no layer {wanted!r}; {hint}")


def _show(spec: Spec, report: Report, positions: list[int], fmt: str,
          headings: list[str] | None = None) -> None:
    from cnncalc.render.worked import worked_group, worked_json, worked_markdown

    # The worked size already explains a fraction or ceil_mode; other warnings still show.
    explained = [(report.rows[i], explain_layer(report.layers[i], report.rows[i],
                                                report.rows[i - 1].name if i else INPUT),
                  [w for w in report.warnings
                   if w.index == i + 1 and w.kind not in ("fraction", "ceil_mode")])
                 for i in positions]
    if fmt == "json":
        click.echo(worked_json(explained), nl=False)
    elif fmt == "markdown":
        click.echo(worked_markdown(explained), nl=False)
    else:
        _print(worked_group(explained, headings))


# --- one-layer calculators --------------------------------------------------------------------

class _Pair(click.ParamType):  # type: ignore[type-arg]
    """An int or 'AxB' (also 'A×B'), each at least ``minimum``; optional words such as 'same'."""

    name = "N or HxW"

    def __init__(self, minimum: int, words: tuple[str, ...] = ()) -> None:
        self.minimum = minimum
        self.words = words

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, (list, str)) and value in self.words:
            return value
        if isinstance(value, list):
            return value
        parts = re.split(r"\s*[x×,]\s*", str(value).strip())
        if len(parts) in (1, 2) and all(re.fullmatch(r"\d+", p) for p in parts):
            numbers = [int(p) for p in parts]
            if min(numbers) >= self.minimum:
                return numbers[0] if len(numbers) == 1 else numbers
            self.fail(f"must be at least {self.minimum}; got {value}", param, ctx)
        words = "".join(f" or {w}" for w in self.words)
        self.fail(f"write a whole number or HxW such as 7x9{words}; got {value!r}", param, ctx)


def _times(value: int | list[int]) -> str:
    """5 for 5 or [5, 5]; 3×5 for [3, 5]."""
    a, b = _sizes(value)
    return str(a) if a == b else f"{a}×{b}"


def _sizes(value: int | list[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (value[0], value[1])


def _symbols(prefix: tuple[str, str], value: int | list[int]) -> str:
    a, b = _sizes(value)
    return f"{prefix[0]} = {prefix[1]} = {a}" if a == b else f"{prefix[0]} = {a}, {prefix[1]} = {b}"


def _one_layer(input_shape: list[int], layer: dict[str, Any], source: str) -> Spec:
    return spec_from_data({"input": input_shape, "layers": [layer]}, source=source)


def _show_one(spec: Spec, heading: str, fmt: str) -> None:
    _show(spec, analyze(spec), [0], fmt, headings=[heading])


def _padding_symbol(pads: tuple[tuple[int, int], tuple[int, int]], word: str | None) -> str:
    """P as the formulas use it: 2, 1×2 (rows × columns), or per side where it is uneven; with
    the word it was resolved from ('same', 'valid')."""
    (top, bottom), (left, right) = pads
    if top == bottom and left == right:
        value = _times([top, left])
    elif (top, bottom) == (left, right):
        value = f"{top} top/left + {bottom} bottom/right"
    else:
        value = f"{top} top + {bottom} bottom, {left} left + {right} right"
    return f"P = {value}" + (f" for {word!r}" if word else "")


_INPUT = [
    click.option("--size", "-J", "size", type=_Pair(1), required=True,
                 help="Input size: J (square) or JxK (height J × width K), e.g. 224 or 7x9."),
    click.option("--channels", "-L", type=click.IntRange(1), default=1, show_default=True,
                 help="Input channels L (3 for colour images)."),
]


def _with_input(command: Any) -> Any:
    for option in reversed(_INPUT):
        command = option(command)
    return command


@click.command()
@_with_input
@click.option("--filters", type=click.IntRange(1), required=True, help="Number of filters (output channels).")
@click.option("--kernel", "-M", type=_Pair(1), required=True, help="Filter M (square) or MxN, e.g. 5 or 3x5.")
@click.option("--stride", "-s", type=_Pair(1), default="1", show_default=True, help="Stride s, or SxS.")
@click.option("--padding", "-P", type=_Pair(0, ("same", "valid")), default="0", show_default=True,
              help="Zero padding P, PxP, same or valid (same and valid: not with --transposed).")
@click.option("--dilation", "-d", type=_Pair(1), default="1", show_default=True, help="Dilation d.")
@click.option("--groups", "-g", type=click.IntRange(1), default=1, show_default=True,
              help="Groups (AlexNet's two GPUs: 2).")
@click.option("--bias/--no-bias", default=True, show_default=True, help="Whether each filter has a bias.")
@click.option("--transposed", is_flag=True,
              help="A transposed convolution (ConvTranspose2d, U-Net's up-convolution) instead.")
@click.option("--output-padding", type=_Pair(0), default="0", show_default=True,
              help="With --transposed: rows/columns added at the bottom/right, below max(s, d).")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="A table, JSON, or Markdown.")
def conv(size: Any, channels: int, filters: int, kernel: Any, stride: Any, padding: Any, dilation: Any,
         groups: int, bias: bool, transposed: bool, output_padding: Any, fmt: str) -> None:
    """One convolution layer from flags, every quantity with its formula worked.

    The lecture's question, e.g. AlexNet's first layer:
    cnncalc conv --size 224 --channels 3 --filters 96 --kernel 11 --stride 4 --padding 2

    With --transposed, a transposed convolution: output size
    (J − 1)·s − 2P + d·(M − 1) + output_padding + 1, e.g. U-Net's up-convolution:
    cnncalc conv --transposed --size 28 --channels 1024 --filters 512 --kernel 2 --stride 2
    """
    height, width = _sizes(size)
    if transposed and isinstance(padding, str):
        raise click.UsageError(f"--padding {padding} is for a convolution; a transposed convolution takes "
                               "a number (its output shrinks by 2P)")
    if not transposed and output_padding not in (0, [0, 0]):
        raise click.UsageError("--output-padding goes with --transposed")
    layer = {"type": "convtranspose2d" if transposed else "conv2d", "name": "conv", "out_channels": filters,
             "kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
             "groups": groups, "bias": bias}
    if transposed:
        layer["output_padding"] = output_padding
    spec = _one_layer([channels, height, width], layer, "cnncalc conv")
    symbols = [_symbols(("J", "K"), size), f"L = {channels}", _symbols(("M", "N"), kernel)]
    if transposed:
        if padding not in (0, [0, 0]):
            symbols.append(f"P = {_times(padding)}")
    elif padding not in (0, [0, 0]):  # 'same' and 'valid' shown as the numbers they resolve to
        built = analyze(spec).layers[0]
        assert isinstance(built, Conv2d)  # the one conv2d written above
        symbols.append(_padding_symbol(conv_padding(built, (height, width)),
                                       padding if isinstance(padding, str) else None))
    if stride not in (1, [1, 1]):
        symbols.append(f"s = {_times(stride)}")
    if dilation not in (1, [1, 1]):
        symbols.append(f"d = {_times(dilation)}")
    if output_padding not in (0, [0, 0]):
        symbols.append(f"output_padding = {_times(output_padding)}")
    if groups > 1:
        symbols.append(f"groups = {groups}")
    heading = (f"{'transposed convolution' if transposed else 'convolution'}: {plural(filters, 'filter')} "
               f"on a {height}×{width} input with {plural(channels, 'channel')} ({', '.join(symbols)})")
    _show_one(spec, heading, fmt)


@click.command()
@click.option("--size", "-J", "size", type=_Pair(1), default=None,
              help="Input size: J (square) or JxK; not needed with --values.")
@click.option("--channels", "-L", type=click.IntRange(1), default=1, show_default=True,
              help="Input channels L.")
@click.option("--values", "values", default=None, metavar="MATRIX",
              help='Pool these numbers instead: "1 2 0; 0 1 3; ..." (rows split by ;) or @file.')
@click.option("--windows", is_flag=True, help="With --values: write out each output cell's window.")
@click.option("--kernel", "-F", type=_Pair(1), required=True, help="Pooling width F, or FxF.")
@click.option("--stride", "-s", type=_Pair(1), default=None, help="Stride s [default: F].")
@click.option("--padding", "-P", type=_Pair(0), default="0", show_default=True, help="Padding P.")
@click.option("--ceil-mode", is_flag=True, help="Round the size up, as PyTorch's ceil_mode does.")
@click.option("--avg", "average", is_flag=True, help="Average pooling instead of max pooling.")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="A table, JSON, or Markdown.")
def pool(size: Any, channels: int, values: str | None, windows: bool, kernel: Any, stride: Any, padding: Any,
         ceil_mode: bool, average: bool, fmt: str) -> None:
    """One pooling layer from flags: its size and counts, with the formulas worked; or, with
    --values, max or average pooling computed on a matrix of numbers.

    The lecture's overlapping pooling: cnncalc pool --size 55 --channels 96 --kernel 3 --stride 2
    """
    if values is not None:
        if size is not None or channels != 1:
            raise click.UsageError("--size and --channels do not go with --values: the matrix is one "
                                   "channel and gives the size")
        if fmt == "markdown":
            raise click.UsageError("--values prints a table or JSON; --format markdown is for a layer's "
                                   "counts")
        _pool_numbers(values, kernel, stride, padding, ceil_mode, average, windows, fmt)
        return
    if windows:
        raise click.UsageError("--windows goes with --values (it writes out each window of the numbers)")
    if size is None:
        raise click.UsageError("give --size (the input J or JxK), or --values to pool numbers")
    height, width = _sizes(size)
    kind = "avgpool2d" if average else "maxpool2d"
    layer = {"type": kind, "name": "pool", "kernel_size": kernel, "stride": stride, "padding": padding,
             "ceil_mode": ceil_mode}
    pool_h, pool_w = _sizes(kernel)
    step = _sizes(stride) if stride is not None else (pool_h, pool_w)
    symbols = [_symbols(("J", "K"), size), f"F = {_times(kernel)}", f"s = {_times(list(step))}"]
    if padding not in (0, [0, 0]):
        symbols.append(f"P = {_times(padding)}")
    heading = (f"{'average' if average else 'max'} pooling on a {height}×{width} input with "
               f"{plural(channels, 'channel')} ({', '.join(symbols)})")
    _show_one(_one_layer([channels, height, width], layer, "cnncalc pool"), heading, fmt)


def _pool_numbers(values: str, kernel: Any, stride: Any, padding: Any, ceil_mode: bool, average: bool,
                  windows: bool, fmt: str) -> None:
    from cnncalc.lecture.numeric import parse_matrix, pool_values
    from cnncalc.render.numeric import pooling_group, pooling_json

    def pair(value: Any) -> Any:
        return value if value is None or isinstance(value, int) else tuple(value)

    result = pool_values(parse_matrix(values, "--values"), pair(kernel), pair(stride), pair(padding),
                         ceil_mode=ceil_mode, mode="avg" if average else "max", windows=windows)
    if fmt == "json":
        click.echo(pooling_json(result), nl=False)
        return
    from cnncalc.cli.console import print_renderable

    print_renderable(pooling_group(result), soft_wrap=True)
