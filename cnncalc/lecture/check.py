"""Marking a student's answers against the analysis, with the formula worked for each.

An answers file names layers and the quantities asked about (contract §3)::

    C1:
      output_size: 28          # the width, as the lecture asks it
      weights_per_neuron: 76
      connections: 357,504     # thousands separators are fine
    totals:
      parameters: 61706

Loading is as strict as for a spec: safe YAML, every problem located by line,
and a did-you-mean for a misspelt layer or metric. Two things are not refused
but marked: a blank answer (``neurons:`` with no value, or ``""``) is
unanswered, and an answer that is not a number or a shape is malformed; each
is wrong, for that question only.

A block call's path (``layer2.0``, ``inception3a``) may be answered too: its
``parameters`` (and ``neurons``, ``connections``, ``macs``) are the sums over
the layers inside it, its ``output_channels``, ``output_size`` and
``output_shape`` those of its last layer. An optional ``student:`` field names
the student in a gradebook.

Question numbers: where every answer's line carries the quiz template's
``# N.`` comment (``neurons:  # 3. How many neurons?``), N is its number, as on
the quiz sheet; otherwise the answers are numbered in file order from 1.
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

__all__ = ["ANSWERABLE", "Answered", "Malformed", "Mark", "Marking", "check", "load_answered", "load_answers",
           "parse_answer"]

# What an answers file may ask about, per layer and for the whole network.
ANSWERABLE = ("output_shape", "output_size", "output_height", "output_channels", "weights_per_neuron",
              "neurons", "connections", "parameters", "macs")
TOTALS = ("parameters", "neurons", "connections", "macs")
TOTALS_KEY = "totals"
STUDENT_KEY = "student"
CALL_ANSWERABLE = ("output_shape", "output_size", "output_height", "output_channels", "neurons",
                   "connections", "parameters", "macs")


@dataclass(frozen=True)
class Malformed:
    """An answer that is neither a number nor a shape: marked wrong, with why."""

    text: str  # as written
    message: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Mark:
    """One answer, marked."""

    layer: str  # a layer name, or "totals"
    index: int | None  # the layer's 1-based position; None for totals
    metric: str
    given: Any
    expected: Any
    worked: Worked | None  # the formula with numbers, where the lecture has one
    number: int = 0  # the question's number, as on the quiz sheet (or in file order)

    @property
    def blank(self) -> bool:
        """Unanswered: the value was left empty."""
        return self.given is None

    @property
    def malformed(self) -> bool:
        return isinstance(self.given, Malformed)

    @property
    def right(self) -> bool:
        return not self.blank and not self.malformed and bool(self.given == self.expected)


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


@dataclass(frozen=True)
class Answered:
    """An answers file, read: the answers, each one's line and question number, the student."""

    answers: Answers
    lines: dict[tuple[str, str], int]
    numbers: dict[tuple[str, str], int]
    student: str | None = None


@dataclass(frozen=True)
class Targets:
    """What an answers file may name in one spec: layers by path or #position, block calls, totals."""

    names: list[str]
    positions: dict[str, int]
    calls: frozenset[str]
    spec_name: str

    @classmethod
    def of(cls, spec: Spec, report: Report) -> Targets:
        names = [row.name for row in report.rows]  # the layers' paths
        calls = frozenset(call for row in report.rows for call in row.calls) - set(names)
        return cls(names, {name: position for position, name in enumerate(names, 1)}, calls,
                   spec.name or "the spec")


def load_answers(path: str | Path, spec: Spec, report: Report | None = None) -> tuple[
        Answers, dict[tuple[str, str], int]]:
    """Read and validate an answers file against the spec's layers.

    Returns the answers as {layer: {metric: value}} with values parsed
    (ints, or shape tuples; None for a blank answer, :class:`Malformed` for one
    that is not a number), and the YAML line of each answer for messages.
    Raises :class:`SpecError` listing every problem.
    """
    answered = load_answered(path, Targets.of(spec, report or analyze(spec)))
    return answered.answers, answered.lines


_NUMBERED = re.compile(r"#\s*(\d{1,6})\.")


def load_answered(path: str | Path, targets: Targets) -> Answered:
    """:func:`load_answers` with the question numbers and the ``student:`` field."""
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
    names, positions = targets.names, targets.positions
    nodes = _keys(root)  # key → (key node, value node), built once: no rescans per answer
    answers: dict[str, dict[str, Any]] = {}
    first_line: dict[str, int | None] = {}
    lines: dict[tuple[str, str], int] = {}
    key_lines: dict[tuple[str, str], int] = {}
    issues: list[Issue] = []
    student: str | None = None
    for written, asked in data.items():
        key_node, value_node = nodes.get(str(written), (None, None))
        layer_line = _line(key_node)
        if written == STUDENT_KEY and STUDENT_KEY not in positions:
            if (asked is not None and not isinstance(asked, (str, int))) or isinstance(asked, bool):
                issues.append(Issue(f"student: is a name such as \"Ada Lovelace\"; got {show(asked)}",
                                    line=layer_line))
            elif asked is not None and str(asked).strip():
                student = str(asked).strip()
            continue
        layer = _layer_named(written, names, positions, targets.calls)
        index = positions.get(layer) if layer is not None else None
        if layer is None:
            close = difflib.get_close_matches(str(written), names, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"the layers are: {', '.join(names)}"
            issues.append(Issue(f"no layer named {show(written)} in {targets.spec_name}; {hint}",
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
        allowed = (TOTALS if layer == TOTALS_KEY else CALL_ANSWERABLE if layer in targets.calls
                   else ANSWERABLE)
        answers[layer] = {}
        first_line[layer] = layer_line
        metric_nodes = _keys(value_node)
        for metric, value in asked.items():
            metric_key, metric_value = metric_nodes.get(str(metric), (None, None))
            line = _line(metric_value) or layer_line
            if metric not in allowed:
                close = difflib.get_close_matches(str(metric), allowed, n=1, cutoff=0.6)
                hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(allowed)}"
                what = " of a block call" if layer in targets.calls else ""
                issues.append(Issue(f"unknown quantity{what} {show(metric)}; {hint}", layer=layer,
                                    index=index, line=_line(metric_key) or layer_line))
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                answers[layer][metric] = None  # unanswered: wrong, not an error
            else:
                try:
                    answers[layer][metric] = parse_answer(metric, value)
                except ValueError as err:
                    answers[layer][metric] = Malformed(value if isinstance(value, str) else show(value),
                                                       str(err))
            lines[(layer, metric)] = line or 0
            key_lines[(layer, metric)] = _line(metric_key) or line or 0
    if issues:
        raise SpecError(sorted(issues, key=lambda i: i.line or 0), where)
    return Answered(answers, lines, _numbers(Path(path), key_lines), student)


def _numbers(path: Path, key_lines: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Each answer's question number: the template's ``# N.`` where every answer has one (and no
    two share one), else its position in the file."""
    in_order = list(key_lines)
    if not in_order:
        return {}
    text = path.read_text(encoding="utf-8-sig").splitlines()  # read_yaml has read it: it is UTF-8
    numbered: dict[tuple[str, str], int] = {}
    for answer, line in key_lines.items():
        comment = text[line - 1].partition("#")[2] if 0 < line <= len(text) else ""
        found = _NUMBERED.match("#" + comment) if comment else None
        if found is None:
            break
        numbered[answer] = int(found.group(1))
    if len(numbered) == len(in_order) and len(set(numbered.values())) == len(numbered):
        return numbered
    return {answer: position for position, answer in enumerate(in_order, 1)}


def _keys(node: Any) -> dict[str, tuple[Any, Any]]:
    """A YAML mapping node's keys → (key node, value node), for line numbers in one pass."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(key.value): (key, value) for key, value in node.value if isinstance(key, yaml.ScalarNode)}


def _line(node: Any) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _layer_named(written: Any, names: list[str], positions: dict[str, int],
                 calls: frozenset[str] = frozenset()) -> str | None:
    """A layer as an answers file names it: its name, ``#3`` (its position), a block call's path,
    or ``totals``."""
    if not isinstance(written, str):
        return None
    if written in positions or written == TOTALS_KEY or written in calls:
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


def check(spec: Spec, report: Report, answers: Mapping[str, Mapping[str, Any]],
          numbers: Mapping[tuple[str, str], int] | None = None) -> Marking:
    """Mark every answer against the report; wrong ones carry the worked formula.

    ``numbers`` gives each answer's question number; without it, file order.
    """
    return Marker(report).mark(answers, numbers)


class Marker:
    """Marks answers files against one report, working each layer's formulas once for them all."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.rows = {row.name: (layer, row) for layer, row in zip(report.layers, report.rows, strict=True)}
        self._worked: dict[str, dict[str, Worked]] = {}

    def mark(self, answers: Mapping[str, Mapping[str, Any]],
             numbers: Mapping[tuple[str, str], int] | None = None) -> Marking:
        marks: list[Mark] = []
        for layer_name, asked in answers.items():
            for metric, given in asked.items():
                number = (numbers or {}).get((layer_name, metric), len(marks) + 1)
                index, expected, worked = self.expected(layer_name, metric)
                marks.append(Mark(layer_name, index, metric, given, expected, worked, number))
        return Marking(marks)

    def expected(self, target: str, metric: str) -> tuple[int | None, Any, Worked | None]:
        """The right answer to ``metric`` of a layer, a block call or the totals, with its working."""
        if target in self.rows:
            _, row = self.rows[target]
            return row.index, _expected(metric, row), self.worked(target).get(metric)
        if target == TOTALS_KEY:
            total = getattr(self.report.totals, metric)
            return None, total, Worked(metric, f"sum of the layers' {metric}",
                                       " + ".join(f"{getattr(r, metric):,}" for r in self.report.rows
                                                  if getattr(r, metric)) + f" = {total:,}", total)
        return None, *self._call(target, metric)

    def worked(self, name: str) -> dict[str, Worked]:
        if name not in self._worked:
            layer, row = self.rows[name]
            worked = {w.metric: w for w in explain_layer(layer, row)}
            if "output_shape" in worked and "output_size" in worked:
                # A shape is the channels and the worked width: show the working, not just the shape.
                size = worked["output_size"]
                shape = worked["output_shape"]
                worked["output_shape"] = Worked(
                    "output_shape", f"channels × height × width; width {size.formula}",
                    f"{shape.worked}; width {size.worked}", shape.value, size.note)
            self._worked[name] = worked
        return self._worked[name]

    def _call(self, call: str, metric: str) -> tuple[Any, Worked | None]:
        """A block call: its counts summed over its layers, its shape that of its last layer."""
        inside = [row for row in self.report.rows if call in row.calls]
        if metric in ("parameters", "neurons", "connections", "macs"):
            total = sum(getattr(row, metric) for row in inside)
            terms = [(row, self.worked(row.name).get(metric)) for row in inside if getattr(row, metric)]
            local = [row.name.removeprefix(call + ".") for row, _ in terms]
            steps = [_before_result(w.worked) if w is not None else f"{getattr(row, metric):,}"
                     for row, w in terms]
            joined = " + ".join(f"({step})" if len(terms) > 1 and any(c in step for c in "+−") else step
                                for step in steps)
            return total, Worked(metric, " + ".join(local) or "0",
                                 (joined + f" = {total:,}") if terms else "0", total,
                                 f"the {metric} of the layers inside {call}, added")
        last = inside[-1]
        worked = self.worked(last.name).get(metric)
        if worked is not None:
            worked = Worked(metric, worked.formula, worked.worked, worked.value,
                            f"{call}'s output is its last layer's, {last.name}")
        return _expected(metric, last), worked


def _before_result(worked: str) -> str:
    """``64 × 288 = 18,432`` → ``64 × 288``: the arithmetic without its result."""
    head, sep, _ = worked.rpartition(" = ")
    return head if sep else worked


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
