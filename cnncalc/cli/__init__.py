"""The command line: thin click commands over the library.

The command layer (this module, the lazily loaded ``cnncalc/commands/``, and
``cnncalc/console.py`` which they print through) is the only code that prints or
exits; the library below it returns values and renderables. Every user mistake
arrives here as a :class:`~cnncalc.errors.CnncalcError` and leaves as its
messages on standard error with exit status 2 (see :class:`_Cli`, the one place
that does this); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import gc
import importlib
from typing import Any

import click

from cnncalc.errors import CnncalcError, Issue, SpecError
from cnncalc.spec import bundled
from cnncalc.text import printable
from cnncalc.version import __version__

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
FORMATS = ("table", "json", "csv", "markdown", "html")  # cnncalc.report.Report.render's, without importing it


# Commands that live in their own modules, imported only when run (or listed in --help), so
# that `cnncalc analyze` never pays for them. Each value is "module:function".
LAZY_COMMANDS: dict[str, str] = {
    "check": "cnncalc.cli.commands.exercises:check",
    "explain": "cnncalc.cli.commands.exercises:explain",
    "conv": "cnncalc.cli.commands.exercises:conv",
    "pool": "cnncalc.cli.commands.exercises:pool",
    "quiz": "cnncalc.cli.commands.quiz:quiz",
    "verify": "cnncalc.cli.commands.verify:verify",
    "export": "cnncalc.cli.commands.export:export",
    "solve": "cnncalc.cli.commands.solve:solve",
    "softmax": "cnncalc.cli.commands.numeric:softmax",
    "convolve": "cnncalc.cli.commands.numeric:convolve",
    "draw": "cnncalc.cli.commands.draw:draw",
    "import": "cnncalc.cli.commands.import_:import_",
}


class _Cli(click.Group):
    """The one place where user errors become messages and exit codes; loads commands lazily."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, _, name = LAZY_COMMANDS[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), name)
            return command
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CnncalcError as err:
            # One line each, whatever a layer or file is called: a newline or a terminal escape in a
            # name is shown as \n or \x1b, never obeyed.
            for message in err.messages():
                click.echo(printable(message), err=True)
            ctx.exit(EXIT_USAGE)


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnncalc")
def cli() -> None:
    """Every size and count of a convolutional network, from a YAML spec.

    SPEC is a YAML file or the name of a bundled architecture (see
    `cnncalc list`). Exit status: 0 fine, 1 a check failed, 2 bad input.
    """


@cli.command()
@click.argument("spec")
@click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="Output format: a rich table, JSON/CSV/Markdown for scripts and notes, or one "
                   "self-contained HTML page (drawing, sortable table, worked formulas, charts).")
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit status 2).")
@click.option("--width", type=click.IntRange(40, 1000), default=None,
              help="Table width in characters [default: the terminal's, or 160 when piped]; "
                   "columns that do not fit are hidden, never cut.")
@click.option("--depth", type=click.IntRange(1, 64), default=None,
              help="Fold every block call nested deeper than this into one row with its sums "
                   "(1: the top-level blocks only, as torchinfo's depth).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the report to this file [default: standard output].")
@click.option("--input", "shape", default=None, metavar="C,H,W",
              help="Analyse a PyTorch model instead: SPEC is then FILE.py:NAME or package.module:NAME, "
                   "imported as `cnncalc import` does, at this input size.")
@click.option("--args", "args", multiple=True, metavar="JSON|NAME=VALUE",
              help="With --input: keyword arguments for the model's class or factory.")
@click.option("--leaf", "leaves", multiple=True, metavar="MODULE_TYPE",
              help="With --input: keep modules of this type whole, as `cnncalc import --leaf` does.")
def analyze(spec: str, fmt: str, strict: bool, width: int | None, depth: int | None,
            output: str | None, shape: str | None, args: tuple[str, ...], leaves: tuple[str, ...]) -> None:
    """Report every layer of SPEC: shapes, weights per neuron, neurons,
    connections, parameters, MACs, memory and receptive field.

    SPEC is a YAML file, a bundled name such as `alexnet`, or - for standard input; with
    --input, a PyTorch model (FILE.py:NAME), imported without writing a file.
    """
    from cnncalc.analysis.walk import analyze as run_analysis
    from cnncalc.report import Report
    from cnncalc.spec.loader import load_spec

    if shape is not None:
        from cnncalc.cli.commands.import_ import input_shape, model_spec, parse_args

        size = input_shape(None, None, shape)
        assert size is not None
        loaded = load_spec(model_spec(spec, size, parse_args(None, None, args), leaves=leaves))
    elif args or leaves:
        raise click.UsageError(f"{'--args' if args else '--leaf'} is for a model, with --input")
    else:
        loaded = load_spec(spec)
    report = full = Report.of(run_analysis(loaded))
    if depth is not None:
        from cnncalc.analysis.fold import fold

        report = fold(report, depth)
    if strict and report.warnings:
        lines = report.lines
        raise SpecError([Issue(f"warning (--strict): {w.message}", line=lines.get(w.layer),
                               layer=w.layer, index=w.index) for w in report.warnings],
                        loaded.source)
    if output is not None or fmt == "html":
        from cnncalc.cli.commands.draw import write_output

        if fmt == "html":  # every row, so that the page can unfold what depth folds at first
            from cnncalc.render.html import report_html

            text = report_html(full, depth)
        else:
            text = report.render(fmt, width=width)
        if output is None:
            click.echo(text, nl=False, color=True)
            return
        write_output(output, text)
        click.echo(f"wrote {output}", err=True)
        if fmt == "csv":
            from cnncalc.render.report import warning_line

            for warning in report.warnings:
                click.echo(f"warning: {warning_line(warning)}", err=True)
        return
    if fmt != "table":
        # Data, written as it is: JSON escapes control characters and Markdown shows them as \x1b,
        # but CSV keeps the true name, which click would otherwise strip of what looks like colour.
        click.echo(report.render(fmt), nl=False, color=True)
        if fmt == "csv":  # JSON and Markdown hold the warnings; CSV has no place for them
            from cnncalc.render.report import warning_line

            for warning in report.warnings:
                click.echo(f"warning: {warning_line(warning)}", err=True)
        return
    from cnncalc.cli.console import print_renderable

    print_renderable(report, width)


@cli.command("list")
def list_architectures() -> None:
    """List the bundled architectures with their input and parameter count."""
    from rich.table import Table

    from cnncalc.analysis.walk import analyze as run_analysis
    from cnncalc.cli.console import print_renderable
    from cnncalc.spec.loader import load_spec

    table = Table("name", "input", "parameters", "description", header_style="bold")
    for name in bundled.names():
        loaded = load_spec(bundled.directory() / f"{name}.yaml")
        report = run_analysis(loaded)
        table.add_row(name, "×".join(map(str, report.input_shape)),
                      f"{report.totals.parameters:,}", report.description or "")
    print_renderable(table)


@cli.command()
def schema() -> None:
    """Print the spec's JSON Schema, for completion and checking in an editor.

    It accepts exactly the spellings cnncalc accepts: the lecture's aliases, and type and
    activation names in any case, with '_', '-' or spaces.
    """
    import json

    from cnncalc.spec.models import json_schema

    click.echo(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def main() -> None:
    # Each command is a short-lived process that allocates many objects while pydantic builds the
    # spec models; the cyclic collector would run over them repeatedly for nothing (about 9 ms of
    # a cold start, benchmarks/startup.py --explain). Reference counting still frees memory, and
    # the work a command can be asked for is bounded (the loader's limits).
    gc.disable()
    cli(prog_name="cnncalc")
