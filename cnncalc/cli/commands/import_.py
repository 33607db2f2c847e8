"""``cnncalc import``: a PyTorch model as a spec (see :mod:`cnncalc.pytorch.importer`)."""

from __future__ import annotations

import json
from typing import Any

import click

__all__ = ["import_", "input_shape", "model_spec", "parse_args"]


def input_shape(ctx: click.Context | None, param: click.Parameter | None,
                value: str | None) -> tuple[int, ...] | None:
    """``3,224,224`` (or ``3x224x224``) as three positive sizes."""
    if value is None:
        return None
    parts = value.replace("x", ",").replace("×", ",").split(",")
    try:
        shape = tuple(int(part) for part in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise click.BadParameter(f"{value!r}: give C,H,W, three positive sizes such as 3,224,224")
    return shape


def parse_args(ctx: click.Context | None, param: click.Parameter | None,
               values: tuple[str, ...]) -> dict[str, Any]:
    """The factory's keyword arguments: a JSON object, or ``k=v`` pairs whose values are read as
    JSON where they can be (``num_classes=10``, ``widths=[1,2]``) and as text otherwise."""
    found: dict[str, Any] = {}
    for value in values:
        if value.lstrip().startswith("{"):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError as err:
                raise click.BadParameter(f"{value!r} is not a JSON object: {err.msg}") from None
            if not isinstance(parsed, dict):
                raise click.BadParameter(f"{value!r} is not a JSON object")
            found.update(parsed)
            continue
        key, sep, text = value.partition("=")
        if not sep or not key.isidentifier():
            raise click.BadParameter(f"{value!r}: give NAME=VALUE or a JSON object")
        try:
            found[key] = json.loads(text)
        except json.JSONDecodeError:
            found[key] = text
    return found


LEAF_HELP = ("Keep modules of this type whole (MyBlock or my_models.MyBlock): one opaque layer each, "
             "its parameters counted and its output shape traced; may be repeated.")


def model_spec(reference: str, shape: tuple[int, ...], args: dict[str, Any],
               blocks: bool = True, leaves: tuple[str, ...] = ()) -> dict[str, Any]:
    """The spec of the model ``reference`` names (``FILE.py:NAME`` or ``package.module:NAME``)."""
    from cnncalc.pytorch.importer import from_module, load_model

    if reference.lower().endswith(".onnx"):
        if leaves:
            raise click.UsageError("--leaf is for a PyTorch model; an ONNX file has no module types")
        from cnncalc.pytorch.onnx_import import from_onnx

        return from_onnx(reference, blocks=blocks)
    model = load_model(reference, args)
    return from_module(model, shape, name=reference.rpartition(":")[2], blocks=blocks, leaves=leaves)


@click.command("import")
@click.argument("model")
@click.option("--input", "shape", default=None, callback=input_shape, metavar="C,H,W",
              help="The input's channels, height and width, such as 3,224,224 (not for an ONNX file, "
                   "whose input has its size).")
@click.option("--args", "args", multiple=True, callback=parse_args, metavar="JSON|NAME=VALUE",
              help="Keyword arguments for the class or factory: a JSON object or NAME=VALUE "
                   "(values read as JSON where they can be); may be repeated.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Write the spec to this file [default: standard output].")
@click.option("--flat", is_flag=True,
              help="One entry per layer: no blocks for submodule types used more than once.")
@click.option("--leaf", "leaves", multiple=True, metavar="MODULE_TYPE", help=LEAF_HELP)
def import_(model: str, shape: tuple[int, ...], args: dict[str, Any], output: str | None,
            flat: bool, leaves: tuple[str, ...]) -> None:
    """Write the spec of a PyTorch model: MODEL is FILE.py:NAME or package.module:NAME, a
    module class, a factory or a module instance.

    The model is traced with torch.fx (no forward pass on real data): layer names are the
    model's module paths, and functional operations (x + y, torch.cat, F.relu,
    torch.flatten) are layers too. A submodule type used more than once is a block, and
    numbered instances in a row (ResNet's layer1.0, layer1.1) one call with repeat; the
    layer names stay the module paths (--flat: one entry per layer). What no spec can say
    (a custom operation, control flow that depends on the data) is named with its module
    path and source line, exit 2; --leaf keeps a custom module whole as an opaque layer
    (analyze counts its parameters and output; verify and export refuse it).
    Needs PyTorch: pip install "cnncalc[torch]". MODEL may also be an ONNX file (model.onnx;
    pip install "cnncalc[onnx]", no torch needed).
    """
    from cnncalc.spec.writer import spec_yaml

    onnx = model.lower().endswith(".onnx")
    if shape is None and not onnx:
        raise click.UsageError("--input C,H,W is needed for a PyTorch model")
    if onnx and (shape is not None or args):
        raise click.UsageError("an ONNX file's input has its size: no --input or --args")
    spec = model_spec(model, shape or (), args, blocks=not flat, leaves=leaves)
    text = spec_yaml(spec, header=f"cnncalc import {model}"
                     + (f" --input {','.join(map(str, shape))}" if shape else "")
                     + "".join(f" --leaf {leaf}" for leaf in leaves))
    if output is None:
        click.echo(text, nl=False)
        return
    from cnncalc.cli.commands.draw import write_output

    write_output(output, text)
    blocks = len(spec.get("blocks", {}))
    click.echo(f"wrote {output}: {len(spec['layers'])} entries"
               + (f", {blocks} block{'s' if blocks != 1 else ''}" if blocks else ""), err=True)
