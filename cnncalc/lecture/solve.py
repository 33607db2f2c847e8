"""Inverse questions: which kernel, padding and stride turn an input size into a target size.

Forward, the lecture's output size is 1 + (J + 2P − M)/s. PyTorch rounds the division down
and uses the dilated extent M_eff = d·(M − 1) + 1 (``core.conv_output_size``):

    O = ⌊(J + 2P − M_eff)/s⌋ + 1.

Backward, for one kernel, stride and dilation the padding follows by arithmetic:

    O = target  ⟺  (O − 1)·s ≤ J + 2P − M_eff ≤ O·s − 1,

an interval for 2P of length s − 1, so at most ⌈s/2⌉ paddings per (M, s, d). The search loops
over kernels, strides and dilations only (bounded by ``max_kernel``, ``max_stride`` and
``max_dilation``) and costs the same for J = 65536 as for J = 32.

A solution is *exact* when (J + 2P − M_eff)/s is whole: the last window ends on the last
(padded) row and nothing is rounded away. PyTorch accepts the others too, rounding down;
``core.window`` says which rows no window then reaches.

Pooling follows ``core.pool_output_size`` (PyTorch's ``MaxPool2d``): padding at most
M // 2, and under ``ceil_mode`` the division rounds up unless the last window would start in
the right padding. With ``ceil_mode`` the output is the floor's or one more, so the candidates
for 2P widen to [(O − 2)·s, O·s − 1] + M_eff − J, each checked with core.

Every value is bounded (see :func:`_check`): sizes, kernels, paddings and dilations by
``MAX_SIZE``, as specs are, and they cost nothing, since each (M, s, d) costs O(1) but for the
paddings it lists, at most ⌈s/2⌉ + 1; so a fixed stride is capped at ``FIXED_STRIDE_CAP`` and
the search bounds at ``KERNEL_CAP``, ``STRIDE_CAP`` and ``DILATION_CAP``. The worst question
allowed takes well under a second.

``same`` asks for ceil(J/s) at each stride: PyTorch's ``padding='same'`` at stride 1 and
TensorFlow's ``SAME`` at stride s (``core.same_padding``), whose odd extra pixel goes to the
bottom/right, alongside every symmetric padding that gives the same size. Its answers are
listed by stride, stride 1 (the lecture's question) first, and at each stride symmetric padding
before uneven; a target's answers are listed exact first, then simplest.

Everything here is plain integers; nothing imports torch or rich.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from cnncalc.analysis import core
from cnncalc.errors import CnncalcError
from cnncalc.text import plural

__all__ = ["DILATION_CAP", "FIXED_STRIDE_CAP", "KERNEL_CAP", "MAX_SIZE", "STRIDE_CAP", "Answer", "Answered",
           "Problem",
           "Solution", "Suggestion", "shown_number", "solve"]

# The search bounds may not exceed these, so that a search stays well under a second.
KERNEL_CAP = 64
STRIDE_CAP = 16
DILATION_CAP = 8
#: a fixed stride lists up to ⌈s/2⌉ paddings for each kernel and dilation searched
FIXED_STRIDE_CAP = 64
#: every size, kernel, padding and dilation: cnncalc.spec.models.MAX_SIZE, not imported (pydantic is slow
#: to load); the search costs the same whatever they are
MAX_SIZE = 2**31 - 1

SUGGESTIONS = 4  # at most this many suggestions of each kind


@dataclass(frozen=True)
class Problem:
    """The question: from ``size`` to ``target`` (or to ceil(J/s) under ``same``).

    ``kernel``, ``stride``, ``padding`` and ``dilation`` fix a value when given; otherwise the
    search runs over 1…``max_kernel``, 1…``max_stride``, 0…``max_padding`` and
    1…``max_dilation``. ``max_padding`` defaults to M_eff − 1 for convolution (more padding
    would give a window that reads only zeros) and to PyTorch's limit M // 2 for pooling.
    """

    size: int
    target: int | None = None
    same: bool = False
    pool: bool = False
    ceil_mode: bool = False
    kernel: int | None = None
    stride: int | None = None
    padding: int | None = None
    dilation: int | None = None
    max_kernel: int = 11
    max_stride: int = 4
    max_padding: int | None = None
    max_dilation: int = 1

    def kernels(self) -> range:
        return _choices(self.kernel, self.max_kernel)

    def strides(self) -> range:
        return _choices(self.stride, self.max_stride)

    def dilations(self) -> range:
        return _choices(self.dilation, self.max_dilation)

    def paddings(self, kernel: int, dilation: int) -> range:
        """The paddings allowed with this kernel (empty when none is)."""
        if self.padding is not None:
            low = high = self.padding
        elif self.max_padding is not None:
            low, high = 0, self.max_padding
        else:
            low, high = 0, kernel // 2 if self.pool else core.effective_kernel(kernel, dilation) - 1
        if self.pool:
            high = min(high, kernel // 2)  # PyTorch: "pad should be at most half of kernel size"
        return range(low, high + 1)

    def output(self, size: int, kernel: int, stride: int, before: int, after: int, dilation: int) -> int:
        """PyTorch's output size for this layer (``core``'s formulas)."""
        if self.pool:
            return core.pool_output_size(size, kernel, stride, before, dilation, self.ceil_mode)
        return core.conv_output_size(size, kernel, stride, before, after, dilation)

    def bounds(self) -> str:
        """The search space in words, e.g. ``kernel ≤ 11, stride ≤ 4, padding ≤ M − 1``."""
        def one(name: str, fixed: int | None, top: int) -> str:
            return f"{name} {fixed}" if fixed is not None else f"{name} ≤ {top}"

        parts = [one("kernel", self.kernel, self.max_kernel), one("stride", self.stride, self.max_stride)]
        if self.padding is not None:
            parts.append(f"padding {self.padding}")
        elif self.max_padding is not None:
            parts.append(f"padding ≤ {self.max_padding}" + (" and M // 2" if self.pool else ""))
        else:
            parts.append("padding ≤ M // 2" if self.pool else "padding ≤ M_eff − 1")
        if self.dilation not in (None, 1) or (self.dilation is None and self.max_dilation > 1):
            parts.append(one("dilation", self.dilation, self.max_dilation))
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _choices(fixed: int | None, top: int) -> range:
    return range(fixed, fixed + 1) if fixed is not None else range(1, top + 1)


def _target_for(p: Problem, stride: int) -> int:
    """The wanted output: ``target``, or ceil(J/s) under ``same``."""
    return -(-p.size // stride) if p.same else _target(p)


def _target(p: Problem) -> int:
    """The target of a question that is not 'same' (:func:`_check` makes sure it has one)."""
    if p.target is None:
        raise CnncalcError("give a target size (--target) or ask for 'same' (--same)")
    return p.target


@dataclass(frozen=True)
class Solution:
    """One layer that turns ``size`` into ``out``, with what it leaves unread."""

    size: int
    kernel: int
    stride: int
    pad_before: int
    pad_after: int
    dilation: int
    out: int
    pool: bool = False
    ceil_mode: bool = False

    @property
    def extent(self) -> int:
        """M_eff = d·(M − 1) + 1."""
        return core.effective_kernel(self.kernel, self.dilation)

    @property
    def span(self) -> int:
        """J + P_before + P_after − M_eff: the room the windows slide over."""
        return self.size + self.pad_before + self.pad_after - self.extent

    @property
    def fraction(self) -> Fraction:
        """The lecture's (J + 2P − M)/s before any rounding."""
        return Fraction(self.span, self.stride)

    @property
    def exact(self) -> bool:
        return self.span % self.stride == 0

    @property
    def symmetric(self) -> bool:
        return self.pad_before == self.pad_after

    @property
    def floor_out(self) -> int:
        return self.span // self.stride + 1

    @property
    def window(self) -> core.Window:
        return core.window(self.size, self.kernel, self.stride, self.pad_before, self.pad_after,
                           self.dilation, self.out)

    @property
    def same(self) -> bool:
        """Whether this is the 'same' padding: PyTorch's at stride 1, TensorFlow's at stride s."""
        return (not self.pool and self.out == -(-self.size // self.stride)
                and (self.pad_before, self.pad_after)
                == core.same_padding(self.size, self.kernel, self.stride, self.dilation))

    @property
    def padding(self) -> int | tuple[int, int]:
        return self.pad_before if self.symmetric else (self.pad_before, self.pad_after)

    def sort_key(self) -> tuple[int, ...]:
        """Exact first, then nothing lost, then simplicity: little padding, small stride and kernel."""
        w = self.window
        return (not self.exact, w.unread_input > 0, w.skipped > 0, self.pad_before + self.pad_after,
                self.stride, self.kernel, self.dilation, self.pad_after - self.pad_before)

    def same_sort_key(self) -> tuple[int, ...]:
        """For 'same': stride 1 first (the lecture's question), symmetric padding before uneven
        at each stride, then as :meth:`sort_key`."""
        return (self.stride, not self.symmetric, *self.sort_key())

    def describe(self) -> str:
        """``M = 11, P = 2, s = 4`` (with ``d`` when dilated; P as before+after when uneven)."""
        pad = str(self.pad_before) if self.symmetric else f"{self.pad_before}+{self.pad_after}"
        text = f"M = {self.kernel}, P = {pad}, s = {self.stride}"
        return text + (f", d = {self.dilation}" if self.dilation != 1 else "")

    def formula(self) -> str:
        """The lecture's formula with the numbers: ``1 + (224 + 2×2 − 11)/4 = 55.25 → 55``."""
        if self.symmetric:
            pad = f" + 2×{self.pad_before}" if self.pad_before else ""
        else:
            pad = f" + {self.pad_before} + {self.pad_after}"
        text = f"1 + ({self.size}{pad} − {self.extent})/{self.stride} {_decimal(1 + self.fraction)}"
        if not self.exact:
            text += f" → {self.out}" + (" (rounded up)" if self.out > self.floor_out else "")
        return text

    def exact_sizes(self) -> list[tuple[int, int]]:
        """The nearest input sizes, below and above, at which this layer is exact: (J', O')."""
        found = []
        remainder = self.span % self.stride
        for size in (self.size - remainder, self.size + self.stride - remainder):
            out = (size + self.pad_before + self.pad_after - self.extent) // self.stride + 1
            if size >= 1 and out >= 1 and size != self.size:
                found.append((size, out))
        return found

    def notes(self) -> list[str]:
        """What a student should know about this layer: what is lost, and how to write it."""
        w = self.window
        notes = []
        if not self.exact:
            if self.out > self.floor_out:
                notes.append(f"ceil_mode adds a partial last window reaching {_rows(w.overhang)} past "
                             "the padded input")
            elif self.ceil_mode and self.floor_out < -(-self.span // self.stride) + 1:
                where = "in the right padding" if self.pad_after else "past the end of the input"
                notes.append(f"ceil_mode's extra window would start {where}, so PyTorch drops it")
            if w.unread_input == 1:
                notes.append("the last input row/column is never read")
            elif w.unread_input:
                notes.append(f"the last {w.unread_input} input rows/columns are never read")
            elif w.unread_padding:
                notes.append(f"{_rows(w.unread_padding)} of padding unread at the bottom/right; "
                             "no input lost")
            sizes = self.exact_sizes()
            if sizes:
                notes.append("exact for J = " + " or ".join(f"{j} (→ {o})" for j, o in sizes))
        if w.skipped and self.out > 1:  # one window leaves no gap between windows
            notes.append(f"stride {self.stride} > window {self.extent}: {w.skipped} of every "
                         f"{self.stride} rows/columns fall between windows")
        if self.dilation != 1:
            notes.append(f"dilated extent {self.dilation}×({self.kernel} − 1) + 1 = {self.extent}")
        if not self.symmetric:
            b, a = self.pad_before, self.pad_after
            how = ("PyTorch's padding='same'" if self.stride == 1 else "TensorFlow's 'SAME'; in PyTorch "
                   f"nn.ZeroPad2d(({b}, {a}, {b}, {a})) then padding=0")
            notes.append(f"uneven: {b} top/left, {a} bottom/right = {how}")
        elif self.same:
            notes.append("= padding='same'" if self.stride == 1 else "= TensorFlow's 'SAME'")
        return notes

    def note(self) -> str:
        return "; ".join(self.notes())

    def to_dict(self) -> dict[str, Any]:
        w = self.window
        return {
            "kernel": self.kernel, "padding": list(self.padding) if isinstance(self.padding, tuple)
            else self.padding, "stride": self.stride, "dilation": self.dilation, "size": self.size,
            "output": self.out, "exact": self.exact, "fraction": str(self.fraction),
            "formula": self.formula(), "unread_input": w.unread_input,
            "unread_padding": w.unread_padding, "skipped": w.skipped, "overhang": w.overhang,
            "note": self.note(),
        }


def _decimal(value: Fraction) -> str:
    """``= 55.25``, or ``≈ 3.33`` when two decimals do not say it exactly.

    Rounded in integers (half to even), never through a float, which overflows past 1e308.
    """
    hundredths = round(value * 100)
    whole, cents = divmod(abs(hundredths), 100)
    text = f"{'-' if hundredths < 0 else ''}{whole}.{cents:02d}".rstrip("0").rstrip(".")
    return ("= " if Fraction(text) == value else "≈ ") + text


def _rows(n: int) -> str:
    return plural(n, "row/column", "rows/columns")


@dataclass(frozen=True)
class Suggestion:
    """A near miss worth knowing: an exact layer for another input size (``size``), with a
    fixed option changed (``kernel``, ``stride``, ``padding``, ``dilation``), or the nearest
    output that can be had at all (``target``). ``instead_of`` is the value it replaces."""

    kind: str
    solution: Solution
    instead_of: int

    def text(self) -> str:
        s = self.solution
        if self.kind == "size":
            value = s.size
        elif self.kind == "target":
            value = s.out
        else:
            value = _value(s, self.kind)
        name = {"size": "input", "target": "output"}.get(self.kind, self.kind)
        return f"{name} {value} instead of {self.instead_of} ({s.describe()}): {s.formula()}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "instead_of": self.instead_of, "text": self.text(),
                "solution": self.solution.to_dict()}


class Answered:
    """What an answer does with its problem, solutions and suggestions, for both solvers
    (:class:`Answer` here and ``TransposedAnswer``)."""

    problem: Any
    solutions: tuple[Any, ...]
    suggestions: tuple[Any, ...]

    @property
    def exact(self) -> tuple[Any, ...]:
        return tuple(s for s in self.solutions if s.exact)

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        shown = self.solutions if not limit else self.solutions[:limit]
        return {"question": self.problem.to_dict(), "count": len(self.solutions),
                "exact": len(self.exact), "shown": len(shown),
                "solutions": [s.to_dict() for s in shown],
                "suggestions": [s.to_dict() for s in self.suggestions]}


@dataclass(frozen=True)
class Answer(Answered):
    """Every solution, sorted exact first, and suggestions when none is exact."""

    problem: Problem
    solutions: tuple[Solution, ...]
    suggestions: tuple[Suggestion, ...] = ()


# --- the search ----------------------------------------------------------------------------

def solve(problem: Problem) -> Answer:
    """All layers within the problem's bounds that give its target, exact ones first
    (under ``same``: by stride, then symmetric before uneven, see :meth:`Solution.same_sort_key`).

    Raises :class:`CnncalcError` for a question with no sense: sizes below 1, bounds out of
    range, or a target larger than any allowed layer can give.
    """
    _check(problem)
    if not problem.same:
        _check_reachable(problem)
    key = Solution.same_sort_key if problem.same else Solution.sort_key
    solutions = tuple(sorted(_search(problem), key=key))
    suggestions: list[Suggestion] = []
    if not problem.same and not any(s.exact for s in solutions):
        if not solutions:
            suggestions += _nearest_targets(problem)
        for name in ("kernel", "stride", "padding", "dilation"):
            suggestions += _relaxed(problem, name)
        suggestions += _other_sizes(problem)
    return Answer(problem, solutions, tuple(suggestions))


def _check(p: Problem) -> None:
    """Refuse a question with no sense, or one whose search would not stay small."""
    for field in ("size", "target", "kernel", "stride", "padding", "dilation", "max_kernel", "max_stride",
                  "max_padding", "max_dilation"):
        value = getattr(p, field)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CnncalcError(f"{field} must be a whole number; got {value!r}")

    def at_least(name: str, value: int | None, low: int) -> None:
        if value is not None and value < low:
            raise CnncalcError(f"{name} must be at least {low}; got {shown_number(value)}")

    def at_most(name: str, value: int | None, high: int) -> None:
        if value is not None and value > high:
            why = " (2³¹ − 1)" if high == MAX_SIZE else " to keep the search small"
            raise CnncalcError(f"{name} must be at most {high}{why}; got {shown_number(value)}")

    for name, value, low, high in (
            ("the input size", p.size, 1, MAX_SIZE),
            ("the kernel", p.kernel, 1, MAX_SIZE),
            ("the stride", p.stride, 1, FIXED_STRIDE_CAP),
            ("the padding", p.padding, 0, MAX_SIZE),
            ("the dilation", p.dilation, 1, MAX_SIZE),
            ("--max-kernel", p.max_kernel, 1, KERNEL_CAP),
            ("--max-stride", p.max_stride, 1, STRIDE_CAP),
            ("--max-padding", p.max_padding, 0, MAX_SIZE),
            ("--max-dilation", p.max_dilation, 1, DILATION_CAP)):
        at_least(name, value, low)
        at_most(name, value, high)
    if p.same == (p.target is not None):
        raise CnncalcError("give a target size or ask for 'same', not both" if p.same
                           else "give a target size (--target) or ask for 'same' (--same)")
    at_least("the target", p.target, 1)
    at_most("the target", p.target, MAX_SIZE)
    if p.same and p.padding is not None:
        raise CnncalcError("'same' chooses the padding; leave the padding out")
    if p.ceil_mode and not p.pool:
        raise CnncalcError("ceil_mode applies to pooling only (--pool)")
    if p.pool and p.padding is not None and p.kernel is not None and p.padding > p.kernel // 2:
        raise CnncalcError(f"pooling pads at most half its kernel (PyTorch): kernel {p.kernel} allows "
                           f"padding ≤ {p.kernel // 2}; got {p.padding}")


def shown_number(value: int) -> str:
    """An integer for a message: in full up to 20 digits, else its size (str() of a number
    over 4300 digits raises)."""
    if abs(value) < 10**20:
        return str(value)
    sign = "a negative" if value < 0 else "a"
    return f"{sign} number of about {int(abs(value).bit_length() * 0.30103) + 1} digits"


def _triples(p: Problem) -> Iterator[tuple[int, int, int, range]]:
    """(dilation, kernel, stride, allowed paddings) over the whole search space."""
    for dilation in p.dilations():
        for kernel in p.kernels():
            pads = p.paddings(kernel, dilation)
            if pads:
                for stride in p.strides():
                    yield dilation, kernel, stride, pads


def _check_reachable(p: Problem) -> None:
    """A target above every allowed layer's largest output is a mistake, not a near miss."""
    best: Solution | None = None
    for dilation, kernel, stride, pads in _triples(p):
        out = p.output(p.size, kernel, stride, pads[-1], pads[-1], dilation)  # grows with P
        if out >= 1 and (best is None or out > best.out):
            best = Solution(p.size, kernel, stride, pads[-1], pads[-1], dilation, out, p.pool, p.ceil_mode)
    if best is None:
        raise CnncalcError(f"no allowed layer fits an input of {p.size} ({p.bounds()}); "
                           "allow a smaller kernel or more padding")
    if _target(p) > best.out:
        raise CnncalcError(f"target {p.target} is out of reach from {p.size}: the largest output of "
                           f"any allowed layer is {best.out} ({best.describe()}); a larger output "
                           "needs more padding (--max-padding) or a larger kernel")


def _with_target(p: Problem, size: int, target: int, kernel: int, stride: int, dilation: int,
                 pads: range) -> Iterator[Solution]:
    """The symmetric paddings in ``pads`` that give ``target``, from the bounds on 2P."""
    extent = core.effective_kernel(kernel, dilation)
    rounds_up = p.pool and p.ceil_mode
    low = (target - (2 if rounds_up else 1)) * stride + extent - size  # least 2P
    high = target * stride - 1 + extent - size  # most 2P
    for pad in range(max(-(-low // 2), pads.start), min(high // 2, pads.stop - 1) + 1):
        if p.output(size, kernel, stride, pad, pad, dilation) == target:
            yield Solution(size, kernel, stride, pad, pad, dilation, target, p.pool, p.ceil_mode)


def _search(p: Problem) -> Iterator[Solution]:
    for dilation, kernel, stride, pads in _triples(p):
        target = _target_for(p, stride)
        yield from _with_target(p, p.size, target, kernel, stride, dilation, pads)
        if p.same and not p.pool:
            before, after = core.same_padding(p.size, kernel, stride, dilation)
            if before != after and after < pads.stop:
                out = core.conv_output_size(p.size, kernel, stride, before, after, dilation)
                yield Solution(p.size, kernel, stride, before, after, dilation, out)


def _exact_search(p: Problem) -> Iterator[Solution]:
    """The exact layers with symmetric padding, at most one per (M, s, d): exact means
    J + 2P − M_eff = (O − 1)·s, which fixes 2P."""
    target = _target(p)
    for dilation, kernel, stride, pads in _triples(p):
        twice = (target - 1) * stride + core.effective_kernel(kernel, dilation) - p.size
        pad = twice // 2
        if twice % 2 == 0 and pad in pads and p.output(p.size, kernel, stride, pad, pad, dilation) == target:
            yield Solution(p.size, kernel, stride, pad, pad, dilation, target, p.pool, p.ceil_mode)


# --- suggestions, when nothing is exact ---------------------------------------------------

def _nearest_targets(p: Problem) -> list[Suggestion]:
    """The outputs nearest the target that some allowed layer gives.

    For one (M, s, d) the output grows with P, by at most 1 per step of P except at stride 1,
    where it grows by 2; so the nearest reachable value is the target clipped to the range,
    or one beside it. Layers are built only for the nearest outputs, nearest first, until
    enough are found: the widest search has thousands of (M, s, d).
    """
    target = _target(p)
    outs: dict[int, list[tuple[int, int, int, range]]] = {}
    for dilation, kernel, stride, pads in _triples(p):
        low = max(p.output(p.size, kernel, stride, pads[0], pads[0], dilation), 1)
        high = p.output(p.size, kernel, stride, pads[-1], pads[-1], dilation)
        middle = min(max(target, low), high)
        for out in (middle - 1, middle, middle + 1):
            if low <= out <= high and out != target:
                outs.setdefault(out, []).append((dilation, kernel, stride, pads))
    chosen: list[Solution] = []
    per_output: dict[int, int] = {}
    for distance in sorted({abs(out - target) for out in outs}):
        found = [s for out in (target - distance, target + distance)
                 for dilation, kernel, stride, pads in outs.get(out, ())
                 for s in _with_target(p, p.size, out, kernel, stride, dilation, pads)]
        found.sort(key=Solution.sort_key)
        for s in found:  # at most two layers for each output, so that both sides can show
            per_output[s.out] = per_output.get(s.out, 0) + 1
            if per_output[s.out] <= 2:
                chosen.append(s)
        if len(chosen) >= SUGGESTIONS:
            break
    return [Suggestion("target", s, target) for s in chosen[:SUGGESTIONS]]


_WIDEN = {"kernel": ("max_kernel", 4, KERNEL_CAP), "stride": ("max_stride", 2, STRIDE_CAP),
          "dilation": ("max_dilation", 1, DILATION_CAP)}


def _relaxed(p: Problem, name: str) -> list[Suggestion]:
    """Exact layers with the fixed option ``name`` set free (and its bound widened a little),
    nearest the fixed value first."""
    fixed = getattr(p, name)
    if fixed is None:
        return []
    changes: dict[str, Any] = {name: None}
    if name in _WIDEN:
        bound, extra, cap = _WIDEN[name]
        changes[bound] = max(getattr(p, bound), min(fixed + extra, cap))
    free = dataclasses.replace(p, **changes)
    found = list(_exact_search(free))
    found.sort(key=lambda s: (abs(_value(s, name) - fixed), *s.sort_key()))
    return [Suggestion(name, s, fixed) for s in found[:SUGGESTIONS]]


def _value(s: Solution, name: str) -> int:
    """The solution's kernel, stride, padding (before) or dilation, by option name."""
    return s.pad_before if name == "padding" else int(getattr(s, name))


def _other_sizes(p: Problem) -> list[Suggestion]:
    """Input sizes near J at which an allowed layer gives the target exactly.

    Exact means J' + 2P − M_eff = (O − 1)·s, so J' = (O − 1)·s + M_eff − 2P: for each
    (M, s, d) the paddings nearest P* = ((O − 1)·s + M_eff − J)/2 give the nearest sizes.
    Layers are built only for the nearest sizes.
    """
    target = _target(p)
    candidates: list[tuple[int, int, int, int, int]] = []  # (J', M, s, P, d)
    for dilation, kernel, stride, pads in _triples(p):
        extent = core.effective_kernel(kernel, dilation)
        reach = (target - 1) * stride + extent  # J' + 2P
        centre = min(max((reach - p.size) // 2, pads.start), pads.stop - 1)
        for pad in range(max(centre - 2, pads.start), min(centre + 3, pads.stop)):
            size = reach - 2 * pad
            if size >= 1 and size != p.size and p.output(size, kernel, stride, pad, pad, dilation) == target:
                candidates.append((size, kernel, stride, pad, dilation))
    distances = sorted({abs(c[0] - p.size) for c in candidates})[:SUGGESTIONS]
    found: dict[int, tuple[tuple[int, ...], Solution]] = {}
    for size, kernel, stride, pad, dilation in candidates:
        if distances and abs(size - p.size) <= distances[-1]:
            s = Solution(size, kernel, stride, pad, pad, dilation, target, p.pool, p.ceil_mode)
            key = s.sort_key()
            if size not in found or key < found[size][0]:
                found[size] = (key, s)
    best = sorted(found.values(), key=lambda f: (abs(f[1].size - p.size), *f[0]))
    return [Suggestion("size", s, p.size) for _, s in best[:SUGGESTIONS]]
