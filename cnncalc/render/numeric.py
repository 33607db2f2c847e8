"""Renderers for :mod:`cnncalc.lecture.numeric`: rich renderables and JSON text, never printing.

Numbers in tables and sums are shown by :func:`cnncalc.lecture.numeric.format_number`:
integers as integers, decimals exactly up to 8 places, anything else rounded to
6 significant digits (and ``≈`` in written sums). JSON gives integers as
integers and everything else as the nearest double. rich is imported inside the
functions that need it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cnncalc.lecture.numeric import (
    Convolution,
    Matrix,
    Pooling,
    SizeStep,
    Softmax,
    format_number,
    is_rounded,
    json_number,
)

if TYPE_CHECKING:
    from rich.console import Group
    from rich.table import Table

    from cnncalc.render.long_table import LongTable

__all__ = [
    "convolution_dict",
    "convolution_group",
    "convolution_json",
    "matrix_table",
    "pooling_dict",
    "pooling_group",
    "pooling_json",
    "softmax_dict",
    "softmax_group",
    "softmax_json",
]

ROUNDED_NOTE = ("values that are not whole or short decimals are rounded to 6 significant digits; "
                "--format json has them in full")


def _float(x: float) -> str:
    """A float for people: whole numbers as integers, others to 6 significant digits, and a
    negative one with the typographic minus, −0.179104 (JSON keeps plain numbers)."""
    text = str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"
    return "\u2212" + text[1:] if text.startswith("-") else text


def _signed(x: float) -> str:
    return f"+{_float(x)}" if x > 0 else _float(x)


def _line(text: str) -> Any:
    from rich.text import Text

    return Text(text)  # not markup: "[j = i]" is text


_NUMBER_LIST = re.compile(r"\[\s+([-+\w.]+(?:,\s+[-+\w.]+)*)\s+\]")


def _dump(doc: dict[str, Any]) -> str:
    """Indented JSON, with each list of numbers (a matrix row, a shape) kept on one line."""
    text = json.dumps(doc, indent=2, ensure_ascii=False)
    return _NUMBER_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s+", m.group(1))) + "]", text) + "\n"


def _matrix_json(matrix: Matrix) -> list[list[int | float]]:
    return [[json_number(v) for v in row] for row in matrix]


def matrix_table(matrix: Matrix, title: str, only: Sequence[int] | None = None,
                 cells: Sequence[Sequence[str]] | None = None) -> Table:
    """A matrix as a table: row indices down the left, column indices across the top.

    Every column is as wide as its widest number, never cut. ``only``: the rows at these
    indices and no others (for :class:`~cnncalc.render.long_table.LongTable`); ``cells``:
    :func:`_matrix_cells` when already worked out.
    """
    from rich.table import Table

    rows = _matrix_cells(matrix) if cells is None else cells
    table = Table(title=_line(title), title_justify="left", header_style="bold")
    for c, header in enumerate(["", *map(str, range(len(matrix[0])))]):
        table.add_column(header, style="dim" if c == 0 else None, justify="right",
                         min_width=max(len(header), *(len(row[c]) for row in rows)))
    for r in range(len(rows)) if only is None else only:
        table.add_row(*rows[r])
    return table


def _matrix_cells(matrix: Matrix) -> list[list[str]]:
    return [[str(r), *map(format_number, row)] for r, row in enumerate(matrix)]


def _matrix(matrix: Matrix, title: str) -> LongTable:
    """:func:`matrix_table` as rich prints it, quickly for a large matrix (benchmarks/bounded.py);
    a matrix wider than the console is printed wider, never squeezed (the commands
    print with ``soft_wrap``, so the terminal wraps the long lines)."""
    from cnncalc.render.long_table import LongTable

    cells = _matrix_cells(matrix)
    return LongTable(lambda only: matrix_table(matrix, title, only, cells), cells, natural=True)


def _any_rounded(*matrices: Matrix) -> bool:
    return any(is_rounded(v) for matrix in matrices for row in matrix for v in row)


# --- softmax ------------------------------------------------------------------------------

def softmax_group(result: Softmax) -> Group:
    """The table of j, z_j, Prob(j), log Prob(j) (and the gradient), then the lecture's point."""
    from rich.console import Group
    from rich.table import Table

    target = result.target
    strongest = result.strongest_wrong
    table = Table(header_style="bold")
    for header in ("j", "z_j", "Prob(j)", "log Prob(j)"):
        table.add_column(header, justify="right")
    if target is not None:
        table.add_column(_line(f"∂cost/∂z_j = Prob(j) − [j = {target}]"), justify="right")
        table.add_column("")
    for j, z in enumerate(result.logits):
        cells = [str(j), _float(z), _float(result.probabilities[j]), _float(result.log_probabilities[j])]
        if result.gradient is not None:
            highest = "highest wrong (tied)" if len(strongest) > 1 else "highest wrong"
            note = ("correct class: pushed up" if j == target
                    else f"{highest}: pushed down most" if j in strongest else "")
            cells += [_signed(result.gradient[j]), note]
        table.add_row(*cells)
    lines = [
        "Prob(j) = exp(z_j)/Σ_k exp(z_k);  log Prob(j) = z_j − log Σ_k exp(z_k)  (lecture 6.2.2)",
        f"log Σ_k exp(z_k) = {_float(result.log_sum_exp)}, computed as max z + log Σ_k exp(z_k − max z), "
        "so no exp overflows",
    ]
    if target is None or result.cost is None or result.gradient is None:
        lines.append("give --target i (the correct class, 0-based) for the cost −log Prob(i) "
                     "and its gradient")
    else:
        lines.append(f"cost = −log Prob({target}) = {_float(result.cost)}")
        lines.extend(_point(result, target, result.gradient, strongest))
    return Group(table, *(_line(line) for line in lines))


def _point(result: Softmax, target: int, gradient: tuple[float, ...],
           strongest: tuple[int, ...]) -> list[str]:
    """The lecture's point, with this example's numbers."""
    if gradient[target] == 0:
        return [f"The correct class {target} already has Prob = 1 to double precision, so nothing moves."]
    lines = [f"The correct class {target} is pushed up: its gradient {_float(gradient[target])} is negative."]
    if len(strongest) == 1:
        j = strongest[0]
        lines.append(f"Among the wrong classes, class {j}, with the highest activation "
                     f"(z = {_float(result.logits[j])}), is pushed down most: gradient "
                     f"{_signed(gradient[j])}, the largest positive.")
    elif strongest:
        names = ", ".join(str(j) for j in strongest[:-1]) + f" and {strongest[-1]}"
        lines.append(f"Among the wrong classes, classes {names}, tied for the highest activation "
                     f"(z = {_float(result.logits[strongest[0]])}), are pushed down most, equally: "
                     f"gradient {_signed(gradient[strongest[0]])} each, the largest positive.")
    return lines


def softmax_dict(result: Softmax) -> dict[str, Any]:
    """The JSON document: each class's z, prob, log_prob (and gradient), log_sum_exp, target, cost."""
    classes: list[dict[str, Any]] = []
    for j, z in enumerate(result.logits):
        entry: dict[str, Any] = {"j": j, "z": z, "prob": result.probabilities[j],
                                 "log_prob": result.log_probabilities[j]}
        if result.gradient is not None:
            entry["gradient"] = result.gradient[j]
        classes.append(entry)
    doc: dict[str, Any] = {"classes": classes, "log_sum_exp": result.log_sum_exp}
    if result.target is not None:
        doc.update(target=result.target, cost=result.cost, pushed_down_most=list(result.strongest_wrong))
    return doc


def softmax_json(result: Softmax) -> str:
    return _dump(softmax_dict(result))


# --- convolution --------------------------------------------------------------------------

def _offset(stride: int, letter: str, inner: str, padding: int, sign: str) -> str:
    """``j+m``, ``2j+m``, ``2j+m−1``: the input index of kernel position ``inner``."""
    text = f"{stride if stride > 1 else ''}{letter}{sign}{inner}"
    return f"{text}−{padding}" if padding else text


def _size_line(what: str, letters: tuple[str, str], axis: SizeStep) -> str:
    j, m = letters
    formula = f"1 + ({j} + 2P − {m})/s = 1 + ({axis.size} + 2×{axis.padding} − {axis.kernel})/{axis.stride}"
    if axis.exact:
        return f"{what}: {formula} = {axis.output}"
    return (f"{what}: {formula} = 1 + {format_number(axis.step)} → {axis.output} "
            "(rounded down, as PyTorch does)")


def convolution_group(result: Convolution) -> Group:
    """The formula used, the map's size worked out, the feature map, and the sums if kept."""
    from rich.console import Group
    from rich.text import Text

    (sh, sw), (ph, pw) = result.stride, result.padding
    many = len(result.inputs) > 1
    k_name = "K'" if result.flip else "K"
    sub = "_l" if many else ""
    index = (f"{_offset(sh, 'j', 'm', ph, '+')}, {_offset(sw, 'k', 'n', pw, '+')}")
    formula = (f"S(j,k) = {'Σ_l ' if many else ''}Σ_m Σ_n {k_name}{sub}(m,n)·I{sub}({index})"
               f"{' + b' if result.bias else ''}")
    lines: list[str] = []
    if result.flip:
        lines.append("--flip: true convolution, Σ_m Σ_n K(m,n)·I(j−m, k−n); the kernel turned by 180°, "
                     "K'(m,n) = K(M−1−m, N−1−n), slides as below")
    lines.append(formula + ("" if result.flip else "   (cross-correlation, as PyTorch's conv2d)"))
    notes = []
    if result.bias:
        notes.append(f"b = {format_number(result.bias)}")
    if ph or pw:
        notes.append(f"I = 0 outside the input (zero padding P = {_pair_text((ph, pw))})")
    if sh > 1 or sw > 1:
        notes.append(f"stride s = {_pair_text((sh, sw))}")
    if notes:
        lines.append("  with " + "; ".join(notes))
    (rows, cols), (kh, kw) = result.input_size, result.kernel_size
    channels = f"{len(result.inputs)} channels of " if many else ""
    lines.append(f"input {channels}{rows}×{cols}, kernel {kh}×{kw} → feature map "
                 f"{result.output_size[0]}×{result.output_size[1]}")
    axis_rows, axis_cols = result.axes
    lines.append(_size_line("rows", ("J", "M"), axis_rows))
    lines.append(_size_line("columns", ("K", "N"), axis_cols))
    parts: list[Any] = [_line(line) for line in lines]
    if result.flip:
        for n, kernel in enumerate(result.applied):
            parts.append(_matrix(kernel, f"flipped kernel K'{f' (channel {n})' if many else ''}"))
    size = f"{result.output_size[0]}×{result.output_size[1]}"
    parts.append(_matrix(result.output, f"feature map S ({size})"))
    if _any_rounded(result.output, *((*result.inputs, *result.kernels) if result.cells else ())):
        parts.append(_line(ROUNDED_NOTE))
    if result.cells:
        parts.append(Text(""))
        what = "K'(m,n)×I(…)" if result.flip else "K(m,n)×I(…)"
        parts.append(_line(f"each term is {what}, row by row; padded positions read 0"
                           if ph or pw else f"each term is {what}, row by row"))
        for cell in result.cells:
            parts.extend(_line(line) for line in cell.written())
    return Group(*parts)


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def convolution_dict(result: Convolution) -> dict[str, Any]:
    """The JSON document: settings, sizes, the feature map, and the written sums if kept."""
    doc: dict[str, Any] = {
        "input_shape": [len(result.inputs), *result.input_size],
        "kernel_shape": [len(result.kernels), *result.kernel_size],
        "bias": json_number(result.bias),
        "stride": list(result.stride),
        "padding": list(result.padding),
        "flip": result.flip,
        "output_shape": list(result.output_size),
        "output": _matrix_json(result.output),
    }
    if result.flip:
        doc["flipped_kernels"] = [_matrix_json(k) for k in result.applied]
    if result.cells:
        doc["sums"] = [{"position": list(cell.position), "written": "\n".join(cell.written()),
                        "value": json_number(cell.value)} for cell in result.cells]
    return doc


def convolution_json(result: Convolution) -> str:
    return _dump(convolution_dict(result))


# --- pooling ------------------------------------------------------------------------------

def pooling_group(result: Pooling) -> Group:
    """The pooled matrix with its size worked out, then each window if kept (``windows=True``).

    For ``cnncalc pool --values``: ``Console().print(pooling_group(result), soft_wrap=True)``;
    ``soft_wrap`` keeps a long window on one line. :func:`pooling_json` is the JSON form.
    """
    from rich.console import Group
    from rich.text import Text

    (rows, cols), (fh, fw) = result.input_size, result.kernel_size
    (sh, sw), (ph, pw) = result.stride, result.padding
    name = "max" if result.mode == "max" else "average"
    ceil = ", ceil_mode" if result.ceil_mode else ""
    lines = [f"{name} pooling, window {fh}×{fw}, stride {_pair_text((sh, sw))}, "
             f"padding {_pair_text((ph, pw))}{ceil}: input {rows}×{cols} → "
             f"{result.output_size[0]}×{result.output_size[1]}"]
    for what, letter, axis in zip(("rows", "columns"), "JK", result.axes, strict=True):
        worked = (f"{what}: 1 + ({letter} + 2P − F)/s = "
                  f"1 + ({axis.size} + 2×{axis.padding} − {axis.kernel})/{axis.stride}")
        if axis.exact:
            worked += f" = {axis.output}"
        else:
            worked += f" = 1 + {format_number(axis.step)} → {axis.output}"
            if axis.rounded_up:
                worked += " (rounded up: ceil_mode)"
            elif result.ceil_mode:
                worked += (" (rounded down: under ceil_mode PyTorch drops a last window "
                           "that would start past the input)")
            else:
                worked += " (rounded down, as PyTorch does)"
        lines.append(worked)
    if result.mode == "avg" and (ph or pw):
        lines.append("padded zeros count in each average (PyTorch's count_include_pad=True)")
    if result.mode == "max" and (ph or pw):
        lines.append("padding never wins a max (PyTorch pads with −∞)")
    parts: list[Any] = [_line(line) for line in lines]
    parts.append(_matrix(result.output, f"pooled ({result.output_size[0]}×{result.output_size[1]})"))
    if _any_rounded(result.output):
        parts.append(_line(ROUNDED_NOTE))
    if result.cells:
        parts.append(Text(""))
        parts.extend(_line(f"({cell.position[0]},{cell.position[1]}): {cell.written()}")
                     for cell in result.cells)
    return Group(*parts)


def pooling_dict(result: Pooling) -> dict[str, Any]:
    """The JSON document: settings, sizes, the pooled matrix, and each window if kept."""
    doc: dict[str, Any] = {
        "mode": result.mode,
        "input_shape": list(result.input_size),
        "kernel_size": list(result.kernel_size),
        "stride": list(result.stride),
        "padding": list(result.padding),
        "ceil_mode": result.ceil_mode,
        "output_shape": list(result.output_size),
        "output": _matrix_json(result.output),
    }
    if result.cells:
        doc["windows"] = [{"position": list(cell.position), "values": [json_number(v) for v in cell.values],
                           "written": cell.written(), "value": json_number(cell.value)}
                          for cell in result.cells]
    return doc


def pooling_json(result: Pooling) -> str:
    return _dump(pooling_dict(result))
