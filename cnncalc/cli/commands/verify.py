"""``cnncalc verify``: build the spec in torch, run it, compare with the analysis, time it."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from cnncalc.pytorch.verification import DTYPES, Timing, Verification
from cnncalc.spec.loader import load_spec
from cnncalc.text import plural, printable

__all__ = ["verify"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": 2**10, "m": 10**6, "mb": 10**6, "mib": 2**20,
          "g": 10**9, "gb": 10**9, "gib": 2**30, "t": 10**12, "tb": 10**12, "tib": 2**40}


class _Bytes(click.ParamType):  # type: ignore[type-arg]
    """A size such as 8GiB, 500MB or 1e9."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        match = re.fullmatch(r"\s*([\d.]+(?:e\d+)?)\s*([a-zA-Z]*)\s*", str(value))
        if match and match.group(2).lower() in _UNITS:
            try:
                return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
            except (ValueError, OverflowError):
                pass
        self.fail(f"write a size such as 8GiB, 500MB or 2000000000; got {value!r}", param, ctx)


@click.command()
@click.argument("spec")
@click.option("--device", default="auto", show_default=True,
              help="auto (the GPU when there is one), cpu, cuda or cuda:N.")
@click.option("--dtype", type=click.Choice(tuple(DTYPES)), default="float32", show_default=True,
              help="Parameter and input type.")
@click.option("--batch", type=click.IntRange(1, 1_000_000), default=8, show_default=True,
              help="Images per forward pass.")
@click.option("--runs", type=click.IntRange(1, 10_000), default=50, show_default=True, help="Timed runs.")
@click.option("--warmup", type=click.IntRange(0, 10_000), default=10, show_default=True,
              help="Untimed runs first (cuDNN autotuning, caches).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format for the model and input.")
@click.option("--backward", is_flag=True, help="Time forward + backward as well.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seed for the weights and the input.")
@click.option("--max-memory", type=_Bytes(), default=None,
              help="Refuse runs estimated above this (e.g. 8GiB) [default: the device's free memory].")
@click.option("--force", is_flag=True, help="Run even when the memory estimate does not fit.")
@click.option("-f", "--format", "fmt", type=click.Choice(("table", "json")), default="table",
              show_default=True, help="A table with ✓/✗ per layer and the timing, or JSON.")
@click.pass_context
def verify(ctx: click.Context, spec: str, device: str, dtype: str, batch: int, runs: int, warmup: int,
           channels_last: bool, backward: bool, seed: int, max_memory: int | None, force: bool,
           fmt: str) -> None:
    """Build SPEC in PyTorch, run a batch, and check every layer's output shape and parameter
    count against the analysis; then time the forward pass.

    Exit status: 0 all agree, 1 any layer disagrees, 2 bad input, torch missing, or a run
    the memory guard refuses. Needs PyTorch: pip install "cnncalc[torch]".
    """
    from cnncalc.pytorch.verification import verify as run

    result = run(load_spec(spec), device=device, dtype=dtype, batch=batch, runs=runs, warmup=warmup,
                 channels_last=channels_last, backward=backward, seed=seed, max_memory=max_memory,
                 force=force)
    if fmt == "json":
        click.echo(json.dumps(verification_dict(result), indent=2, ensure_ascii=False))
    else:
        from cnncalc.cli.console import print_renderable

        print_renderable(verification_group(result))
    ctx.exit(0 if result.ok else 1)


def _timing_dict(timing: Timing | None) -> dict[str, Any] | None:
    if timing is None:
        return None
    return {"runs": timing.runs, "warmup": timing.warmup, "median_ms": round(timing.median_ms, 4),
            "min_ms": round(timing.min_ms, 4), "max_ms": round(timing.max_ms, 4),
            "p90_ms": round(timing.p90_ms, 4), "images_per_s": round(timing.images_per_s, 1),
            "tflops": round(timing.tflops, 4),
            "peak_fraction": None if timing.peak_fraction is None else round(timing.peak_fraction, 4),
            "reliable": timing.reliable, "note": timing.note}


def verification_dict(result: Verification) -> dict[str, Any]:
    """The contract's JSON (device, dtype, batch, ok, layers, timing) and more."""
    return {
        "device": result.device, "dtype": result.dtype, "batch": result.batch, "ok": result.ok,
        "channels_last": result.channels_last,
        "layers": [{"name": layer.name, "type": layer.type, "expected_shape": list(layer.expected_shape),
                    "actual_shape": None if layer.actual_shape is None else list(layer.actual_shape),
                    "expected_parameters": layer.expected_parameters,
                    "actual_parameters": layer.actual_parameters, "ok": layer.ok} for layer in result.layers],
        "parameters": {"expected": result.expected_parameters, "actual": result.actual_parameters},
        "error": result.error,
        "timing": _timing_dict(result.timing),
        "backward_timing": _timing_dict(result.backward_timing),
        "memory": {"estimate_bytes": result.memory.total, "parameter_bytes": result.memory.parameter_bytes,
                   "activation_bytes": result.memory.activation_bytes,
                   "peak_allocated_bytes": result.peak_memory_bytes},
        "notes": result.notes,
    }


def _shape(shape: tuple[int, ...] | None) -> str:
    return "—" if shape is None else "×".join(str(s) for s in shape)


def _timing_line(label: str, timing: Timing) -> str:
    peak = f", {100 * timing.peak_fraction:.1f}% of peak" if timing.peak_fraction is not None else ""
    return (f"{label}: median {timing.median_ms:.3f} ms (min {timing.min_ms:.3f}, p90 {timing.p90_ms:.3f}, "
            f"max {timing.max_ms:.3f}) over {plural(timing.runs, 'run')} after {timing.warmup} warm-up; "
            f"{timing.images_per_s:,.0f} images/s, {timing.tflops:.3f} TFLOP/s achieved{peak}")


def verification_group(result: Verification) -> Any:
    """A table with ✓/✗ per layer, then the parameters, the timing and the memory."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    title = (f"{result.device}, {result.dtype}, batch {result.batch}"
             + (", channels-last" if result.channels_last else ""))
    # Names are Text, never a str that rich would read as markup or emoji codes.
    table = Table(title=Text(title, style="table.title"), title_justify="left", header_style="bold")
    for heading in ("#", "layer", "type", "expected", "actual", "params expected", "params actual", ""):
        table.add_column(heading, justify="right" if heading.startswith(("#", "params")) else "left",
                         no_wrap=heading != "layer")
    for index, layer in enumerate(result.layers, 1):
        mark = Text("✓", style="bold green") if layer.ok else Text("✗", style="bold red")
        kind = f"{layer.type}+{layer.activation}" if layer.activation else layer.type
        table.add_row(str(index), Text(printable(layer.name)), kind, _shape(layer.expected_shape),
                      _shape(layer.actual_shape), f"{layer.expected_parameters:,}",
                      f"{layer.actual_parameters:,}", mark)
    parts: list[Any] = [table]
    total_ok = result.expected_parameters == result.actual_parameters
    parts.append(Text(f"parameters: {result.actual_parameters:,} in torch, {result.expected_parameters:,} "
                      f"by analysis {'✓' if total_ok else '✗'}"))
    if result.error:
        parts.append(Text(f"the forward pass failed: {result.error}", style="bold red"))
    bad = [layer.name for layer in result.layers if not layer.ok]
    if bad:
        parts.append(Text(printable(f"disagree: {', '.join(bad)}"), style="bold red"))
    for label, timing in (("forward", result.timing), ("forward + backward", result.backward_timing)):
        if timing:
            parts.append(Text(_timing_line(label, timing)))
            if timing.note:
                parts.append(Text(f"{label} timing unreliable: {timing.note}", style="yellow"))
    memory = f"memory: {_mib(result.memory.total)} estimated from the analysis"
    if result.peak_memory_bytes is not None:
        memory += f", {_mib(result.peak_memory_bytes)} peak allocated (torch.cuda.max_memory_allocated)"
    parts.append(Text(memory))
    parts.extend(Text(f"note: {note}", style="dim") for note in result.notes)
    return Group(*parts)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"
