"""The lecture's operators on actual numbers: softmax, the convolution operator, pooling.

Where :mod:`cnncalc.analysis.core` counts sizes, this module computes values, so that a
student can check a worked example by hand (COMP9444 3b: Softmax 6.2.2,
Convolution Operator 9.1-9.2, Max Pooling 9.3-9.4, Stride 9.5). Nothing here
imports torch; the tests use it as the oracle.

Matrices are exact: every value is a :class:`~fractions.Fraction` parsed from
its decimal text, so ``0.1 × 0.2`` is 0.02 and not 0.020000000000000004, and
integers stay integers. :func:`format_number` shows a value as an integer, as
an exact decimal when it has at most 8 decimal places, and otherwise rounded to
6 significant digits (see :func:`is_rounded`). Softmax works on floats, as the
exponential is not exact anyway.

User mistakes raise :class:`NumericError`, which the CLI turns into a one-line
message and exit status 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal

from cnncalc.analysis.core import conv_output_size, pool_output_size
from cnncalc.errors import CnncalcError
from cnncalc.text import plural

__all__ = [
    "MAX_CELLS",
    "MAX_MAGNITUDE",
    "MAX_PRODUCTS",
    "MAX_TOTAL_CELLS",
    "MAX_WRITTEN",
    "CellBudget",
    "ConvCell",
    "Convolution",
    "Matrix",
    "MatrixLike",
    "NumericError",
    "PoolCell",
    "Pooling",
    "SizeStep",
    "Softmax",
    "as_matrix",
    "convolution_size",
    "convolve",
    "format_number",
    "is_rounded",
    "json_number",
    "parse_logits",
    "parse_matrix",
    "parse_number",
    "pool_values",
    "softmax",
]

#: a matrix: rows of exact values, every row the same length
Matrix = tuple[tuple[Fraction, ...], ...]
#: what the functions accept as a matrix: MATRIX text (see :func:`parse_matrix`) or rows of numbers
MatrixLike = str | Sequence[Sequence[int | float | Fraction | str]]

#: at most this many values in one matrix (a feature map included), and this many bytes in a
#: matrix file
MAX_CELLS = 100_000
MAX_FILE_BYTES = 1 << 20
#: at most this many values in all the matrices of one call (every --input and --kernel), counted
#: while they are read, so that twenty large files are refused at the third, not after the last
MAX_TOTAL_CELLS = 2 * MAX_CELLS
#: at most this many multiply-adds (or window reads) in one call, about a tenth of a second of work
MAX_PRODUCTS = 1_000_000
#: at most this many products (convolve's sums) or window values (pool's windows) written out:
#: about 11,000 lines of sums of a 3×3 kernel, written in under a second; beyond that the
#: text is no longer something to read by hand
MAX_WRITTEN = 100_000
#: numbers are at most this long, with an exponent of at most this size, so values stay small
MAX_NUMBER_CHARS = 60
MAX_EXPONENT = 100
#: every value is at most this large in size, with a denominator at most this large: a sum of
#: MAX_PRODUCTS products stays below 1e206 and far from a double's 1.8e308
MAX_MAGNITUDE = 10**100
MAX_DENOMINATOR = 10**100
#: a channel whose values (and kernel's) share a common denominator of at most this many bits is
#: summed in integers; otherwise each sum is added up one fraction at a time, which costs up to
#: 20 times more, so then at most MAX_FRACTION_PRODUCTS multiply-adds, and no sum's denominator
#: may pass MAX_SUM_BITS bits (about 1,200 digits)
SCALE_BITS = 512
MAX_FRACTION_PRODUCTS = 100_000
MAX_SUM_BITS = 4096
#: decimals with at most this many places are shown exactly
EXACT_PLACES = 8


class NumericError(CnncalcError):
    """Numbers, a matrix or an operator setting that cannot be used."""


# --- numbers ------------------------------------------------------------------------------

# sign, whole digits, decimal digits (in group 2 or 3), exponent
_DECIMAL = re.compile(r"([+-]?)(?:([0-9]+)(?:\.([0-9]*))?|\.([0-9]+))(?:[eE]([+-]?[0-9]+))?")
_RATIO = re.compile(r"([+-]?[0-9]+)/([0-9]+)")


def parse_number(token: str, where: str = "") -> Fraction:
    """The exact value of ``3``, ``-0.25``, ``1e-3`` or ``1/9`` (the lecture's − works as a minus).

    NaN and infinities are refused: every operator here needs finite numbers.
    ``where`` prefixes the error message (``"--bias"``, ``"row 2"``).
    """
    prefix = f"{where}: " if where else ""
    text = token.strip().replace("\u2212", "-")
    if len(text) > MAX_NUMBER_CHARS:
        raise NumericError(f"{prefix}{text[:20]!r}… is too long for a number "
                           f"(at most {MAX_NUMBER_CHARS} characters)")
    decimal = _DECIMAL.fullmatch(text)
    if decimal:
        sign, whole, places, only_places, exponent = decimal.groups()
        power = 0 if exponent is None else int(exponent)
        if abs(power) > MAX_EXPONENT:
            raise NumericError(f"{prefix}{text!r} is out of range: exponents go up to ±{MAX_EXPONENT}")
        # the digits as one integer, scaled by the power of ten (faster than Fraction(text))
        decimals = places or only_places or ""
        digits = int(sign + (whole or "") + decimals)
        power -= len(decimals)
        value = Fraction(digits * 10**power) if power >= 0 else Fraction(digits, 10**-power)
        return _in_range(value, repr(text), prefix)
    ratio = _RATIO.fullmatch(text)
    if ratio:
        if int(ratio.group(2)) == 0:
            raise NumericError(f"{prefix}{text!r} divides by zero")
        return _in_range(Fraction(int(ratio.group(1)), int(ratio.group(2))), repr(text), prefix)
    if text.lstrip("+-").lower() in ("nan", "inf", "infinity"):
        raise NumericError(f"{prefix}{text!r} is not allowed: values must be finite numbers")
    raise NumericError(f"{prefix}{text!r} is not a number")


def _in_range(value: Fraction, shown: str, prefix: str) -> Fraction:
    """``value`` when its size and denominator are at most 1e100 (:data:`MAX_MAGNITUDE`,
    :data:`MAX_DENOMINATOR`); larger ones would overflow a double once multiplied and summed."""
    if abs(value) > MAX_MAGNITUDE:
        raise NumericError(f"{prefix}{shown} is out of range: values go up to ±1e100")
    if value.denominator > MAX_DENOMINATOR:
        raise NumericError(f"{prefix}{shown} is too fine: a denominator may be at most 1e100 "
                           "(at most 100 decimal places)")
    return value


def _float(value: Fraction) -> float:
    """The nearest double; a value too large for one is refused, never an OverflowError."""
    try:
        return float(value)
    except OverflowError:
        raise NumericError("a result is too large for a double (over 1.8e308); use smaller values") from None


def _decimal_places(value: Fraction) -> int | None:
    """Places of the exact decimal expansion when it has at most ``EXACT_PLACES``, else None
    (longer, or never ending): the least p with a denominator dividing 10^p."""
    return next((places for places in range(EXACT_PLACES + 1) if 10**places % value.denominator == 0),
                None)


def is_rounded(value: Fraction) -> bool:
    """Whether :func:`format_number` shows ``value`` rounded rather than exactly."""
    return _decimal_places(value) is None


def format_number(value: Fraction | int) -> str:
    """``value`` for people: ``2``, ``-0.25``, ``0.333333`` (rounded to 6 significant digits).

    Integers stay integers; a decimal with at most 8 places is exact; anything
    else is rounded (:func:`is_rounded` tells which).
    """
    value = Fraction(value)
    if value.denominator == 1:
        return str(value.numerator)
    if is_rounded(value):
        return f"{_float(value):.6g}"
    places = _decimal_places(value) or 0
    digits = str(abs(value.numerator * 10**places // value.denominator)).rjust(places + 1, "0")
    sign = "-" if value < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:]}"


def json_number(value: Fraction) -> int | float:
    """An integer stays an int in JSON; anything else becomes the nearest float."""
    return value.numerator if value.denominator == 1 else _float(value)


# --- matrices -----------------------------------------------------------------------------

_SEPARATOR = re.compile(r"\s*,\s*|\s+")


class CellBudget:
    """The values left to read in one call: every matrix of a call (each --input and --kernel)
    draws on one budget, so that many large matrices are refused as soon as they pass it."""

    def __init__(self, cells: int = MAX_TOTAL_CELLS) -> None:
        self.cells = cells
        self.left = cells

    def take(self, count: int, name: str) -> None:
        """Draw ``count`` values for the matrix ``name``, or refuse: too many in all."""
        if count > self.left:
            raise NumericError(f"{name}: more than {self.cells:,} values in all the matrices; "
                               "too large to work by hand")
        self.left -= count


def parse_matrix(text: str, name: str = "matrix", budget: CellBudget | None = None) -> Matrix:
    """Parse MATRIX text: ``"1 2 0; 0 1 3"``, or ``@path`` to read it from a text file.

    Rows are separated by ``;`` or new lines, values by spaces or commas; blank
    rows and ``#`` comments are ignored. Values are exact (:func:`parse_number`).
    ``name`` (say ``"--input"``) starts the error messages of inline text; a file's
    messages start with its path and line. ``budget`` counts the values of every matrix
    of one call (:class:`CellBudget`); without it, this matrix has its own.
    """
    budget = CellBudget() if budget is None else budget
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            raise NumericError(f"{name}: cannot read {path}: {err.strerror or err}") from None
        if len(raw) > MAX_FILE_BYTES:
            raise NumericError(f"{path}: the file is over {MAX_FILE_BYTES >> 20} MiB; "
                               "a matrix is far smaller")
        try:
            body = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise NumericError(f"{path}: not a UTF-8 text file") from None
        return _parse_rows(body, str(path), True, budget)
    return _parse_rows(text, name, False, budget)


def _parse_rows(text: str, name: str, in_file: bool, budget: CellBudget) -> Matrix:
    rows: list[tuple[Fraction, ...]] = []
    first_where = ""
    cells = 0
    known: dict[str, Fraction] = {}  # a matrix repeats its values: each text is parsed once
    for line_no, line in enumerate(text.splitlines(), start=1):
        for part in line.split("#", 1)[0].split(";"):
            part = part.strip()
            if not part:
                continue
            where = f"{name}:{line_no}" if in_file else f"{name}: row {len(rows) + 1}"
            tokens = _SEPARATOR.split(part)
            if "" in tokens:
                raise NumericError(f"{where}: an empty value (two commas in a row?)")
            cells += len(tokens)
            if cells > MAX_CELLS:
                raise NumericError(f"{name}: more than {MAX_CELLS:,} values; too large to work by hand")
            budget.take(len(tokens), name)
            row = tuple(known[token] if token in known
                        else known.setdefault(token, parse_number(token, where)) for token in tokens)
            if rows and len(row) != len(rows[0]):
                raise NumericError(f"{where}: {plural(len(row), 'value')}, but {first_where} has "
                                   f"{len(rows[0])}; every row needs the same number")
            if not rows:
                first_where = f"line {line_no}" if in_file else "row 1"
            rows.append(row)
    if not rows:
        raise NumericError(f"{name}: the matrix is empty; write rows like \"1 2 0; 0 1 3\"")
    return tuple(rows)


def as_matrix(matrix: MatrixLike, name: str = "matrix", budget: CellBudget | None = None) -> Matrix:
    """A matrix from MATRIX text (:func:`parse_matrix`) or from rows of numbers.

    Numbers may be ints, Fractions, strings (:func:`parse_number`) or floats; a
    float is taken as its shortest decimal, so ``0.1`` is exactly 1/10. ``budget``
    as for :func:`parse_matrix`.
    """
    budget = CellBudget() if budget is None else budget
    if isinstance(matrix, str):
        return parse_matrix(matrix, name, budget)
    rows: list[tuple[Fraction, ...]] = []
    cells = 0
    # each distinct value is checked once (keyed by its type too: True == 1, but True is refused)
    known: dict[tuple[type, object], Fraction] = {}
    for r, raw_row in enumerate(matrix, start=1):
        if isinstance(raw_row, str):
            raise NumericError(f"{name}: row {r} is text, not a row of numbers")
        try:
            cells += len(raw_row)
        except TypeError:
            raise NumericError(f"{name}: row {r} is not a row of numbers") from None
        if cells > MAX_CELLS:
            raise NumericError(f"{name}: more than {MAX_CELLS:,} values; too large to work by hand")
        budget.take(len(raw_row), name)
        row = tuple(known[type(value), value] if (type(value), value) in known
                    else known.setdefault((type(value), value), _exact(value, f"{name}: row {r}"))
                    for value in raw_row)
        if not row:
            raise NumericError(f"{name}: row {r} is empty")
        if rows and len(row) != len(rows[0]):
            raise NumericError(f"{name}: row {r}: {plural(len(row), 'value')}, but row 1 has {len(rows[0])}; "
                               "every row needs the same number")
        rows.append(row)
    if not rows:
        raise NumericError(f"{name}: the matrix is empty")
    return tuple(rows)


def _exact(value: int | float | Fraction | str, where: str) -> Fraction:
    if isinstance(value, bool):
        raise NumericError(f"{where}: {value!r} is not a number")
    if isinstance(value, (int, Fraction)):
        exact = Fraction(value)
        # the repr of a number over 4300 digits raises: a long one is only described
        long = max(exact.numerator.bit_length(), exact.denominator.bit_length()) > 1000
        return _in_range(exact, "a value of over 300 digits" if long else repr(value), f"{where}: ")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NumericError(f"{where}: {value!r} is not allowed: values must be finite numbers")
        return parse_number(repr(value), where)
    if isinstance(value, str):
        return parse_number(value, where)
    raise NumericError(f"{where}: {value!r} is not a number")


def _size(matrix: Matrix) -> tuple[int, int]:
    return len(matrix), len(matrix[0])


def _pair(value: int | tuple[int, int], what: str, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise NumericError(f"{what} must be an integer or a pair of integers; got {value!r}")
    if min(pair) < minimum:
        raise NumericError(f"{what} must be at least {minimum}; got {value!r}")
    return pair[0], pair[1]


def _shape(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _padded(rows: int, cols: int, padding: tuple[int, int]) -> str:
    if not any(padding):
        return ""
    return f" padded to {_shape((rows + 2 * padding[0], cols + 2 * padding[1]))}"


# --- softmax (lecture 6.2.2) ----------------------------------------------------------------

@dataclass(frozen=True)
class Softmax:
    """Softmax of logits z_j, with the cost and gradient for a target class.

    Prob(j) = exp(z_j) / Σ_k exp(z_k) and log Prob(j) = z_j − log Σ_k exp(z_k)
    (lecture 6.2.2). With the correct class i as ``target``, ``cost`` is
    −log Prob(i) and ``gradient[j]`` is ∂cost/∂z_j = Prob(j) − [j = i].
    """

    logits: tuple[float, ...]
    log_sum_exp: float
    probabilities: tuple[float, ...]
    log_probabilities: tuple[float, ...]
    target: int | None = None
    cost: float | None = None
    gradient: tuple[float, ...] | None = None

    @property
    def strongest_wrong(self) -> tuple[int, ...]:
        """The wrong classes with the highest activation (all of them on a tie): the lecture's
        class that the cost pushes down most. Empty without a target or with one class."""
        if self.target is None:
            return ()
        wrong = [j for j in range(len(self.logits)) if j != self.target]
        if not wrong:
            return ()
        top = max(self.logits[j] for j in wrong)
        return tuple(j for j in wrong if self.logits[j] == top)


def parse_logits(tokens: Sequence[str]) -> tuple[float, ...]:
    """Logits from command-line words: each a number, or several split by commas or spaces."""
    values: list[float] = []
    for token in tokens:
        for piece in _SEPARATOR.split(token.strip()):
            if not piece:
                continue
            text = piece.replace("\u2212", "-")
            if text.startswith("--") or (text.startswith("-") and text[1:2].isalpha()
                                         and text[1:].lower() not in ("inf", "infinity", "nan")):
                raise NumericError(f"no such option: {piece} (the options are --target and -f/--format)")
            try:
                value = float(text)
            except ValueError:
                raise NumericError(f"{piece!r} is not a number") from None
            if not math.isfinite(value):
                raise NumericError(f"{piece!r} is not allowed: logits must be finite numbers")
            values.append(value)
    return tuple(values)


def softmax(logits: Sequence[float], target: int | None = None) -> Softmax:
    """Softmax, log-softmax and, for a ``target`` class (0-based), cost and gradient.

    Computed with the log-sum-exp trick: with m = max_k z_k,
    log Σ_k exp(z_k) = m + log Σ_k exp(z_k − m), where every exp(z_k − m) ≤ 1
    cannot overflow and the sum (``math.fsum``, exact before its last rounding)
    is at least 1. So ``1000 -1000 0`` gives log Prob = 0, −2000, −1000 exactly
    and Prob = 1, 0, 0, with no NaN or infinity.
    """
    z = tuple(float(v) for v in logits)
    if not z:
        raise NumericError("softmax needs at least one logit, e.g. 2 1 0.1")
    if not all(math.isfinite(v) for v in z):
        raise NumericError("logits must be finite numbers")
    if target is not None and (isinstance(target, bool) or not 0 <= target < len(z)):
        raise NumericError(f"target {target} is out of range: there {'is' if len(z) == 1 else 'are'} "
                           f"{plural(len(z), 'class', 'classes')}, "
                           f"numbered 0 to {len(z) - 1}")
    top = max(z)
    shifted = [v - top for v in z]
    if not all(math.isfinite(v) for v in shifted):
        raise NumericError("the logits are too far apart for double precision: "
                           "z_j − max z overflows")
    exps = [math.exp(v) for v in shifted]  # each in [0, 1]; underflow to 0 is harmless
    total = math.fsum(exps)  # at least 1: the largest logit contributes exp(0)
    log_total = math.log(total)
    # + 0.0 turns −0.0 into 0.0
    log_probs = tuple(v - log_total + 0.0 for v in shifted)
    probs = tuple(e / total for e in exps)
    if target is None:
        return Softmax(z, top + log_total, probs, log_probs)
    gradient = tuple(p - (1.0 if j == target else 0.0) + 0.0 for j, p in enumerate(probs))
    return Softmax(z, top + log_total, probs, log_probs, target, -log_probs[target] + 0.0, gradient)


# --- output sizes -------------------------------------------------------------------------

@dataclass(frozen=True)
class SizeStep:
    """One axis of an operator's output size, worked out: the lecture's 1 + (J + 2P − M)/s
    (``step`` is the fraction) and the ``output`` PyTorch gives, rounding it."""

    size: int
    padding: int
    kernel: int
    stride: int
    output: int

    @property
    def step(self) -> Fraction:
        """(J + 2P − M)/s, before any rounding."""
        return Fraction(self.size + 2 * self.padding - self.kernel, self.stride)

    @property
    def exact(self) -> bool:
        """Whether (J + 2P − M)/s is whole, so that nothing is rounded."""
        return self.step.denominator == 1

    @property
    def rounded_up(self) -> bool:
        """Whether the output is above 1 + (J + 2P − M)/s: ceil_mode added a partial window."""
        return self.output > 1 + self.step


# --- convolution (lecture 9.1-9.2, 9.5) -----------------------------------------------------

@dataclass(frozen=True)
class ConvCell:
    """One output S(j,k) with its sum: per channel, the (kernel weight, input value) pairs."""

    position: tuple[int, int]
    terms: tuple[tuple[tuple[Fraction, Fraction], ...], ...]
    channel_sums: tuple[Fraction, ...]
    bias: Fraction
    value: Fraction

    def written(self) -> list[str]:
        """The sum as a student writes it, ``K(m,n)×I(…)`` term by term:
        ``S(0,0) = 1×1 + 0×2 + 0×0 + 1×1 = 2``; one line per channel when several."""
        head = f"S({self.position[0]},{self.position[1]})"
        equals = "≈" if is_rounded(self.value) else "="
        if len(self.terms) == 1:
            parts = [_products(self.terms[0])]
            if self.bias:
                parts.append(_operand(self.bias))
            return [f"{head} = {' + '.join(parts)} {equals} {format_number(self.value)}"]
        pad = " " * len(head)
        lines = []
        for channel, (terms, total) in enumerate(zip(self.terms, self.channel_sums, strict=True)):
            sign = "=" if channel == 0 else "+"
            sub = "≈" if is_rounded(total) else "="
            lines.append(f"{head if channel == 0 else pad} {sign} channel {channel}: {_products(terms)} "
                         f"{sub} {format_number(total)}")
        if self.bias:
            lines.append(f"{pad} + bias: {format_number(self.bias)}")
        lines.append(f"{pad} {equals} {format_number(self.value)}")
        return lines


def _operand(value: Fraction) -> str:
    text = format_number(value)
    return f"({text})" if value < 0 else text


def _products(terms: Sequence[tuple[Fraction, Fraction]]) -> str:
    return " + ".join(f"{_operand(k)}×{_operand(i)}" for k, i in terms)


@dataclass(frozen=True)
class Convolution:
    """A feature map S computed from input channels I_l and kernel slices K_l.

    S(j,k) = b + Σ_l Σ_m Σ_n K_l(m,n) · I_l(s·j + m − P, s·k + n − P), with I = 0
    outside the input (zero padding P) — the lecture's Z(j,k) before g(). With
    ``flip``, ``applied`` is each kernel turned by 180°, K(M−1−m, N−1−n), which
    makes this the theoreticians' convolution Σ K(m,n) I(j − m, k − n).
    """

    inputs: tuple[Matrix, ...]
    kernels: tuple[Matrix, ...]
    applied: tuple[Matrix, ...]
    bias: Fraction
    stride: tuple[int, int]
    padding: tuple[int, int]
    flip: bool
    output: Matrix
    cells: tuple[ConvCell, ...] = ()

    @property
    def input_size(self) -> tuple[int, int]:
        return _size(self.inputs[0])

    @property
    def kernel_size(self) -> tuple[int, int]:
        return _size(self.kernels[0])

    @property
    def output_size(self) -> tuple[int, int]:
        return _size(self.output)

    @property
    def axes(self) -> tuple[SizeStep, SizeStep]:
        """The map's size worked out for rows and columns; PyTorch rounds it down."""
        return _axes(self.input_size, self.padding, self.kernel_size, self.stride, self.output_size)

    @property
    def steps(self) -> tuple[Fraction, Fraction]:
        """The lecture's (J + 2P − M)/s for rows and columns; PyTorch rounds it down."""
        rows, cols = self.axes
        return rows.step, cols.step


def _axes(size: tuple[int, int], padding: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int],
          output: tuple[int, int]) -> tuple[SizeStep, SizeStep]:
    return (SizeStep(size[0], padding[0], kernel[0], stride[0], output[0]),
            SizeStep(size[1], padding[1], kernel[1], stride[1], output[1]))


def _channels(matrices: MatrixLike | Sequence[MatrixLike], what: str,
              budget: CellBudget) -> tuple[Matrix, ...]:
    """One matrix (text, or rows of numbers), or a list of them (one per channel)."""
    if isinstance(matrices, str) or _is_one_matrix(matrices):
        return (as_matrix(matrices, what, budget),)  # type: ignore[arg-type]  # narrowed by _is_one_matrix
    items = list(matrices)
    if not items:
        raise NumericError(f"give at least one {what}")
    many = len(items) > 1
    return tuple(as_matrix(item, f"{what} {n}" if many else what, budget)  # type: ignore[arg-type]
                 for n, item in enumerate(items, start=1))


def _is_one_matrix(matrices: object) -> bool:
    """Rows of numbers, as opposed to a list of matrices (text, or rows of rows)."""
    first = next(iter(matrices), None) if isinstance(matrices, Sequence) else None
    if not isinstance(first, Sequence) or isinstance(first, str):
        return False
    inner = next(iter(first), None)
    return inner is not None and (isinstance(inner, str) or not isinstance(inner, Sequence))


def _at(matrix: Matrix, r: int, c: int) -> Fraction:
    """I(r, c), or 0 in the zero padding around the matrix."""
    return matrix[r][c] if 0 <= r < len(matrix) and 0 <= c < len(matrix[0]) else Fraction(0)


def _scaled(matrix: Matrix) -> tuple[list[list[int]], int] | None:
    """The matrix times the least common multiple D of its denominators, as integers, and D;
    None when D passes ``SCALE_BITS`` bits. D grows one distinct denominator at a time and
    the search stops there, so thousands of different denominators cost one pass, never the
    quadratic time and memory of their full least common multiple."""
    common = 1
    for denominator in {v.denominator for row in matrix for v in row}:
        common = math.lcm(common, denominator)
        if common.bit_length() > SCALE_BITS:
            return None
    return [[v.numerator * (common // v.denominator) for v in row] for row in matrix], common


def _fraction_sum(terms: Iterator[tuple[Fraction, Fraction]], position: tuple[int, int]) -> Fraction:
    """Σ k·i, exactly, for values with no small common denominator: over the least common
    multiple of the terms' denominators so far, refused once it passes ``MAX_SUM_BITS`` bits."""
    numerator, denominator = 0, 1
    for weight, value in terms:
        top, bottom = weight.numerator * value.numerator, weight.denominator * value.denominator
        if not top:
            continue
        scale = bottom // math.gcd(denominator, bottom)
        if scale != 1:
            numerator, denominator = numerator * scale, denominator * scale
            if denominator.bit_length() > MAX_SUM_BITS:
                raise NumericError(f"S({position[0]},{position[1]}): the exact sum needs a denominator "
                                   f"of over {int(MAX_SUM_BITS * 0.30103):,} digits; use values with fewer "
                                   "different denominators (shorter decimals, simpler fractions)")
        numerator += top * (denominator // bottom)
    return Fraction(numerator, denominator)


def convolution_size(input_size: tuple[int, int], kernel_size: tuple[int, int], channels: int,
                     stride: int | tuple[int, int] = 1,
                     padding: int | tuple[int, int] = 0, sums: bool = False) -> tuple[int, int]:
    """The feature map's size, or :class:`NumericError` when the kernel does not fit, the work
    passes ``MAX_PRODUCTS`` multiply-adds, the map ``MAX_CELLS`` values or, with ``sums``,
    the sums written out ``MAX_WRITTEN`` products. Known from the first input and kernel, so a
    command can refuse before it reads the other channels."""
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    (rows, cols), (kh, kw) = input_size, kernel_size
    out = (conv_output_size(rows, kh, s[0], p[0]), conv_output_size(cols, kw, s[1], p[1]))
    if min(out) < 1:
        raise NumericError(f"the {_shape((kh, kw))} kernel does not fit the {_shape((rows, cols))} input"
                           f"{_padded(rows, cols, p)}: a kernel may be at most as large as the padded "
                           "input; use a smaller kernel or more padding")
    work = out[0] * out[1] * channels * kh * kw
    if work > MAX_PRODUCTS:
        raise NumericError(f"{work:,} multiply-adds is too much work (at most {MAX_PRODUCTS:,}); "
                           "use smaller matrices")
    if out[0] * out[1] > MAX_CELLS:
        raise NumericError(f"the feature map would be {_shape(out)}, more than {MAX_CELLS:,} values; "
                           "too large to work by hand (use less padding or a larger stride)")
    if sums and work > MAX_WRITTEN:
        raise NumericError(_too_many_written("--sums", "sums", out, work // (out[0] * out[1]), "products"))
    return out


def _too_many_written(flag: str, what: str, out: tuple[int, int], each: int, items: str) -> str:
    """Why --sums or --windows is refused, and what size is accepted."""
    most = MAX_WRITTEN // each
    side = math.isqrt(most)
    return (f"{flag} would write out {out[0] * out[1]:,} {what} of {each:,} {items} ({_shape(out)}), "
            f"{out[0] * out[1] * each:,} {items} in all; at most {MAX_WRITTEN:,} are written out, so at "
            f"most {most:,} {what} of {each:,} (a {side}×{side} output); use a smaller input or a larger "
            f"stride, or leave out {flag}")


def _total(*values: int | Fraction) -> int | Fraction:
    """The sum of one column of a window's rows (``map(_total, *rows)``, as ``map(max, *rows)``)."""
    return sum(values)


def _flipped(matrix: Matrix) -> Matrix:
    return tuple(tuple(reversed(row)) for row in reversed(matrix))


def convolve(inputs: MatrixLike | Sequence[MatrixLike], kernels: MatrixLike | Sequence[MatrixLike],
             bias: Fraction | int | float | str = 0, stride: int | tuple[int, int] = 1,
             padding: int | tuple[int, int] = 0, flip: bool = False, sums: bool = False) -> Convolution:
    """Slide the kernel over the input: one feature map, as ``torch.nn.functional.conv2d``.

    ``inputs`` are the channels (one matrix, or a list of them) and ``kernels``
    one kernel slice per channel; ``padding`` P adds zeros on every side and
    ``stride`` s moves the window s positions at a time, so the map has
    1 + ⌊(J + 2P − M)/s⌋ rows and 1 + ⌊(K + 2P − N)/s⌋ columns (lecture 9.5).
    ``flip`` flips the kernel first (true convolution); ``sums`` keeps each
    cell's terms in :attr:`Convolution.cells`.
    """
    budget = CellBudget()
    ins = _channels(inputs, "input", budget)
    ks = _channels(kernels, "kernel", budget)
    b = _exact(bias, "bias")
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    if len(ins) != len(ks):
        raise NumericError(f"{plural(len(ins), 'input channel')} need{'s' if len(ins) == 1 else ''} "
                           f"{plural(len(ins), 'kernel slice')}, "
                           f"one per channel; got {len(ks)} (give one --kernel per --input)")
    for what, group in (("input channel", ins), ("kernel slice", ks)):
        for n, matrix in enumerate(group[1:], start=2):
            if _size(matrix) != _size(group[0]):
                raise NumericError(f"{what} {n} is {_shape(_size(matrix))}, but {what} 1 is "
                                   f"{_shape(_size(group[0]))}; every {what} must have the same size")
    (rows, cols), (kh, kw) = _size(ins[0]), _size(ks[0])
    out = convolution_size((rows, cols), (kh, kw), len(ins), s, p, sums)
    applied = tuple(_flipped(k) for k in ks) if flip else ks
    # Fractions are slow; a channel is summed in integers, scaled by its common denominators,
    # unless they are huge; then each sum is added up a fraction at a time, and costs more.
    scaled = [(_scaled(image), _scaled(kernel)) for image, kernel in zip(ins, applied, strict=True)]
    slow = sum(1 for image, kernel in scaled if image is None or kernel is None)
    work = out[0] * out[1] * slow * kh * kw
    if work > MAX_FRACTION_PRODUCTS:
        raise NumericError(f"{work:,} multiply-adds of values with no common denominator below "
                           f"2^{SCALE_BITS} is too much work (at most {MAX_FRACTION_PRODUCTS:,}); use "
                           "shorter decimals or simpler fractions, or smaller matrices")
    # the channels in integers, each map over the lcm of their denominators, then the bias
    maps = [None if image is None or kernel is None
            else (_integer_map(image[0], kernel[0], (rows, cols), out, s, p), image[1] * kernel[1])
            for image, kernel in scaled]
    common = math.lcm(b.denominator, *(d for _, d in filter(None, maps)))
    total = [[b.numerator * (common // b.denominator)] * out[1] for _ in range(out[0])]
    for channel in filter(None, maps):
        values, factor = channel[0], common // channel[1]
        total = [[t + factor * v for t, v in zip(t_row, v_row, strict=True)]
                 for t_row, v_row in zip(total, values, strict=True)]
    output: list[tuple[Fraction, ...]] = []
    cells: list[ConvCell] = []
    for j in range(out[0]):
        row = [Fraction(t, common) for t in total[j]]
        for k in range(out[1]) if slow or sums else ():
            top, left = j * s[0] - p[0], k * s[1] - p[1]
            rows_in = range(max(0, -top), min(kh, rows - top))
            cols_in = range(max(0, -left), min(kw, cols - left))
            channel_sums = tuple(_fraction_sum(((kernel[m][n], image[top + m][left + n])
                                                for m in rows_in for n in cols_in), (j, k))
                                 if channel is None else Fraction(channel[0][j][k], channel[1])
                                 for image, kernel, channel in zip(ins, applied, maps, strict=True))
            row[k] = value = sum(channel_sums, Fraction(0)) + b
            if sums:
                terms = tuple(tuple((kernel[m][n], _at(image, top + m, left + n))
                                    for m in range(kh) for n in range(kw))
                              for image, kernel in zip(ins, applied, strict=True))
                cells.append(ConvCell((j, k), terms, channel_sums, b, value))
        output.append(tuple(row))
    return Convolution(ins, ks, applied, b, s, p, flip, tuple(output), tuple(cells))


def _integer_map(image: list[list[int]], kernel: list[list[int]], size: tuple[int, int],
                 out: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]) -> list[list[int]]:
    """Σ_m Σ_n K(m,n)·I(s·j + m − P, s·k + n − P) for every output (j, k), with I = 0 outside the
    input, in integers. For each weight K(m,n), a strided slice of an input row times the weight
    is added to a whole row of outputs at once: Python loops over output rows and weights, and
    the cells are summed in list comprehensions (a 314×314 map of a 3×3 kernel: 0.03 s, where
    a generator per cell took over a second)."""
    (rows, cols), (out_rows, out_cols), (sh, sw), (ph, pw) = size, out, stride, padding
    # for each kernel column n: the outputs k whose input column sw·k + n − pw lies in the input
    # (first to end), and those input columns as a slice of the row
    spans: list[tuple[int, int, int, slice]] = []
    for n in range(len(kernel[0])):
        first = max(0, -((n - pw) // sw))  # ⌈(pw − n)/sw⌉
        last = min(out_cols - 1, (cols - 1 + pw - n) // sw)
        if first <= last:
            start = first * sw + n - pw
            spans.append((n, first, last + 1, slice(start, start + (last - first) * sw + 1, sw)))
    result: list[list[int]] = []
    for j in range(out_rows):
        sums = [0] * out_cols
        for m, weights in enumerate(kernel):
            r = j * sh + m - ph
            if not 0 <= r < rows:
                continue  # a row of zero padding
            line = image[r]
            for n, first, end, columns in spans:
                weight = weights[n]
                if not weight:
                    continue
                if first == 0 and end == out_cols:
                    sums = [a + weight * x for a, x in zip(sums, line[columns], strict=True)]
                else:
                    sums[first:end] = [a + weight * x for a, x in zip(sums[first:end], line[columns],
                                                                       strict=True)]
        result.append(sums)
    return result


# --- pooling (lecture 9.3-9.4) --------------------------------------------------------------

PoolMode = Literal["max", "avg"]


@dataclass(frozen=True)
class PoolCell:
    """One pooled value with the window it came from.

    ``values`` are the window's values in row order: for max pooling only the
    input's (padding never wins, as PyTorch pads with −∞); for average pooling
    also the padded zeros, which count (PyTorch's ``count_include_pad=True``).
    A ``ceil_mode`` window hanging past the padded input reads nothing there.
    """

    position: tuple[int, int]
    mode: PoolMode
    values: tuple[Fraction, ...]
    value: Fraction

    def written(self) -> str:
        """``max(1, 2, 0, 1) = 2`` or ``avg(1, 2, 0, 1) = 4/4 = 1``."""
        listed = ", ".join(format_number(v) for v in self.values)
        equals = "≈" if is_rounded(self.value) else "="
        if self.mode == "max":
            return f"max({listed}) = {format_number(self.value)}"
        total = format_number(sum(self.values, Fraction(0)))
        return f"avg({listed}) = {total}/{len(self.values)} {equals} {format_number(self.value)}"


@dataclass(frozen=True)
class Pooling:
    """A pooled matrix, and each cell's window when asked for (:func:`pool_values`)."""

    mode: PoolMode
    matrix: Matrix
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    ceil_mode: bool
    output: Matrix
    cells: tuple[PoolCell, ...] = ()

    @property
    def input_size(self) -> tuple[int, int]:
        return _size(self.matrix)

    @property
    def output_size(self) -> tuple[int, int]:
        return _size(self.output)

    @property
    def axes(self) -> tuple[SizeStep, SizeStep]:
        """The pooled size worked out for rows and columns: rounded down, or under
        ``ceil_mode`` up (:attr:`SizeStep.rounded_up`) unless PyTorch drops the last window."""
        return _axes(self.input_size, self.padding, self.kernel_size, self.stride, self.output_size)

    @property
    def steps(self) -> tuple[Fraction, Fraction]:
        """The lecture's (J + 2P − F)/s for rows and columns, before PyTorch rounds it."""
        rows, cols = self.axes
        return rows.step, cols.step


def pool_values(matrix: MatrixLike, kernel_size: int | tuple[int, int],
                stride: int | tuple[int, int] | None = None, padding: int | tuple[int, int] = 0,
                ceil_mode: bool = False, mode: str = "max", windows: bool = False) -> Pooling:
    """Max or average pooling of one matrix, as ``F.max_pool2d`` / ``F.avg_pool2d`` compute it.

    ``matrix`` is MATRIX text (``"1 2; 3 4"`` or ``@file``, see :func:`parse_matrix`)
    or rows of numbers. ``kernel_size`` F, ``stride`` s (default F) and
    ``padding`` P take an int or a (height, width) pair; ``mode`` is ``"max"`` or
    ``"avg"``. The result has 1 + (J + 2P − F)/s rows (lecture 9.3-9.4), rounded
    down, or with ``ceil_mode`` rounded up unless the last window would start
    past the input and its left padding (PyTorch's rule,
    :func:`cnncalc.analysis.core.pool_output_size`). Average pooling divides by the
    window's size including padded zeros (``count_include_pad=True``) but not
    what a ``ceil_mode`` window hangs past the padded input. As in PyTorch, P
    may be at most F/2. With ``windows``, :attr:`Pooling.cells` holds each
    cell's window, whose ``written()`` is ``max(1, 2, 0, 1) = 2``.

    Render the result with :func:`cnncalc.render.numeric.pooling_group` (a rich
    renderable) or :func:`~cnncalc.render.numeric.pooling_json`.
    """
    if mode not in ("max", "avg"):
        raise NumericError(f"pooling mode must be 'max' or 'avg'; got {mode!r}")
    pool_mode: PoolMode = "max" if mode == "max" else "avg"
    values = as_matrix(matrix)
    f = _pair(kernel_size, "kernel size", 1)
    s = f if stride is None else _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    if p[0] > f[0] // 2 or p[1] > f[1] // 2:
        raise NumericError(f"padding {_shape(p)} is more than half the {_shape(f)} window; "
                           "PyTorch allows at most half")
    rows, cols = _size(values)
    out = (pool_output_size(rows, f[0], s[0], p[0], ceil_mode=ceil_mode),
           pool_output_size(cols, f[1], s[1], p[1], ceil_mode=ceil_mode))
    if min(out) < 1:
        raise NumericError(f"the {_shape(f)} window does not fit the {_shape((rows, cols))} input"
                           f"{_padded(rows, cols, p)}")
    work = out[0] * out[1] * f[0] * f[1]
    if work > MAX_PRODUCTS:
        raise NumericError(f"{work:,} window reads is too much work (at most {MAX_PRODUCTS:,}); "
                           "use a smaller matrix")
    if windows and work > MAX_WRITTEN:
        raise NumericError(_too_many_written("--windows", "windows", out, f[0] * f[1], "values"))
    # compared and summed as integers over the common denominator when it is small
    scaled = _scaled(values)
    grid: Sequence[Sequence[int | Fraction]] = values if scaled is None else scaled[0]
    common = 1 if scaled is None else scaled[1]
    exact = {} if scaled is None else {n: v for ints, row in zip(scaled[0], values, strict=True)
                                       for n, v in zip(ints, row, strict=True)}
    output: list[tuple[Fraction, ...]] = []
    cells: list[PoolCell] = []
    for j in range(out[0]):
        top = j * s[0] - p[0]
        r_end = min(top + f[0], rows + p[0])  # a ceil_mode window may hang past the padded input
        inside = [grid[r] for r in range(max(top, 0), min(r_end, rows))]  # never empty: P ≤ F/2
        # each column's max (or sum) over the window's rows, then over each window's columns
        across = list(map(max if pool_mode == "max" else _total, *inside)) if len(inside) > 1 else inside[0]
        row: list[Fraction] = []
        for k in range(out[1]):
            left = k * s[1] - p[1]
            c_end = min(left + f[1], cols + p[1])
            window_values = across[max(left, 0):min(c_end, cols)]
            if pool_mode == "max":
                best = max(window_values)  # never empty: P ≤ F/2 and PyTorch's ceil rule keep an input cell
                value = best if isinstance(best, Fraction) else exact[best]
            else:
                # the padded zeros count (count_include_pad), what hangs past the padded input does not
                value = Fraction(sum(window_values), (r_end - top) * (c_end - left) * common)
            row.append(value)
            if windows:
                if pool_mode == "max":
                    window = tuple(values[r][c] for r in range(max(top, 0), min(r_end, rows))
                                   for c in range(max(left, 0), min(c_end, cols)))
                else:
                    window = tuple(values[r][c] if 0 <= r < rows and 0 <= c < cols else Fraction(0)
                                   for r in range(top, r_end) for c in range(left, c_end))
                cells.append(PoolCell((j, k), pool_mode, window, value))
        output.append(tuple(row))
    return Pooling(pool_mode, values, f, s, p, ceil_mode, tuple(output), tuple(cells))
