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
from dataclasses import dataclass
from fractions import Fraction

__all__ = [
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


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one output position along one dimension.

    ``size`` is how many input pixels it sees (the largest, where it depends on the position),
    ``jump`` the distance in input pixels between neighbouring outputs (the product of the
    strides so far; a fraction after upsampling), and ``start`` the input coordinate of the
    centre of the first output's field (pixel centres at 0, 1, 2, …; negative when it sits in
    padding).

    After upsampling, neighbouring outputs no longer step evenly: two outputs may share a field
    and the next one step a whole ``grain`` (the jump before upsampling). ``grain`` is None
    while the steps are even (then every step is ``jump``).
    """

    size: int = 1
    jump: Fraction | int = 1
    start: Fraction = Fraction(0)
    grain: Fraction | int | None = None

    def span(self, steps: int) -> int:
        """The most input pixels between the field centres of two outputs ``steps`` apart.

        Even steps: steps·j. Uneven ones (centres on a lattice of ``grain`` g, advancing j on
        average): ⌈steps·j / g⌉·g, reached somewhere along any map longer than one period.
        """
        if self.grain is None:
            return int(steps * self.jump)
        return math.ceil(Fraction(steps) * self.jump / self.grain) * int(self.grain)

    def through(self, kernel: int, stride: int = 1, pad_before: int = 0,
                dilation: int = 1) -> ReceptiveField:
        """The field after a sliding-window layer (Araujo et al., Distill 2019):

        r' = r + (M_eff − 1)·j,  j' = j·s,  start' = start + ((M_eff − 1)/2 − P)·j,

        with (M_eff − 1)·j read as :meth:`span` after upsampling.
        """
        extent = effective_kernel(kernel, dilation)
        jump = self.jump * stride
        return ReceptiveField(
            size=self.size + self.span(extent - 1),
            jump=_whole_if_can(jump),
            start=self.start + (Fraction(extent - 1, 2) - pad_before) * self.jump,
            grain=self._grain_after(jump),
        )

    def resampled(self, ratio: Fraction, reach: int = 0) -> ReceptiveField:
        """The field after upsampling (or a transposed convolution): output o reads input
        positions around o·``ratio``, and up to ``reach`` input steps beyond the nearest one
        (bilinear reads 1 more; a transposed convolution its distinct inputs less one).

        j' = j·ratio; r' = r + span(reach); the first output's centre stays on the first input's.
        """
        jump = self.jump * ratio
        grain = self.grain if self.grain is not None else self.jump
        return ReceptiveField(
            size=self.size + self.span(reach),
            jump=_whole_if_can(jump),
            start=self.start,
            grain=None if Fraction(jump) == Fraction(grain) else grain,
        )

    def _grain_after(self, jump: Fraction | int) -> Fraction | int | None:
        if self.grain is None or Fraction(jump) / Fraction(self.grain) == int(
                Fraction(jump) / Fraction(self.grain)):
            return None  # steps even again (a stride that undoes the upsampling)
        return self.grain


def _whole_if_can(value: Fraction | int) -> Fraction | int:
    return int(value) if Fraction(value).denominator == 1 else Fraction(value)


def union(fields: list[ReceptiveField]) -> tuple[ReceptiveField, bool]:
    """The field of a merge: the union of its inputs' fields at the first output (the largest
    extent, as a gradient finds it), and whether they agree on jump and centre."""
    low = min(f.start - Fraction(f.size - 1, 2) for f in fields)
    high = max(f.start + Fraction(f.size - 1, 2) for f in fields)
    first = fields[0]
    aligned = all(f.jump == first.jump and f.start == first.start for f in fields)
    grains = [f.grain for f in fields if f.grain is not None]
    return ReceptiveField(size=int(high - low) + 1, jump=first.jump, start=(low + high) / 2,
                          grain=grains[0] if grains else None), aligned


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
