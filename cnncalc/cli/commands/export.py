"""``cnncalc export``: a spec as standalone source code (PyTorch for now).

A thin click command over :mod:`cnncalc.pytorch.export`, which writes the code as text
without importing torch.
"""

from __future__ import annotations

import importlib.util

import click

from cnncalc.errors import TorchMissingError
from cnncalc.pytorch.export import TARGETS, class_name_error
from cnncalc.pytorch.export import export as write_code
from cnncalc.spec.loader import load_spec

__all__ = ["export"]


def _class_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    problem = None if value is None else class_name_error(value)
    if problem:
        raise click.BadParameter(f"{value!r} {problem}")
    return value


@click.command()
@click.argument("spec")
@click.option("--to", "target", type=click.Choice(TARGETS), default="torch", show_default=True,
              help="What to write: torch, a PyTorch nn.Module class.")
@click.option("--class-name", default=None, callback=_class_name,
              help="The class's name [default: the spec's name in CamelCase, such as LeNet5].")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the code to this file [default: standard output].")
def export(spec: str, target: str, class_name: str | None, output: str | None) -> None:
    """Write SPEC as standalone source code to paste into a project.

    `--to torch` writes one nn.Module class (with any of LeNet-5's own layers it
    needs) whose docstring lists every layer's output shape and parameters, and
    whose state_dict() keys are those of cnncalc's own torch build of SPEC. The
    code needs only torch, not cnncalc. Like verify, export needs PyTorch installed:
    pip install "cnncalc[torch]".

    SPEC is a YAML file, a bundled name such as `lenet5`, or - for standard input.
    """
    # The text is written without importing torch, but the code is for a PyTorch project, so
    # (as the contract has it for verify and export) a machine without torch is told to add it.
    if importlib.util.find_spec("torch") is None:
        raise TorchMissingError()
    code = write_code(load_spec(spec), target, class_name)
    if output is None:
        click.echo(code, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as file:
            file.write(code)
    except OSError as err:
        raise click.BadParameter(f"cannot write {output}: {err.strerror}",
                                 param_hint="'-o' / '--output'") from None
    click.echo(f"wrote {output}", err=True)
