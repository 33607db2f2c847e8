"""Marking a student's answers against the analysis, with the formula worked for each.

An answers file names layers and the quantities asked about (contract §3)::

    C1:
      output_size: 28          # the width, as the lecture asks it
      weights_per_neuron: 76
      connections: 357,504     # thousands separators are fine
    totals:
      parameters: 61706

Loading is as strict as for a spec: safe YAML, every problem located by line,
and a did-you-mean for a misspelt layer or metric.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cnncalc.analysis.walk import LayerRow, Report, analyze
from cnncalc.errors import Issue, SpecError
from cnncalc.lecture.worked import METRICS, Worked, explain_layer
from cnncalc.spec.loader import read_yaml
from cnncalc.spec.models import Spec, show

__all__ = ["ANSWERABLE", "Mark", "Marking", "check", "load_answers", "parse_answer"]

# What an answers file may ask about, per layer and for the whole network.
ANSWERABLE = ("output_shape", "output_size", "output_height", "output_channels", "weights_per_neuron",
              "neurons", "connections", "parameters", "macs")
TOTALS = ("parameters", "neurons", "connections", "macs")
TOTALS_KEY = "totals"


@dataclass(frozen=True)
class Mark:
    """One answer, marked."""

    layer: str  # a layer name, or "totals"
    index: int | None  # the layer's 1-based position; None for totals
    metric: str
    given: Any
    expected: Any
    worked: Worked | None  # the formula with numbers, where the lecture has one

    @property
    def right(self) -> bool:
        return bool(self.given == self.expected)


@dataclass(frozen=True)
class Marking:
    """All answers of one file, marked, in the file's order."""

    marks: list[Mark] = field(default_factory=list)

    @property
    def right(self) -> int:
        return sum(mark.right for mark in self.marks)

    @property
    def total(self) -> int:
        return len(self.marks)

    @property
    def all_right(self) -> bool:
        return self.right == self.total


Answers = dict[str, dict[str, Any]]


def load_answers(path: str | Path, spec: Spec, report: Report | None = None) -> tuple[
        Answers, dict[tuple[str, str], int]]:
    """Read and validate an answers file against the spec's layers.

    Returns the answers as {layer: {metric: value}} with values parsed
    (ints, or shape tuples), and the YAML line of each answer for messages.
    Raises :class:`SpecError` listing every problem.
    """
    where = str(path)
    if not where.strip():  # Path("") is the current folder, which would be "not a file"
        raise SpecError([Issue("the ANSWERS argument is empty; give the answers file (a YAML file "
                               "mapping layer names to answers)")], repr(where))
    if not Path(path).is_file():
        raise SpecError([Issue("no such answers file" if not Path(path).exists() else "is not a file")],
                        where)
    data, root = read_yaml(Path(path))
    if not isinstance(data, Mapping) or not data:
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError([Issue(f"an answers file maps layer names to answers, e.g. C1: {{neurons: 4704}}; "
                               f"got {got}")], where)
    if {"input", "layers"} <= set(data):
        raise SpecError([Issue("this is a spec, not an answers file; the spec comes first: "
                               "cnncalc check SPEC ANSWERS")], where)
    names = [row.name for row in (report or analyze(spec)).rows]  # the layers' paths
    positions = {name: position for position, name in enumerate(names, 1)}
    nodes = _keys(root)  # key → (key node, value node), built once: no rescans per answer
    answers: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int | None] = {}
    lines: dict[tuple[str, str], int] = {}
    issues: list[Issue] = []
    for written, asked in data.items():
        key_node, value_node = nodes.get(str(written), (None, None))
        layer_line = _line(key_node)
        layer = _layer_named(written, names, positions)
        index = positions.get(layer) if layer is not None else None
        if layer is None:
            close = difflib.get_close_matches(str(written), names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the layers are: {', '.join(names)}"
            issues.append(Issue(f"no layer named {show(written)} in {spec.name or 'the spec'}; {hint}",
                                line=layer_line))
            continue
        if not isinstance(asked, Mapping):
            issues.append(Issue(f"the answers must be a mapping such as {{neurons: 4704}}; got {show(asked)}",
                                line=layer_line, layer=layer, index=index))
            continue
        if layer in answers:
            issues.append(Issue(f"answered twice (first on line {first_line[layer]}); keep one",
                                line=layer_line, layer=layer, index=index))
            continue
        allowed = TOTALS if layer == TOTALS_KEY else ANSWERABLE
        answers[layer] = {}
        first_line[layer] = layer_line
        metric_nodes = _keys(value_node)
        for metric, value in asked.items():
            metric_key, metric_value = metric_nodes.get(str(metric), (None, None))
            line = _line(metric_value) or layer_line
            if metric not in allowed:
                close = difflib.get_close_matches(str(metric), allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(allowed)}"
                issues.append(Issue(f"unknown quantity {show(metric)}; {hint}", layer=layer, index=index,
                                    line=_line(metric_key) or layer_line))
                continue
            try:
                answers[layer][metric] = parse_answer(metric, value)
            except ValueError as err:
                issues.append(Issue(f"{metric}: {err}", line=line, layer=layer, index=index))
                continue
            lines[(layer, metric)] = line or 0
    if issues:
        raise SpecError(sorted(issues, key=lambda i: i.line or 0), where)
    return answers, lines


def _keys(node: Any) -> dict[str, tuple[Any, Any]]:
    """A YAML mapping node's keys → (key node, value node), for line numbers in one pass."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _line(node: Any) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _layer_named(written: Any, names: list[str], positions: dict[str, int]) -> str | None:
    """A layer as an answers file names it: its name, ``#3`` (its position), or ``totals``."""
    if not isinstance(written, str):
        return None
    if written in positions or written == TOTALS_KEY:
        return written
    match = re.fullmatch(r"#(\d+)", written.strip())
    if match and 1 <= int(match.group(1)) <= len(names):
        return names[int(match.group(1)) - 1]
    return None


_SEPARATORS = re.compile(r"(?<=\d)[,_ \u2009\u202f'](?=\d{3}\b)")


def parse_answer(metric: str, value: Any) -> Any:
    """An answer as written to an int (or a shape tuple), accepting 357,504 and "6×28×28"."""
    if metric == "output_shape":
        if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                     for v in value):
            return tuple(value)
        if isinstance(value, str):
            parts = re.split(r"\s*[x×*,]\s*", value.strip().strip("()[]").strip())
            if all(p.isdigit() for p in parts):
                return tuple(int(p) for p in parts)
        raise ValueError(f"write a shape as [channels, height, width] or \"6×28×28\"; got {show(value)}")
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number; got {show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = _SEPARATORS.sub("", value.strip())
        if re.fullmatch(r"-?\d{1,40}", text):
            return int(text)
    raise ValueError(f"must be a whole number such as 357504 or \"357,504\"; got {show(value)}")


def check(spec: Spec, report: Report, answers: Mapping[str, Mapping[str, Any]]) -> Marking:
    """Mark every answer against the report; wrong ones carry the worked formula."""
    rows = {row.name: (layer, row) for layer, row in zip(report.layers, report.rows, strict=True)}
    marks = []
    for layer_name, asked in answers.items():
        if layer_name == TOTALS_KEY and layer_name not in rows:
            for metric, given in asked.items():
                total = getattr(report.totals, metric)
                marks.append(Mark(TOTALS_KEY, None, metric, given, total,
                                  Worked(metric, f"sum of the layers' {metric}",
                                         " + ".join(f"{getattr(r, metric):,}" for r in report.rows
                                                    if getattr(r, metric)) + f" = {total:,}", total)))
            continue
        layer, row = rows[layer_name]
        worked = {w.metric: w for w in explain_layer(layer, row)}
        if "output_shape" in worked and "output_size" in worked:
            # A shape is the channels and the worked width: show the working, not just the shape.
            size = worked["output_size"]
            shape = worked["output_shape"]
            worked["output_shape"] = Worked(
                "output_shape", f"channels × height × width; width {size.formula}",
                f"{shape.worked}; width {size.worked}", shape.value, size.note)
        for metric, given in asked.items():
            expected = _expected(metric, row)
            marks.append(Mark(layer_name, row.index, metric, given, expected, worked.get(metric)))
    return Marking(marks)


def _expected(metric: str, row: LayerRow) -> Any:
    if metric == "output_shape":
        return tuple(row.output_shape)
    if metric == "output_channels":  # the channels of a map, the features of a vector
        return row.output_shape[0]
    if metric in ("output_size", "output_height"):
        if len(row.output_shape) != 3:
            return row.output_shape[-1]
        return row.output_shape[2] if metric == "output_size" else row.output_shape[1]
    return getattr(row, metric)


def metric_label(metric: str) -> str:
    return METRICS.get(metric, metric.replace("_", " "))
