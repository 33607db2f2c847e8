"""Inverse questions for a transposed convolution: which output_padding, padding and stride give
output size X.

Forward, PyTorch's ``ConvTranspose2d`` gives (``core.conv_transpose_output_size``)

    O = (J − 1)·s − 2P + d·(M − 1) + output_padding + 1,   0 ≤ output_padding < max(s, d).

Backward, for one kernel, stride and dilation, write B = (J − 1)·s + d·(M − 1) + 1 (the output
at P = 0 without output_padding): O = B − 2P + output_padding, so 2P lies in
[B − O + op_low, B − O + op_high] — at most ⌈max(s, d)/2⌉ paddings, found by arithmetic. The
search loops over kernels, strides and dilations only, and costs the same for J = 65536 as
for J = 16.

A solution is *exact* when output_padding is 0: a ``conv2d`` with the same M, s, P and d maps
the output back to J with nothing rounded away, (O + 2P − M_eff)/s = J − 1 whole. With
output_padding p (0 < p < s) the conv still maps O to J, but rounds p/s away: the
output_padding rows at the bottom/right are the ones such a conv never reads to the end.
Exact solutions come first, then those whose kernel taps spread evenly over the outputs
(M_eff's taps fall equally on every residue mod s; otherwise the outputs alternate, the
checkerboard of Odena et al., 2016), then the simplest.

Plain integers; nothing imports torch or rich.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cnncalc.analysis import core
from cnncalc.errors import CnncalcError
from cnncalc.lecture.solve import (
    DILATION_CAP,
    FIXED_STRIDE_CAP,
    KERNEL_CAP,
    MAX_SIZE,
    STRIDE_CAP,
    SUGGESTIONS,
    Answered,
    shown_number,
)
from cnncalc.text import plural

__all__ = ["TransposedAnswer", "TransposedProblem", "TransposedSolution", "TransposedSuggestion",
           "solve_transposed"]


@dataclass(frozen=True)
class TransposedProblem:
    """From ``size`` to ``target`` by a transposed convolution.

    ``kernel``, ``stride``, ``padding``, ``dilation`` and ``output_padding`` fix a value when
    given; otherwise the search runs over 1…``max_kernel``, 1…``max_stride``,
    0…``max_padding`` (default M_eff − 1: more would crop rows that only padding reaches),
    1…``max_dilation`` and every output_padding torch allows, 0 … max(s, d) − 1.
    """

    size: int
    target: int
    kernel: int | None = None
    stride: int | None = None
    padding: int | None = None
    dilation: int | None = None
    output_padding: int | None = None
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
        if self.padding is not None:
            return range(self.padding, self.padding + 1)
        high = self.max_padding
        if high is None:
            high = core.effective_kernel(kernel, dilation) - 1
        return range(0, high + 1)

    def output_paddings(self, stride: int, dilation: int) -> range:
        """torch allows output_padding < max(s, d)."""
        top = max(stride, dilation) - 1
        if self.output_padding is not None:
            fixed = self.output_padding
            return range(fixed, fixed + 1) if fixed <= top else range(0)
        return range(0, top + 1)

    def bounds(self) -> str:
        def one(name: str, fixed: int | None, top: int | str) -> str:
            return f"{name} {fixed}" if fixed is not None else f"{name} ≤ {top}"

        parts = [one("kernel", self.kernel, self.max_kernel), one("stride", self.stride, self.max_stride),
                 one("padding", self.padding,
                     self.max_padding if self.max_padding is not None else "M_eff − 1")]
        if self.dilation not in (None, 1) or (self.dilation is None and self.max_dilation > 1):
            parts.append(one("dilation", self.dilation, self.max_dilation))
        if self.output_padding is not None:
            parts.append(f"output_padding {self.output_padding}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"transposed": True, **dataclasses.asdict(self)}


def _choices(fixed: int | None, top: int) -> range:
    return range(fixed, fixed + 1) if fixed is not None else range(1, top + 1)


@dataclass(frozen=True)
class TransposedSolution:
    """One transposed convolution that turns ``size`` into ``out``."""

    size: int
    kernel: int
    stride: int
    padding: int
    dilation: int
    output_padding: int
    out: int

    @property
    def extent(self) -> int:
        return core.effective_kernel(self.kernel, self.dilation)

    @property
    def exact(self) -> bool:
        """No output_padding: conv2d(M, s, P, d) maps ``out`` back to ``size`` with nothing rounded."""
        return self.output_padding == 0

    def interior_taps(self) -> tuple[int, ...]:
        """Away from the edges, how many kernel taps reach outputs o ≡ 0, 1, …, s − 1 (mod s):
        tap k lands on the residue k·d mod s."""
        counts = [0] * self.stride
        for k in range(self.kernel):
            counts[k * self.dilation % self.stride] += 1
        return tuple(counts)

    @property
    def even(self) -> bool:
        """Away from the edges every output receives as many kernel taps (no checkerboard)."""
        return len(set(self.interior_taps())) == 1

    def back(self) -> int:
        """What a conv2d with the same M, s, P and d gives from ``out``."""
        return core.conv_output_size(self.out, self.kernel, self.stride, self.padding, self.padding,
                                     self.dilation)

    def sort_key(self) -> tuple[int, ...]:
        """Exact first, then even taps, then simplicity: little padding, small stride and kernel."""
        return (not self.exact, not self.even, self.padding, self.stride, self.kernel, self.dilation,
                self.output_padding)

    def describe(self) -> str:
        text = f"M = {self.kernel}, P = {self.padding}, s = {self.stride}"
        if self.dilation != 1:
            text += f", d = {self.dilation}"
        return text + (f", output_padding = {self.output_padding}" if self.output_padding else "")

    def formula(self) -> str:
        """``(16 − 1)×2 − 2×1 + 1×(3 − 1) + 1 + 1 = 32``: PyTorch's formula with the numbers."""
        return (f"({self.size} − 1)×{self.stride} − 2×{self.padding} + {self.dilation}×({self.kernel} − 1) "
                f"+ {self.output_padding} + 1 = {self.out}")

    def notes(self) -> list[str]:
        notes = []
        back = self.back()
        if self.exact:
            notes.append(f"conv2d with the same M, s, P maps {self.out} back to {self.size} exactly")
        elif back == self.size:
            notes.append(f"output_padding adds {_rows(self.output_padding)} at the bottom/right; conv2d "
                         f"with the same M, s, P maps {self.out - self.output_padding}–{self.out} to "
                         f"{self.size}")
        else:
            notes.append(f"output_padding adds {_rows(self.output_padding)} at the bottom/right; conv2d "
                         f"with the same M, s, P gives {back} from {self.out}, not {self.size}")
        if not self.even:
            taps = ", ".join(str(t) for t in self.interior_taps())
            notes.append(f"uneven: away from the edges the outputs cycle through {taps} kernel taps, a "
                         "checkerboard; a kernel that is a multiple of the stride avoids it")
        if self.dilation != 1:
            notes.append(f"dilated extent {self.dilation}×({self.kernel} − 1) + 1 = {self.extent}")
        return notes

    def note(self) -> str:
        return "; ".join(self.notes())

    def to_dict(self) -> dict[str, Any]:
        return {"kernel": self.kernel, "padding": self.padding, "stride": self.stride,
                "dilation": self.dilation, "output_padding": self.output_padding, "size": self.size,
                "output": self.out, "exact": self.exact, "even_taps": self.even, "formula": self.formula(),
                "note": self.note()}


def _rows(n: int) -> str:
    return plural(n, "row/column", "rows/columns")


@dataclass(frozen=True)
class TransposedSuggestion:
    """An exact layer with a fixed option set free (``kind`` names it), or the nearest output
    that can be had at all (``kind`` = ``target``)."""

    kind: str
    solution: TransposedSolution
    instead_of: int

    def text(self) -> str:
        s = self.solution
        value = s.out if self.kind == "target" else int(getattr(s, self.kind))
        name = "output" if self.kind == "target" else self.kind
        return f"{name} {value} instead of {self.instead_of} ({s.describe()}): {s.formula()}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "instead_of": self.instead_of, "text": self.text(),
                "solution": self.solution.to_dict()}


@dataclass(frozen=True)
class TransposedAnswer(Answered):
    problem: TransposedProblem
    solutions: tuple[TransposedSolution, ...]
    suggestions: tuple[TransposedSuggestion, ...] = ()


# --- the search ----------------------------------------------------------------------------------

def solve_transposed(problem: TransposedProblem) -> TransposedAnswer:
    """Every transposed convolution within the bounds that gives the target, exact ones first.

    Raises :class:`CnncalcError` for a question with no sense: sizes below 1, bounds out of
    range, or a target larger than any allowed layer gives.
    """
    _check(problem)
    solutions = tuple(sorted(_search(problem, problem.target), key=TransposedSolution.sort_key))
    suggestions: list[TransposedSuggestion] = []
    if not any(s.exact for s in solutions):
        if not solutions:
            suggestions += _nearest_targets(problem)
        for name in ("output_padding", "padding", "kernel", "stride", "dilation"):
            suggestions += _relaxed(problem, name)
    return TransposedAnswer(problem, solutions, tuple(suggestions))


def _check(p: TransposedProblem) -> None:
    for name in ("size", "target", "kernel", "stride", "padding", "dilation", "output_padding", "max_kernel",
                 "max_stride", "max_padding", "max_dilation"):
        value = getattr(p, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise CnncalcError(f"{name} must be a whole number; got {value!r}")
    for name, value, low, high in (
            ("the input size", p.size, 1, MAX_SIZE),
            ("the target", p.target, 1, MAX_SIZE),
            ("the kernel", p.kernel, 1, MAX_SIZE),
            ("the stride", p.stride, 1, FIXED_STRIDE_CAP),
            ("the padding", p.padding, 0, MAX_SIZE),
            ("the dilation", p.dilation, 1, MAX_SIZE),
            ("the output_padding", p.output_padding, 0, MAX_SIZE),
            ("--max-kernel", p.max_kernel, 1, KERNEL_CAP),
            ("--max-stride", p.max_stride, 1, STRIDE_CAP),
            ("--max-padding", p.max_padding, 0, MAX_SIZE),
            ("--max-dilation", p.max_dilation, 1, DILATION_CAP)):
        if value is not None and value < low:
            raise CnncalcError(f"{name} must be at least {low}; got {shown_number(value)}")
        if value is not None and value > high:
            why = " (2³¹ − 1)" if high == MAX_SIZE else " to keep the search small"
            raise CnncalcError(f"{name} must be at most {high}{why}; got {shown_number(value)}")
    most = max((_base(p.size, m, s, d) - 2 * p.paddings(m, d).start + ops[-1]
                for d in p.dilations() for m in p.kernels() for s in p.strides()
                if (ops := p.output_paddings(s, d))), default=None)
    if most is None:
        raise CnncalcError(f"output_padding {p.output_padding} needs a stride or dilation above it "
                           f"(torch: output_padding < max(s, d)); allow a larger stride")
    if p.target > most:
        raise CnncalcError(f"target {p.target} is out of reach from {p.size}: the largest output of any "
                           f"allowed transposed convolution is {most} ({p.bounds()}); allow a larger "
                           "stride or kernel (--max-stride, --max-kernel)")


def _base(size: int, kernel: int, stride: int, dilation: int) -> int:
    """B = (J − 1)·s + d·(M − 1) + 1: the output without padding or output_padding."""
    return (size - 1) * stride + core.effective_kernel(kernel, dilation)


def _layers(p: TransposedProblem) -> Iterator[tuple[int, int, int, range, range]]:
    """Each allowed (M, s, d) with its allowed paddings and output paddings (some)."""
    for dilation in p.dilations():
        for kernel in p.kernels():
            pads = p.paddings(kernel, dilation)
            for stride in p.strides():
                ops = p.output_paddings(stride, dilation)
                if ops:
                    yield kernel, stride, dilation, pads, ops


def _search(p: TransposedProblem, target: int) -> Iterator[TransposedSolution]:
    """O = B − 2P + op: for each (M, s, d) the paddings with an allowed op, by arithmetic."""
    for kernel, stride, dilation, pads, ops in _layers(p):
        room = _base(p.size, kernel, stride, dilation) - target  # 2P − op
        low = max(pads.start, -(-(room + ops.start) // 2))
        high = min(pads.stop - 1, (room + ops.stop - 1) // 2)
        for pad in range(low, high + 1):
            yield TransposedSolution(p.size, kernel, stride, pad, dilation, 2 * pad - room, target)


def _nearest_targets(p: TransposedProblem) -> list[TransposedSuggestion]:
    """The outputs nearest the target that an allowed layer gives: for each (M, s, d) the
    outputs fill [B − 2·P_max + op_low, B − 2·P_min + op_high] with gaps of at most one, so the
    nearest lie within 2 of the target clipped into that range."""
    candidates: set[int] = set()
    for kernel, stride, dilation, pads, ops in _layers(p):
        base = _base(p.size, kernel, stride, dilation)
        low = max(base - 2 * (pads.stop - 1) + ops.start, 1)
        high = base - 2 * pads.start + ops.stop - 1
        middle = min(max(p.target, low), high)
        candidates |= {o for o in range(middle - 2, middle + 3) if low <= o <= high and o != p.target}
    chosen: list[TransposedSolution] = []
    for distance in sorted({abs(o - p.target) for o in candidates}):
        found = sorted((s for o in (p.target - distance, p.target + distance) if o in candidates
                        for s in _search(p, o)), key=TransposedSolution.sort_key)
        chosen += found[:2]
        if len(chosen) >= SUGGESTIONS:
            break
    return [TransposedSuggestion("target", s, p.target) for s in chosen[:SUGGESTIONS]]


_WIDEN = {"kernel": ("max_kernel", 4, KERNEL_CAP), "stride": ("max_stride", 2, STRIDE_CAP),
          "dilation": ("max_dilation", 1, DILATION_CAP)}


def _relaxed(p: TransposedProblem, name: str) -> list[TransposedSuggestion]:
    """Exact layers with the fixed option ``name`` set free, nearest its fixed value first."""
    fixed = getattr(p, name)
    if fixed is None:
        return []
    changes: dict[str, Any] = {name: None}
    if name in _WIDEN:
        bound, extra, cap = _WIDEN[name]
        changes[bound] = max(getattr(p, bound), min(fixed + extra, cap))
    free = dataclasses.replace(p, **changes)
    found = [s for s in _search(free, p.target) if s.exact]
    found.sort(key=lambda s: (abs(int(getattr(s, name)) - fixed), *s.sort_key()))
    return [TransposedSuggestion(name, s, fixed) for s in found[:SUGGESTIONS]]
