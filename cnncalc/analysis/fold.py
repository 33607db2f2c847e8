"""Folding a report's blocks: ``--depth N`` shows each block call deeper than N as one row.

As torchinfo's ``depth``: at depth 1 a ResNet is its stem, ``layer1`` … ``layer4`` and its head;
at depth 2 each ``layer1.0`` is a row. A folded row adds up what its layers count (neurons,
connections, parameters, MACs, memory), reads what the block reads and gives what it gives; its
weights per neuron mean nothing for a whole block and are left out. The totals never change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from cnncalc.analysis.walk import LayerRow, Report

R = TypeVar("R", bound=Report)

__all__ = ["fold"]


def fold(report: R, depth: int) -> R:
    """``report`` with every block call nested deeper than ``depth`` (≥ 1) folded into one row."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1; got {depth}")
    graph = report.graph
    if graph is None or not graph.calls:
        return replace(report, depth=depth)
    groups: list[tuple[str | None, list[LayerRow]]] = []
    for row in report.rows:
        key = row.calls[depth - 1] if len(row.calls) >= depth else None
        if key is not None and groups and groups[-1][0] == key:
            groups[-1][1].append(row)
        else:
            groups.append((key, [row]))
    owner = {row.name: key for key, rows in groups if key is not None for row in rows}
    folded = []
    for key, rows in groups:
        if key is None:
            folded.append(replace(rows[0], inputs=_renamed(rows[0].inputs, owner)))
            continue
        inside = {row.name for row in rows}
        reads = [name for row in rows for name in row.inputs if name not in inside]
        call = graph.calls[key]
        first, last = rows[0], rows[-1]
        folded.append(LayerRow(
            index=first.index, name=key,
            type=f"{call.block} ×{call.repeat}" if call.repeat else call.block, activation=None,
            input_shape=first.input_shape, output_shape=last.output_shape,
            weights_per_neuron=0,
            neurons=sum(r.neurons for r in rows), connections=sum(r.connections for r in rows),
            parameters=sum(r.parameters for r in rows), macs=sum(r.macs for r in rows),
            output_bytes=sum(r.output_bytes for r in rows),
            receptive_field=last.receptive_field,
            inputs=_renamed(tuple(dict.fromkeys(reads)), owner),
            calls=first.calls[:depth - 1], global_context=last.global_context,
            layers=sum(r.layers for r in rows),
        ))
    return replace(report, rows=folded, depth=depth)


def _renamed(names: tuple[str, ...], owner: dict[str, str]) -> tuple[str, ...]:
    """Inputs named by the folded row that holds them."""
    return tuple(dict.fromkeys(owner.get(name, name) for name in names))
