"""The arithmetic of convolutional networks: plain integers in, integers out.

Nothing here knows about YAML, pydantic or torch. Each function works on one
spatial dimension (the lecture's J with kernel M, or K with kernel N); callers
apply it to height and width separately.

Symbols follow the lecture (COMP9444, 3b): J is the input size, M the kernel
size, P the padding, s the stride. Output sizes follow PyTorch exactly
(``torch.nn.Conv2d`` and ``torch.nn.MaxPool2d`` documentation, and
``pooling_output_shape`` in ATen's ``Pool.h``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
    "MAX_PERIOD",
    "IrregularField",
    "ReceptiveField",
    "Taps",
    "Window",
    "adaptive_connections",
    "adaptive_max_window",
    "conv_output_size",
    "conv_transpose_output_size",
    "effective_kernel",
    "pool_output_size",
    "same_padding",
    "transposed_taps",
    "union",
    "window",
]


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """Extent of a dilated kernel: d·(M − 1) + 1 (PyTorch's Conv2d docs)."""
    return dilation * (kernel - 1) + 1


def conv_output_size(size: int, kernel: int, stride: int = 1, pad_before: int = 0,
                     pad_after: int | None = None, dilation: int = 1) -> int:
    """Output size of a convolution along one dimension.

    The lecture's 1 + (J + 2P − M)/s, rounded down as PyTorch does, with the
    dilated extent d·(M − 1) + 1 in place of M. Asymmetric padding (from
    ``same`` with an even kernel) is ``pad_before`` + ``pad_after``.
    Returns a value below 1 when the kernel does not fit; the caller decides
    how to report that.
    """
    if pad_after is None:
        pad_after = pad_before
    span = size + pad_before + pad_after - effective_kernel(kernel, dilation)
    return span // stride + 1


def pool_output_size(size: int, kernel: int, stride: int, padding: int = 0,
                     dilation: int = 1, ceil_mode: bool = False) -> int:
    """Output size of max or average pooling along one dimension.

    The lecture's 1 + (J − F)/s with PyTorch's rules: floor by default; with
    ``ceil_mode`` the division rounds up, but a last window that would start
    past the input and its left padding is dropped (ATen ``Pool.h``:
    ``if ((out - 1) * stride >= size + pad) --out``).
    """
    span = size + 2 * padding - effective_kernel(kernel, dilation)
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    return span // stride + 1


def same_padding(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """Padding (before, after) that gives an output of ceil(J / s).

    With stride 1 this is PyTorch's ``padding='same'``; with stride > 1 it is
    TensorFlow/Keras ``padding='SAME'``. The total is
    max((ceil(J/s) − 1)·s + d·(M − 1) + 1 − J, 0); when it is odd, the extra
    pixel goes after (bottom/right), as both frameworks do.
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + effective_kernel(kernel, dilation) - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class Window:
    """Which positions a sliding window reads along one dimension.

    ``fraction`` is the lecture's (J + P_before + P_after − M_eff)/s, which
    PyTorch rounds down (or up under ``ceil_mode``). ``unread_input`` counts
    input positions at the far edge that no window reaches; ``unread_padding``
    the padded positions past the last window; ``overhang`` the positions a
    ``ceil_mode`` window reaches past the padded input; ``skipped`` the
    positions between consecutive windows when the stride exceeds the kernel.
    """

    out: int
    fraction: Fraction
    unread_input: int
    unread_padding: int
    overhang: int
    skipped: int

    @property
    def whole(self) -> bool:
        return self.fraction.denominator == 1


def window(size: int, kernel: int, stride: int, pad_before: int, pad_after: int,
           dilation: int, out: int) -> Window:
    """Describe the positions read by ``out`` windows of a layer.

    Window i covers padded positions i·s … i·s + d·(M − 1); everything from
    the end of the last window to the end of the padded input is never read.
    """
    extent = effective_kernel(kernel, dilation)
    padded = size + pad_before + pad_after
    last_end = (out - 1) * stride + extent  # one past the last position read
    tail = max(padded - last_end, 0)
    unread_input = max(tail - pad_after, 0)
    return Window(
        out=out,
        fraction=Fraction(padded - extent, stride),
        unread_input=unread_input,
        unread_padding=tail - unread_input,
        overhang=max(last_end - padded, 0),
        skipped=max(stride - extent, 0),
    )


def adaptive_connections(size: int, out: int) -> int:
    """Sum of the window sizes of adaptive pooling along one dimension.

    PyTorch's window i spans floor(i·J/O) … ceil((i+1)·J/O) − 1. Summed over
    i this telescopes to J + O − gcd(J, O), so the count costs O(1) whatever
    the sizes.
    """
    return size + out - math.gcd(size, out)


def adaptive_max_window(size: int, out: int) -> int:
    """Largest window of adaptive pooling along one dimension.

    With J = q·O + r: every window is q wide when r = 0; otherwise windows are
    q + 1 or q + 2 wide, and q + 2 occurs unless r divides O.
    """
    q, r = divmod(size, out)
    if r == 0:
        return q
    return q + 1 if out % r == 0 else q + 2


# The most entries a receptive field's period may hold. Conv/pool chains have period 1; each
# upsampling multiplies it by its ratio's denominator (a U-Net decoder's four ×2 give 16). Past
# this, :class:`IrregularField` is raised and the walk reports no field for that layer.
MAX_PERIOD = 4096

Bounds = tuple[int, int] | None  # first and last input pixel one output sees; None: none at all


class IrregularField(ValueError):
    """The field after a layer repeats only every more than :data:`MAX_PERIOD` positions."""


@dataclass(frozen=True)
class ReceptiveField:
    """Which input pixels each output position sees, along one dimension, exactly.

    Output position o (on the unbounded lattice: positions in padding count too, so a field is
    never clipped to the input) sees input pixels ``low(o)`` … ``high(o)``: the extent a gradient
    of output o with respect to the input finds when no weights cancel. Both are non-decreasing
    in o and repeat with a shift: with T = ``len(bounds)`` (the period) and D = ``shift``,

        (low(o), high(o)) = bounds[o mod T] + ⌊o / T⌋·D.

    A conv/pool chain has T = 1 (every output steps the same ``jump`` = the product of the
    strides). Upsampling and transposed convolutions step unevenly (×2 nearest: two outputs
    share a field, the next steps a whole input), so T grows to their ratio's denominator; a
    later stride can even the steps again, and the period is kept as small as it can be. A
    transposed convolution whose stride exceeds its kernel leaves outputs that see nothing
    (``None``). Every layer reads its input through one rule, :meth:`read`: output o sees the
    union of the fields of the input positions it reads, and because low and high are
    monotone that union is low(first read) … high(last read). Work per layer is O(T), whatever
    the image size.

    What the report shows: ``size``, the largest extent over all positions; ``jump``, the mean
    step D / T in input pixels between neighbouring outputs (a fraction after upsampling; 0 after
    ``linear`` along the width, whose outputs are features, not positions); ``start``, the input
    coordinate of the centre of output 0's field (pixel centres at 0, 1, 2, …; negative in the
    padding).
    """

    bounds: tuple[Bounds, ...] = ((0, 0),)
    shift: int = 1

    @property
    def period(self) -> int:
        return len(self.bounds)

    def at(self, position: int) -> Bounds:
        """(low, high) of output ``position``, or None where it sees no input pixel."""
        turns, index = divmod(position, len(self.bounds))
        found = self.bounds[index]
        if found is None:
            return None
        return found[0] + turns * self.shift, found[1] + turns * self.shift

    @property
    def size(self) -> int:
        """The most input pixels one output sees (first to last, holes of dilation included)."""
        if len(self.bounds) == 1 and self.bounds[0] is not None:
            return self.bounds[0][1] - self.bounds[0][0] + 1
        return max((b[1] - b[0] + 1 for b in self.bounds if b is not None), default=0)

    @property
    def jump(self) -> Fraction | int:
        if len(self.bounds) == 1:
            return self.shift
        return _whole_if_can(Fraction(self.shift, len(self.bounds)))

    @property
    def start(self) -> Fraction | int:
        """Centre of output 0's field; where output 0 sees nothing, of the first output that sees
        something, moved back by its position times the jump. A whole number where it can be."""
        for index, found in enumerate(self.bounds):
            if found is not None:
                twice = found[0] + found[1]
                if index == 0 and twice % 2 == 0:
                    return twice // 2
                return _whole_if_can(Fraction(twice, 2) - index * Fraction(self.shift, len(self.bounds)))
        return 0

    @property
    def even(self) -> bool:
        """Whether every output sees a field of the same size, one ``jump`` from the last."""
        return len(self.bounds) == 1 and self.bounds[0] is not None

    def read(self, period: int, advance: int, reads: Callable[[int], Sequence[int]]) -> ReceptiveField:
        """The field after a layer whose output o reads input positions ``reads(o)`` (ascending),
        where ``reads(o + period)`` is ``reads(o)`` moved by ``advance``.

        Output o sees the union of what those inputs see. The new period is the smallest
        multiple of ``period`` that moves the input by a whole number of this field's periods.
        """
        m = len(self.bounds) // math.gcd(advance, len(self.bounds))
        new_period = period * m
        if new_period > MAX_PERIOD:
            raise IrregularField(f"the field repeats only every {new_period} positions")
        shift = advance * m // len(self.bounds) * self.shift
        holes = any(b is None for b in self.bounds)
        bounds: list[Bounds] = []
        for o in range(new_period):
            positions = reads(o)
            if not holes:
                if len(positions) == 0:
                    bounds.append(None)
                    continue
                low, high = self.at(positions[0]), self.at(positions[-1])
                assert low is not None and high is not None
                bounds.append((low[0], high[1]))
                continue
            seen = [b for b in map(self.at, positions) if b is not None]
            bounds.append((min(b[0] for b in seen), max(b[1] for b in seen)) if seen else None)
        return _shortest(tuple(bounds), shift)

    def through(self, kernel: int, stride: int = 1, pad_before: int = 0,
                dilation: int = 1) -> ReceptiveField:
        """A sliding window (conv, pooling, padding and cropping as 1-wide windows): output o reads
        inputs o·s − P + k·d, k = 0 … M − 1. On an even field this is Araujo et al.'s (Distill
        2019) r' = r + (M_eff − 1)·j, j' = j·s, start' = start + ((M_eff − 1)/2 − P)·j."""
        first = -pad_before
        last = first + effective_kernel(kernel, dilation) - 1
        if self.even:
            (low, high), = self.bounds  # type: ignore[misc]
            return ReceptiveField(((low + first * self.shift, high + last * self.shift),),
                                  self.shift * stride)
        return self.read(1, stride, lambda o: range(o * stride + first, o * stride + last + 1, dilation))

    def nearest(self, ratio: Fraction) -> ReceptiveField:
        """torch's nearest upsampling: output o reads input ⌊o·ratio⌋ (ratio = in/out for a
        ``size``, 1/scale_factor for a ``scale_factor``, as ATen's ``nearest_idx``)."""
        p, q = ratio.numerator, ratio.denominator
        return self.read(q, p, lambda o: (o * p // q,))

    def bilinear(self, ratio: Fraction, align_corners: bool) -> ReceptiveField:
        """torch's bilinear upsampling along one axis: output o reads the inputs around
        src = (o + ½)·ratio − ½ (``align_corners`` false; ATen's ``area_pixel_compute_source_index``)
        or src = o·ratio (true, ratio = (in − 1)/(out − 1)): ⌊src⌋, and ⌊src⌋ + 1 unless src is
        whole (its weight is then 0, so no gradient reaches it)."""
        p, q = ratio.numerator, ratio.denominator
        if align_corners:
            return self.read(q, p, lambda o: _floor_ceil(o * p, q))
        return self.read(q, p, lambda o: _floor_ceil((2 * o + 1) * p - q, 2 * q))

    def adaptive(self, size: int, out: int) -> ReceptiveField:
        """Adaptive pooling: window o spans ⌊o·J/O⌋ … ⌈(o + 1)·J/O⌉ − 1 (torch's rule)."""
        g = math.gcd(size, out)
        return self.read(out // g, size // g,
                         lambda o: range(o * size // out, -(-(o + 1) * size // out)))

    def transposed(self, kernel: int, stride: int = 1, padding: int = 0,
                   dilation: int = 1) -> ReceptiveField:
        """A transposed convolution: input i meets tap k at output o = i·s + k·d − P, so output o
        reads the inputs (o + P − k·d)/s that are whole; with s > M some outputs read none."""
        def reads(o: int) -> list[int]:
            return sorted((o + padding - k * dilation) // stride for k in range(kernel)
                          if (o + padding - k * dilation) % stride == 0)
        return self.read(stride, 1, reads)


def _floor_ceil(numerator: int, denominator: int) -> tuple[int, ...]:
    low = numerator // denominator
    return (low,) if numerator % denominator == 0 else (low, low + 1)


def _shortest(bounds: tuple[Bounds, ...], shift: int) -> ReceptiveField:
    """The same field with its smallest period (a stride after upsampling can even the steps)."""
    period = len(bounds)
    for p in range(1, period):
        if period % p or shift * p % period:
            continue
        step = shift * p // period
        if all(_moved(bounds[i], step) == bounds[i + p] for i in range(period - p)):
            return ReceptiveField(bounds[:p], step)
    return ReceptiveField(bounds, shift)


def _moved(bounds: Bounds, by: int) -> Bounds:
    return None if bounds is None else (bounds[0] + by, bounds[1] + by)


def _whole_if_can(value: Fraction | int) -> Fraction | int:
    return int(value) if Fraction(value).denominator == 1 else Fraction(value)


def union(fields: list[ReceptiveField]) -> tuple[ReceptiveField, bool]:
    """The field of a merge, and whether its inputs agree on jump and centre.

    Output o of a merge reads position o of every input, so it sees the union of their fields
    there: the lowest low and the highest high (the extent a gradient finds). Where the inputs
    step alike (equal jumps) that union is exact at every position, over the least common
    multiple of their periods. Where the jumps differ the fields drift apart along the map and
    the union grows with the image; the first input's field is then widened to cover every
    input's at output 0, and the merge is reported unaligned.
    """
    first = fields[0]
    if all(f.even and f.shift == first.shift for f in fields):  # the common case, quickly
        lows, highs = zip(*(f.bounds[0] for f in fields), strict=True)
        aligned = len({low + high for low, high in zip(lows, highs, strict=True)}) == 1
        return ReceptiveField(((min(lows), max(highs)),), first.shift), aligned
    aligned = all(f.jump == first.jump and f.start == first.start for f in fields)
    if any(f.jump != first.jump for f in fields):
        here = [f.at(0) for f in fields]
        seen = [b for b in here if b is not None]
        own = first.at(0)
        if not seen or own is None:
            return first, aligned
        down, up = min(b[0] for b in seen) - own[0], max(b[1] for b in seen) - own[1]
        return ReceptiveField(tuple(None if b is None else (b[0] + down, b[1] + up) for b in first.bounds),
                              first.shift), aligned
    period = math.lcm(*(f.period for f in fields))
    if period > MAX_PERIOD:
        raise IrregularField(f"the field repeats only every {period} positions")
    bounds: list[Bounds] = []
    for o in range(period):
        seen = [b for b in (f.at(o) for f in fields) if b is not None]
        bounds.append((min(b[0] for b in seen), max(b[1] for b in seen)) if seen else None)
    return _shortest(tuple(bounds), first.shift * period // first.period), aligned


def conv_transpose_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0,
                               output_padding: int = 0, dilation: int = 1) -> int:
    """Output size of a transposed convolution along one dimension.

    (J − 1)·s − 2P + d·(M − 1) + output_padding + 1 (PyTorch's ``ConvTranspose2d`` docs): the
    inverse of a convolution's 1 + (J + 2P − M_eff)/s, with ``output_padding`` choosing among the
    sizes a strided convolution maps to the same J.
    """
    return (size - 1) * stride - 2 * padding + effective_kernel(kernel, dilation) + output_padding


@dataclass(frozen=True)
class Taps:
    """How many kernel weights reach the outputs of a transposed convolution, along one dimension.

    Input i meets kernel tap k at output o = i·s + k·d − P. Unlike a convolution's, the
    count varies with o (with s = 2 and M = 3, outputs alternate between 2 taps and 1):
    ``total`` sums it over the outputs, ``most`` is its largest value.
    """

    total: int
    most: int


def transposed_taps(size: int, kernel: int, stride: int = 1, padding: int = 0,
                    output_padding: int = 0, dilation: int = 1) -> Taps:
    """Count the (input, tap) pairs that reach each output of a transposed convolution.

    Output o receives c(t) pairs, t = o + P, where c(t) counts the ways t = j·s + k·d with
    0 ≤ j < J and 0 ≤ k < M. Work is O(M²) whatever the image size:

    - total: for each tap k, the inputs j with P ≤ j·s + k·d ≤ P + O − 1 form one range;
    - most: within one residue class of t mod s, c is a sum of indicator intervals
      [k·d, k·d + (J − 1)·s], so its maximum is reached at some interval's start, or at the
      first t ≥ P of that class; only those 2M values of t need counting.
    """
    out = conv_transpose_output_size(size, kernel, stride, padding, output_padding, dilation)
    first, last = padding, padding + out - 1  # the t = o + P that are real outputs
    total = 0
    for k in range(kernel):
        offset = k * dilation
        lo = max(0, -(-(first - offset) // stride))
        hi = min(size - 1, (last - offset) // stride)
        total += max(0, hi - lo + 1)

    def count(t: int) -> int:
        return sum(1 for k in range(kernel)
                   if (t - k * dilation) % stride == 0 and 0 <= (t - k * dilation) // stride < size)

    candidates = {k * dilation for k in range(kernel)}
    candidates |= {first + (k * dilation - first) % stride for k in range(kernel)}
    most = max((count(t) for t in candidates if first <= t <= last), default=0)
    return Taps(total=total, most=most)
