"""Marking a class: every answers file in a folder (or given one by one) against one spec.

Each file is marked as ``cnncalc check SPEC FILE`` would mark it, and a file
that cannot be read (missing, not YAML, naming a layer the spec lacks) is
recorded in its own row with the reason: it never stops the others.

The gradebook's questions are every question any submission answered, keyed by
layer and quantity, numbered as the submissions number them (the quiz
template's ``# N.`` comments, else file order; see :mod:`cnncalc.lecture.check`).
Should two different questions come out with one number, the columns are
numbered 1, 2, … in that order instead. A submission that leaves a question out
has it unanswered: blank, and wrong. Scores are out of the number of columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnncalc.analysis.walk import Report
from cnncalc.errors import Issue, SpecError
from cnncalc.lecture.check import Mark, Marker, Marking, Targets, load_answered
from cnncalc.lecture.worked import Worked
from cnncalc.spec.models import Spec

__all__ = ["ANSWER_SUFFIXES", "Column", "Gradebook", "Submission", "answer_files", "mark_class"]

ANSWER_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class Column:
    """One question of the class's sheet."""

    number: int
    layer: str
    metric: str
    expected: Any
    worked: Worked | None


@dataclass(frozen=True)
class Submission:
    """One answers file: marked, or the reason it could not be."""

    path: Path
    student: str | None
    marking: Marking | None
    problem: str | None = None

    @property
    def name(self) -> str:
        """The student's name where the file gives one, else the file's name."""
        return self.student or self.path.name


@dataclass(frozen=True)
class Gradebook:
    """The class's marks: one row per submission, one column per question."""

    spec: Spec
    submissions: list[Submission]
    columns: list[Column]
    _cells: dict[int, list[Mark | None]] = field(default_factory=dict, repr=False)

    def cells(self, position: int) -> list[Mark | None]:
        """The marks of submission ``position`` in column order; None where it has no answer."""
        return self._cells.get(position, [None] * len(self.columns))

    def score(self, position: int) -> int | None:
        """Right answers of a submission; None for one that could not be read."""
        if self.submissions[position].marking is None:
            return None
        return sum(1 for mark in self.cells(position) if mark is not None and mark.right)

    @property
    def total(self) -> int:
        return len(self.columns)

    @property
    def marked(self) -> int:
        return sum(1 for s in self.submissions if s.marking is not None)

    @property
    def unreadable(self) -> int:
        return len(self.submissions) - self.marked

    @property
    def all_right(self) -> bool:
        return all(self.score(i) == self.total for i in range(len(self.submissions)))

    def wrong_most(self) -> list[tuple[Column, int]]:
        """The questions with at least one wrong (or blank, or malformed) answer among the marked
        submissions, most often wrong first (ties in sheet order)."""
        counts = [0] * len(self.columns)
        for position, submission in enumerate(self.submissions):
            if submission.marking is None:
                continue
            for column, mark in enumerate(self.cells(position)):
                if mark is None or not mark.right:
                    counts[column] += 1
        ranked = sorted(range(len(self.columns)), key=lambda c: (-counts[c], c))
        return [(self.columns[c], counts[c]) for c in ranked if counts[c]]


def answer_files(arguments: Iterable[str]) -> list[Path]:
    """The answers files named: a folder gives its ``*.yaml`` and ``*.yml`` files (not its
    subfolders), sorted by name; a file is itself, whatever its name. A folder that does not
    exist or holds no answers file is bad input (:class:`SpecError`). A missing *file* is kept:
    its row says so."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if argument.strip() and path.is_dir():  # Path("") is the current folder
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in ANSWER_SUFFIXES)
            if not inside:
                raise SpecError([Issue("holds no answers files (*.yaml or *.yml)")], argument)
            found += inside
        elif argument.endswith(("/", "\\")) and not path.exists():
            raise SpecError([Issue("no such folder")], argument)
        else:
            found.append(path)
    return found


def mark_class(spec: Spec, report: Report, paths: Iterable[Path]) -> Gradebook:
    """Mark every file; gather the questions into columns."""
    targets = Targets.of(spec, report)
    marker = Marker(report)
    submissions: list[Submission] = []
    for path in paths:
        try:
            answered = load_answered(path, targets)
        except SpecError as err:
            messages = err.messages()
            problem = messages[0] + (f" (and {len(messages) - 1} more)" if len(messages) > 1 else "")
            submissions.append(Submission(path, None, None, problem))
            continue
        submissions.append(Submission(path, answered.student,
                                      marker.mark(answered.answers, answered.numbers)))
    keys: dict[tuple[str, str], int] = {}
    for submission in submissions:
        for mark in submission.marking.marks if submission.marking else ():
            keys.setdefault((mark.layer, mark.metric), mark.number)
    order = sorted(keys, key=lambda key: keys[key])  # stable: first seen within a number
    if len(set(keys.values())) < len(keys):
        keys = {key: position for position, key in enumerate(order, 1)}
    columns = []
    for layer, metric in order:
        _, expected, worked = marker.expected(layer, metric)
        columns.append(Column(keys[(layer, metric)], layer, metric, expected, worked))
    where = {(c.layer, c.metric): position for position, c in enumerate(columns)}
    cells: dict[int, list[Mark | None]] = {}
    for position, submission in enumerate(submissions):
        if submission.marking is None:
            continue
        row: list[Mark | None] = [None] * len(columns)
        for mark in submission.marking.marks:
            row[where[(mark.layer, mark.metric)]] = mark
        cells[position] = row
    return Gradebook(spec, submissions, columns, cells)
