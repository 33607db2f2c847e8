"""The lecture's operators on numbers (cnncalc.lecture.numeric): softmax, convolve, pool_values.

PyTorch is the oracle: ``torch.softmax``/``log_softmax`` and autograd through
``F.cross_entropy`` for softmax, ``F.conv2d`` (with ``torch.flip`` for --flip)
for the convolution operator, ``F.max_pool2d``/``F.avg_pool2d`` for pooling, on
random small matrices drawn by hypothesis (derandomized, so every run sees the
same examples). Then the numerically hard cases, the exact CLI outputs, and the
error messages.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.analysis.core import pool_output_size
from cnncalc.cli import cli
from cnncalc.lecture.numeric import (
    MAX_TOTAL_CELLS,
    CellBudget,
    Matrix,
    NumericError,
    convolve,
    format_number,
    is_rounded,
    json_number,
    parse_logits,
    parse_matrix,
    parse_number,
    pool_values,
    softmax,
)
from cnncalc.render.numeric import pooling_group, pooling_json

SETTINGS = settings(derandomize=True, deadline=None, max_examples=150, database=None)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Tiny tensors: one intra-op thread (conftest's one_torch_thread) for every test here."""


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def tensor(matrices: list[Matrix]) -> torch.Tensor:
    """Channels of exact matrices as a float64 batch of one: shape (1, C, H, W)."""
    return torch.tensor([[[float(v) for v in row] for row in m] for m in matrices],
                        dtype=torch.float64).unsqueeze(0)


def flat(matrix: Matrix) -> list[float]:
    return [float(v) for row in matrix for v in row]


# quarters are exact in binary, so torch's float64 sums must match the exact ones closely
values = st.integers(-20, 20).map(lambda n: Fraction(n, 4))


@st.composite
def matrices(draw: st.DrawFn, rows: int, cols: int) -> Matrix:
    return tuple(tuple(draw(values) for _ in range(cols)) for _ in range(rows))


# --- softmax ------------------------------------------------------------------------------

@pytest.mark.torch
@SETTINGS
@given(st.lists(st.floats(-60, 60, allow_nan=False), min_size=1, max_size=8), st.data())
def test_softmax_matches_torch(logits: list[float], data: st.DataObject) -> None:
    target = data.draw(st.integers(0, len(logits) - 1))
    result = softmax(logits, target)
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    assert result.probabilities == pytest.approx(torch.softmax(z, 0).tolist(), rel=1e-12, abs=1e-300)
    assert result.log_probabilities == pytest.approx(torch.log_softmax(z, 0).tolist(), rel=1e-12, abs=1e-12)
    assert math.fsum(result.probabilities) == pytest.approx(1, abs=1e-12)
    cost = F.cross_entropy(z.unsqueeze(0), torch.tensor([target]))
    cost.backward()
    assert result.cost == pytest.approx(cost.item(), rel=1e-12, abs=1e-12)
    assert z.grad is not None
    assert result.gradient == pytest.approx(z.grad.tolist(), rel=1e-12, abs=1e-12)
    # the lecture's point: the correct class goes up, the strongest wrong class down the most
    assert result.gradient is not None
    assert result.gradient[target] <= 0
    if result.strongest_wrong:
        top = result.strongest_wrong[0]
        assert all(result.gradient[top] >= result.gradient[j] >= 0 for j in range(len(logits)) if j != target)


@pytest.mark.torch
@pytest.mark.parametrize("logits", [[1000, -1000, 0], [-1000, 1000], [1e300, -1e300, 0], [-745, -746, -800],
                                    [0.0], [7, 7, 7]])
def test_softmax_is_stable_where_torch_is(logits: list[float]) -> None:
    result = softmax(logits, target=0)
    z = torch.tensor(logits, dtype=torch.float64)
    assert all(map(math.isfinite, [*result.probabilities, *result.log_probabilities, result.cost or 0.0]))
    assert list(result.probabilities) == pytest.approx(torch.softmax(z, 0).tolist(), rel=1e-15, abs=1e-300)
    assert list(result.log_probabilities) == pytest.approx(torch.log_softmax(z, 0).tolist(), rel=1e-15)


def test_softmax_exact_for_huge_logits() -> None:
    result = softmax([1000, -1000, 0], target=1)
    assert result.probabilities == (1.0, 0.0, 0.0)
    assert result.log_probabilities == (0.0, -2000.0, -1000.0)
    assert result.log_sum_exp == 1000.0
    assert result.cost == 2000.0
    assert result.gradient == (1.0, -1.0, 0.0)
    assert result.strongest_wrong == (0,)
    assert not any(math.copysign(1, v) < 0 for v in (*result.probabilities, result.cost))


def test_softmax_ties_and_one_class() -> None:
    assert softmax([3, 1, 3, 0], target=1).strongest_wrong == (0, 2)
    single = softmax([5], target=0)
    assert (single.probabilities, single.cost, single.gradient) == ((1.0,), 0.0, (0.0,))
    assert single.strongest_wrong == ()
    assert softmax([1, 2]).strongest_wrong == ()


@pytest.mark.parametrize(("logits", "target", "message"), [
    ([], None, "softmax needs at least one logit"),
    ([1, 2], 2, "target 2 is out of range: there are 2 classes, numbered 0 to 1"),
    ([1], -1, "target -1 is out of range: there is 1 class, numbered 0 to 0"),
    ([1, math.nan], None, "logits must be finite numbers"),
    ([1e308, -1e308], None, "the logits are too far apart for double precision"),
])
def test_softmax_errors(logits: list[float], target: int | None, message: str) -> None:
    with pytest.raises(NumericError, match=message.replace("(", r"\(").replace(")", r"\)")):
        softmax(logits, target)


def test_parse_logits() -> None:
    assert parse_logits(["-1", "2.5", "1e1, −3", " 4 5 "]) == (-1.0, 2.5, 10.0, -3.0, 4.0, 5.0)
    for word, message in [("x", "'x' is not a number"), ("-inf", "'-inf' is not allowed"),
                          ("1e999", "'1e999' is not allowed"), ("--tagret", "no such option: --tagret"),
                          ("-t", "no such option: -t")]:
        with pytest.raises(NumericError, match=message):
            parse_logits([word])


# --- numbers and matrices ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "value"), [
    ("3", Fraction(3)), ("-0.25", Fraction(-1, 4)), ("1e-3", Fraction(1, 1000)), ("+.5", Fraction(1, 2)),
    ("1/9", Fraction(1, 9)), ("−2", Fraction(-2)), ("2.", Fraction(2)), ("-3/6", Fraction(-1, 2)),
    ("1E2", Fraction(100)),
])
def test_parse_number(text: str, value: Fraction) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("x", "'x' is not a number"), ("nan", "'nan' is not allowed: values must be finite numbers"),
    ("-Infinity", "not allowed"), ("1/0", "divides by zero"), ("1e101", "exponents go up to ±100"),
    ("1" * 61, "too long"), ("١", "not a number"), ("0x10", "not a number"), ("", "not a number"),
])
def test_parse_number_refuses(text: str, message: str) -> None:
    with pytest.raises(NumericError, match=message):
        parse_number(text)


@pytest.mark.parametrize(("value", "text", "rounded"), [
    (Fraction(2), "2", False), (Fraction(-7), "-7", False), (Fraction(1, 4), "0.25", False),
    (Fraction(-1, 8), "-0.125", False), (Fraction(5, 1024), "0.00488281", True),
    (Fraction(-3, 1000), "-0.003", False), (Fraction(1, 3), "0.333333", True),
    (Fraction(200, 3), "66.6667", True), (Fraction(1, 10**8), "0.00000001", False),
])
def test_format_number(value: Fraction, text: str, rounded: bool) -> None:
    assert format_number(value) == text
    assert is_rounded(value) is rounded


def test_parse_matrix_forms(tmp_path: Path) -> None:
    expected = ((Fraction(1), Fraction(2), Fraction(0)), (Fraction(0), Fraction(-1), Fraction(3, 2)))
    assert parse_matrix("1 2 0; 0 -1 1.5") == expected
    assert parse_matrix("1, 2, 0\n0,-1,1.5;") == expected
    path = tmp_path / "m.txt"
    path.write_text("# a comment\n1 2 0   # first row\n\n0 −1 1.5\n", encoding="utf-8")
    assert parse_matrix(f"@{path}") == expected


@pytest.mark.parametrize(("text", "message"), [
    ("1 2; 3", "--input: row 2: 1 value, but row 1 has 2; every row needs the same number"),
    ("1 x", "--input: row 1: 'x' is not a number"),
    ("", "--input: the matrix is empty"),
    (" ; \n", "--input: the matrix is empty"),
    ("1,,2", "--input: row 1: an empty value"),
    ("@/nonexistent/m.txt", "--input: cannot read /nonexistent/m.txt: No such file or directory"),
])
def test_parse_matrix_errors(text: str, message: str) -> None:
    with pytest.raises(NumericError) as caught:
        parse_matrix(text, "--input")
    assert str(caught.value).startswith(message)


def test_matrix_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "m.txt"
    path.write_text("# image\n1 2 0\n0 1\n")
    with pytest.raises(NumericError, match=r"m\.txt:3: 2 values, but line 2 has 3"):
        parse_matrix(f"@{path}")
    path.write_bytes(b"1 \xff\n")
    with pytest.raises(NumericError, match="not a UTF-8 text file"):
        parse_matrix(f"@{path}")


# --- convolution --------------------------------------------------------------------------

@st.composite
def conv_cases(draw: st.DrawFn) -> dict[str, object]:
    channels = draw(st.integers(1, 3))
    rows, cols = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding, stride = draw(st.integers(0, 2)), draw(st.integers(1, 3))
    kh = draw(st.integers(1, rows + 2 * padding))
    kw = draw(st.integers(1, min(4, cols + 2 * padding)))
    return {"inputs": [draw(matrices(rows, cols)) for _ in range(channels)],
            "kernels": [draw(matrices(min(kh, 4), kw)) for _ in range(channels)],
            "bias": draw(values), "stride": stride, "padding": padding, "flip": draw(st.booleans())}


@pytest.mark.torch
@SETTINGS
@given(conv_cases())
def test_convolve_matches_conv2d(case: dict[str, object]) -> None:
    result = convolve(**case, sums=True)  # type: ignore[arg-type]
    weight = tensor(list(result.kernels))
    if result.flip:
        weight = torch.flip(weight, dims=[2, 3])
    bias = torch.tensor([float(result.bias)], dtype=torch.float64)
    expected = F.conv2d(tensor(list(result.inputs)), weight, bias, stride=result.stride,
                        padding=result.padding)[0, 0]
    assert list(expected.shape) == list(result.output_size)
    assert flat(result.output) == pytest.approx(expected.flatten().tolist(), abs=1e-9)
    # every written sum adds up to its cell
    for cell in result.cells:
        j, k = cell.position
        written = sum(w * v for terms in cell.terms for w, v in terms) + cell.bias
        assert cell.value == result.output[j][k] == written


def test_convolve_lecture_example_and_sums() -> None:
    result = convolve("1 2 0; 0 1 3; 2 1 0", "1 0; 0 1", sums=True)
    assert result.output == ((2, 5), (1, 1))
    assert result.cells[0].written() == ["S(0,0) = 1×1 + 0×2 + 0×0 + 1×1 = 2"]
    flipped = convolve("1 2; 3 4", "1 2; 3 4", flip=True, sums=True)
    assert flipped.applied == (((4, 3), (2, 1)),)
    assert flipped.cells[0].written() == ["S(0,0) = 4×1 + 3×2 + 2×3 + 1×4 = 20"]


def test_convolve_exact_decimals_and_negative_terms() -> None:
    result = convolve([[Fraction(1, 10), 2]], [["0.2", "-1"]], bias="0.5", sums=True)
    assert result.output == ((Fraction(1, 50) - 2 + Fraction(1, 2),),)
    assert result.cells[0].written() == ["S(0,0) = 0.2×0.1 + (-1)×2 + 0.5 = -1.48"]


def test_convolve_channel_by_channel_sums() -> None:
    result = convolve(["1 2; 3 4", "0 1; 1 0"], ["1 0; 0 1", "2 2; 2 2"], bias=1, sums=True)
    assert result.output == ((10,),)
    assert result.cells[0].written() == [
        "S(0,0) = channel 0: 1×1 + 0×2 + 0×3 + 1×4 = 5",
        "       + channel 1: 2×0 + 2×1 + 2×1 + 2×0 = 4",
        "       + bias: 1",
        "       = 10",
    ]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"inputs": ["1 2; 3 4", "1 2; 3 4"], "kernels": ["1"]},
     "2 input channels need 2 kernel slices, one per channel; got 1"),
    ({"inputs": ["1 2; 3 4", "1 2 3; 4 5 6"], "kernels": ["1", "1"]},
     "input channel 2 is 2×3, but input channel 1 is 2×2"),
    ({"inputs": ["1 2; 3 4", "1 2; 4 5"], "kernels": ["1", "1 1"]},
     "kernel slice 2 is 1×2, but kernel slice 1 is 1×1"),
    ({"inputs": "1 2; 3 4", "kernels": "1 1 1; 1 1 1; 1 1 1"},
     "the 3×3 kernel does not fit the 2×2 input: a kernel may be at most as large as the padded input"),
    ({"inputs": "1 2; 3 4", "kernels": "1 1 1 1 1", "padding": 1},
     "the 1×5 kernel does not fit the 2×2 input padded to 4×4"),
    ({"inputs": "1", "kernels": "1", "stride": 0}, "stride must be at least 1; got 0"),
    ({"inputs": "1", "kernels": "1", "padding": -1}, "padding must be at least 0; got -1"),
    ({"inputs": "1", "kernels": "1", "bias": math.inf}, "bias: inf is not allowed"),
    ({"inputs": "1", "kernels": "1", "padding": 10_000}, "multiply-adds is too much work"),
    ({"inputs": [], "kernels": "1"}, "give at least one input"),
])
def test_convolve_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(NumericError) as caught:
        convolve(**kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


# --- pooling ------------------------------------------------------------------------------

@st.composite
def pool_cases(draw: st.DrawFn) -> dict[str, object]:
    rows, cols = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    ceil_mode = draw(st.booleans())
    step = stride or kernel
    for size, k, s, p in zip((rows, cols), kernel, step, padding, strict=True):
        if pool_output_size(size, k, s, p, ceil_mode=ceil_mode) < 1:
            draw(st.nothing())
    return {"matrix": draw(matrices(rows, cols)), "kernel_size": kernel, "stride": stride, "padding": padding,
            "ceil_mode": ceil_mode, "mode": draw(st.sampled_from(["max", "avg"]))}


@pytest.mark.torch
@SETTINGS
@given(pool_cases())
def test_pool_values_match_torch(case: dict[str, object]) -> None:
    result = pool_values(**case, windows=True)  # type: ignore[arg-type]
    x = tensor([result.matrix])
    pool = F.max_pool2d if result.mode == "max" else F.avg_pool2d
    expected = pool(x, result.kernel_size, result.stride, result.padding, ceil_mode=result.ceil_mode)[0, 0]
    assert list(expected.shape) == list(result.output_size)
    assert flat(result.output) == pytest.approx(expected.flatten().tolist(), abs=1e-12)
    for cell in result.cells:
        j, k = cell.position
        combined = max(cell.values) if cell.mode == "max" else sum(cell.values) / len(cell.values)
        assert cell.value == result.output[j][k] == combined


def test_pool_values_windows_written() -> None:
    result = pool_values("1 2 0 4; 0 1 3 1; 2 1 0 0; 1 1 1 1", 2, windows=True)
    assert result.output == ((2, 4), (2, 1))
    assert [c.written() for c in result.cells] == [
        "max(1, 2, 0, 1) = 2", "max(0, 4, 3, 1) = 4", "max(2, 1, 1, 1) = 2", "max(0, 0, 1, 1) = 1"]
    average = pool_values([[1, 2, 0], [0, 1, 3], [2, 1, 0]], 2, stride=1, mode="avg", padding=1, windows=True)
    assert average.cells[0].written() == "avg(0, 0, 0, 1) = 1/4 = 0.25"
    thirds = pool_values("1 0 0; 0 0 0; 0 0 0", 3, mode="avg", windows=True)
    assert thirds.cells[0].written() == "avg(1, 0, 0, 0, 0, 0, 0, 0, 0) = 1/9 ≈ 0.111111"
    assert pool_values("1 2; 3 4", 2).cells == ()


def test_pool_ceil_mode_follows_pytorch_rule() -> None:
    # 5 + 2×1 − 2 = 5 over stride 2 rounds up to 3 windows more, but the 4th would start in the
    # right padding: PyTorch drops it, leaving 3
    result = pool_values("1 2 3 4 5", (1, 2), stride=2, padding=(0, 1), ceil_mode=True)
    assert result.output_size == (1, 3)
    assert pool_values("1 2 3 4 5", (1, 2), stride=2, ceil_mode=True).output == ((2, 4, 5),)


def test_pool_renderers() -> None:
    from rich.console import Console

    result = pool_values("1 2 0; 0 1 3; 2 1 0", 2, stride=1, mode="avg", windows=True)
    console = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(pooling_group(result), soft_wrap=True)
    text = console.export_text()
    assert "rows: 1 + (J + 2P − F)/s = 1 + (3 + 2×0 − 2)/1 = 2" in text
    assert "(1,1): avg(1, 3, 1, 0) = 5/4 = 1.25" in text
    doc = json.loads(pooling_json(result))
    assert doc["output"] == [[1, 1.5], [1, 1.25]]
    assert doc["windows"][0] == {"position": [0, 0], "values": [1, 2, 0, 1],
                                 "written": "avg(1, 2, 0, 1) = 4/4 = 1", "value": 1}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kernel_size": 2, "padding": 2}, "padding 2×2 is more than half the 2×2 window"),
    ({"kernel_size": 4}, "the 4×4 window does not fit the 3×3 input"),
    ({"kernel_size": 2, "mode": "min"}, "pooling mode must be 'max' or 'avg'; got 'min'"),
    ({"kernel_size": 0}, "kernel size must be at least 1"),
    ({"kernel_size": 2, "stride": (1, 0)}, "stride must be at least 1"),
    ({"kernel_size": (2, 2, 2)}, "kernel size must be an integer or a pair of integers"),
])
def test_pool_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(NumericError) as caught:
        pool_values("1 2 0; 0 1 3; 2 1 0", **kwargs)  # type: ignore[arg-type]
    assert message in str(caught.value)


# --- the command line ---------------------------------------------------------------------

GOLDEN = Path(__file__).parent / "golden"


@pytest.mark.parametrize(("name", "args"), [
    ("softmax_target", ["softmax", "3", "1", "0.2", "--target", "2"]),
    ("softmax_huge", ["softmax", "1000", "-1000", "0", "--target", "1"]),
    ("convolve_sums", ["convolve", "--input", "1 2 0; 0 1 3; 2 1 0", "--kernel", "1 0; 0 1", "--sums"]),
    ("convolve_channels", ["convolve", "--input", "1 2 0 1; 0 1 3 1; 2 1 0 0; 1 1 1 1",
                           "--input", "0 1 0 0; 1 0 0 1; 0 0 1 0; 1 1 0 0",
                           "--kernel", "1 -1 0; 0.5 0 0; 1 1 1",
                           "--kernel", "1/3 0 0; 0 1/3 0; 0 0 1/3", "--padding", "1", "--stride", "2",
                           "--bias", "0.5", "--flip", "--sums"]),
])
def test_cli_golden(runner: CliRunner, regen_golden: bool, name: str, args: list[str]) -> None:
    """Exact output, kept in tests/golden/NAME.txt (``pytest --regen-golden`` rewrites it)."""
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    path = GOLDEN / f"{name}.txt"
    if regen_golden:
        path.write_text(result.stdout)
    assert result.stdout == path.read_text()


def test_cli_softmax_negative_logits_and_json(runner: CliRunner) -> None:
    plain = runner.invoke(cli, ["softmax", "1000", "-1000", "0", "--target", "1", "--format", "json"])
    dashed = runner.invoke(cli, ["softmax", "--target", "1", "--format", "json", "--", "1000", "-1000", "0"])
    assert plain.exit_code == dashed.exit_code == 0, plain.output + dashed.output
    assert plain.stdout == dashed.stdout
    doc = json.loads(plain.stdout)
    assert [c["log_prob"] for c in doc["classes"]] == [0, -2000, -1000]
    assert [c["prob"] for c in doc["classes"]] == [1, 0, 0]
    assert [c["gradient"] for c in doc["classes"]] == [1, -1, 0]
    assert (doc["cost"], doc["log_sum_exp"], doc["target"], doc["pushed_down_most"]) == (2000, 1000, 1, [0])
    table = runner.invoke(cli, ["softmax", "-1.5e1", "-2", "--target", "0"])
    assert table.exit_code == 0
    assert "Among the wrong classes, class 1, with the highest activation (z = −2)" in table.stdout


def test_cli_softmax_short_format_and_negative_logits(runner: CliRunner) -> None:
    """-f is --format, and a logit with an f in it (-inf) is still a logit, refused as not finite."""
    long = runner.invoke(cli, ["softmax", "3", "-1", "0.2", "--target", "2", "--format", "json"])
    assert long.exit_code == 0, long.output
    for args in (["-f", "json", "3", "-1", "0.2", "--target", "2"],
                 ["3", "-1", "0.2", "--target", "2", "-fjson"],
                 ["3", "-1", "-f", "json", "0.2", "--target", "2"]):
        short = runner.invoke(cli, ["softmax", *args])
        assert (short.exit_code, short.stdout) == (0, long.stdout), args
    for args in (["-inf", "-f", "json", "2"], ["1", "-inf", "2", "-f", "json"], ["-f", "json", "-Infinity"],
                 ["-inf", "2"], ["-Inf", "2", "--format", "table"]):
        refused = runner.invoke(cli, ["softmax", *args])
        word = next(a for a in args if a.lower().startswith("-inf"))
        assert (refused.exit_code, refused.stdout) == (2, ""), args
        assert refused.stderr == f"{word!r} is not allowed: logits must be finite numbers\n", args
    # the value of --target and the words after -- are not read as -f
    assert "'-f' is not a valid integer" in runner.invoke(cli, ["softmax", "1", "--target", "-f"]).stderr
    assert runner.invoke(cli, ["softmax", "--", "1", "-f"]).stderr.startswith("no such option: -f")
    assert "-f, --format [table|json]" in runner.invoke(cli, ["softmax", "--help"]).stdout


def test_cli_softmax_ties_and_typographic_minus(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["softmax", "0", "1", "1", "--target", "0"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert ("Among the wrong classes, classes 1 and 2, tied for the highest activation (z = 1), are pushed "
            "down most, equally: gradient +0.422319 each, the largest positive.") in out
    assert out.count("highest wrong (tied): pushed down most") == 2
    assert "The correct class 0 is pushed up: its gradient −0.844638 is negative." in out
    assert "−1.86199" in out and "-" not in out.replace("e-", "")  # only the typographic minus
    three = runner.invoke(cli, ["softmax", "2", "2", "2", "-1", "--target", "3"]).stdout
    assert "classes 0, 1 and 2, tied for the highest activation (z = 2), are pushed down most" in three
    assert "│ 3 │  −1 │" in three
    single = runner.invoke(cli, ["softmax", "3", "1", "0.2", "--target", "2"]).stdout
    assert "class 0, with the highest activation (z = 3), is pushed down most: gradient +0.836019" in single
    doc = json.loads(runner.invoke(cli, ["softmax", "0", "1", "1", "--target", "0", "-f", "json"]).stdout)
    assert doc["pushed_down_most"] == [1, 2] and doc["classes"][0]["gradient"] < 0
    assert doc["classes"][0]["log_prob"] == pytest.approx(-1.86199, abs=1e-5)


def test_cli_convolve_short_stride_and_padding(runner: CliRunner) -> None:
    base = ["convolve", "--input", "1 2 0; 0 1 3; 2 1 0", "--kernel", "1 0; 0 1", "--sums"]
    long = runner.invoke(cli, [*base, "--stride", "2", "--padding", "1"])
    short = runner.invoke(cli, [*base, "-s", "2", "-P", "1"])
    assert long.exit_code == short.exit_code == 0, long.output + short.output
    assert short.stdout == long.stdout
    assert "zero padding P = 1); stride s = 2" in short.stdout
    help_text = runner.invoke(cli, ["convolve", "--help"]).stdout
    assert "-s, --stride" in help_text and "-P, --padding" in help_text


def test_readme_flip_examples_show_a_difference(runner: CliRunner) -> None:
    """The README's --flip examples use a kernel that a 180° turn changes, so the map changes too."""
    import re
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text()

    def section(title: str) -> str:
        return readme.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]

    commands = [*re.findall(r"\| `(cnncalc convolve [^`]*--flip[^`]*)` \|",
                            section("The lecture, question by question")),
                *re.findall(r"^\$ (cnncalc convolve .*--flip.*)$", section("The lecture's operators"),
                            re.MULTILINE)]
    assert len(commands) == 2, commands  # the lecture table's row and the operators' example
    for command in commands:
        args = shlex.split(command)[1:]
        flipped = json.loads(runner.invoke(cli, [*args, "-f", "json"]).stdout)
        plain = json.loads(runner.invoke(cli, [a for a in args if a not in ("--flip", "--sums")]
                                         + ["-f", "json"]).stdout)
        assert flipped["output"] != plain["output"], command


def test_cli_convolve_json_channels_flip(runner: CliRunner, tmp_path: Path) -> None:
    image = tmp_path / "image.txt"
    image.write_text("1 2 0 1\n0 1 3 1\n2 1 0 0\n1 1 1 1\n")
    second = "0 1 0 0;1 0 0 1;0 0 1 0;1 1 0 0"
    result = runner.invoke(cli, ["convolve", "--input", f"@{image}", "--input", second,
                                 "--kernel", "1 -1 0; 0.5 0 0; 1 1 1", "--kernel", "-1 0 0;0 1 0;0 0 1",
                                 "--padding", "1", "--stride", "2", "--bias", "-0.5", "--flip", "--sums",
                                 "-f", "json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["input_shape"] == [2, 4, 4] and doc["kernel_shape"] == [2, 3, 3]
    assert doc["output"] == [[1.5, -3], [0, 5.5]]  # F.conv2d(x, torch.flip(w, [2, 3]), ...) agrees
    assert doc["flipped_kernels"][1] == [[1, 0, 0], [0, 1, 0], [0, 0, -1]]
    assert doc["sums"][0]["written"].splitlines()[-1].strip() == "= 1.5"


@pytest.mark.parametrize(("args", "message"), [
    (["softmax"], "softmax needs at least one logit, e.g. 2 1 0.1"),
    (["softmax", "1", "x"], "'x' is not a number"),
    (["softmax", "1", "nan"], "'nan' is not allowed: logits must be finite numbers"),
    (["softmax", "-inf", "2"], "'-inf' is not allowed: logits must be finite numbers"),
    (["softmax", "1", "2", "--target", "2"],
     "target 2 is out of range: there are 2 classes, numbered 0 to 1"),
    (["softmax", "1", "--target", "-1"], "target -1 is out of range: there is 1 class, numbered 0 to 0"),
    (["softmax", "--tagret", "1", "2"],
     "no such option: --tagret (the options are --target and -f/--format)"),
    (["convolve", "--input", "1 2; 3", "--kernel", "1"],
     "--input: row 2: 1 value, but row 1 has 2; every row needs the same number"),
    (["convolve", "--input", "1 2", "--input", "1 x", "--kernel", "1", "--kernel", "1"],
     "--input 2: row 1: 'x' is not a number"),
    (["convolve", "--input", "1 2", "--kernel", "1 1 1"],
     "the 1×3 kernel does not fit the 1×2 input: a kernel may be at most as large as the padded input; "
     "use a smaller kernel or more padding"),
    (["convolve", "--input", "1 2", "--input", "3 4", "--kernel", "1"],
     "2 input channels need 2 kernel slices, one per channel; got 1 (give one --kernel per --input)"),
    (["convolve", "--input", "1 2", "--kernel", "1", "--bias", "b"], "--bias: 'b' is not a number"),
    (["convolve", "--input", "@/nonexistent/image.txt", "--kernel", "1"],
     "--input: cannot read /nonexistent/image.txt: No such file or directory"),
])
def test_cli_errors_are_one_line_and_exit_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_usage_errors_exit_2(runner: CliRunner) -> None:
    for args in (["convolve", "--kernel", "1"], ["softmax", "1", "--target", "x"],
                 ["convolve", "--input", "1", "--kernel", "1", "--stride", "0"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 2
        assert "Traceback" not in result.output


# --- bounded: huge values, many denominators, many matrices ------------------------------------

def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m cnncalc ARGS`` in a subprocess with a timeout, so that a hang fails the test."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, text=True,
                          timeout=20)
    return done, time.perf_counter() - start


def assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr and done.stdout == ""


def test_values_near_1e155_are_refused_before_they_overflow_a_double() -> None:
    """55 nines e100 passed the exponent check; its square overflowed float() in the table."""
    near = "9" * 55 + "e100"
    done, seconds = run_cli("convolve", "--input", near, "--kernel", near, "--bias", "1/3")
    assert_refused(done, f"--input: row 1: '{near}' is out of range: values go up to ±1e100")
    assert seconds < 10


@pytest.mark.parametrize(("text", "value"), [
    ("1e100", Fraction(10**100)), ("-1e100", Fraction(-10**100)), ("1e-100", Fraction(1, 10**100)),
    ("1/" + "9" * 58, Fraction(1, 10**58 - 1)), ("-0.5e-99", Fraction(-1, 2 * 10**99)),
])
def test_parse_number_takes_values_up_to_1e100(text: str, value: Fraction) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("1.5e100", "'1.5e100' is out of range: values go up to ±1e100"),
    ("-2e100", "out of range"),
    ("1" * 50 + "e60", "out of range"),
    ("1.5e-100", "'1.5e-100' is too fine: a denominator may be at most 1e100"),
    ("0." + "0" * 40 + "1e-80", "too fine"),
])
def test_parse_number_refuses_values_past_1e100(text: str, message: str) -> None:
    with pytest.raises(NumericError, match=re.escape(message)):
        parse_number(text)


def test_the_largest_values_stay_finite_in_tables_and_json(runner: CliRunner) -> None:
    result = convolve("1e100 -1e100; 1e100 1e100", "1e100 1e100; 1e100 1e100", bias="1/3", sums=True)
    value = result.output[0][0]
    assert value == 2 * 10**200 + Fraction(1, 3)
    assert format_number(value) == "2e+200" and json_number(value) == 2e200
    for args in ([], ["-f", "json"]):
        done = runner.invoke(cli, ["convolve", "--input", "1e100 1e100", "--kernel", "1e100 1e100",
                                   "--bias", "1/3", "--sums", *args])
        assert done.exit_code == 0, done.output
        assert "2e+200" in done.stdout or "2e200" in done.stdout.replace("+", "")


@pytest.mark.parametrize(("value", "message"), [
    (10**400, "input: row 1: a value of over 300 digits is out of range"),
    (-10**101, "is out of range"),
    (Fraction(1, 10**5000), "input: row 1: a value of over 300 digits is too fine"),
    (Fraction(1, 3 * 10**100), "too fine"),
    (1e300, "'1e+300' is out of range: exponents go up to ±100"),
])
def test_huge_python_values_are_refused(value: object, message: str) -> None:
    with pytest.raises(NumericError, match=re.escape(message)):
        convolve([[value]], [[1]])  # type: ignore[list-item]


def test_format_number_and_json_number_refuse_what_overflows_a_double() -> None:
    huge = Fraction(10**400, 3)
    for show in (format_number, json_number):
        with pytest.raises(NumericError, match="too large for a double"):
            show(huge)
    assert format_number(Fraction(1, 10**400)) == "0"  # underflow to 0.0 is harmless


BIG_DENOMINATORS = [10**39 + 7 * n + 3 for n in range(10_000)]  # 40 digits, mostly coprime


def test_ten_thousand_different_denominators_are_summed_cell_by_cell(tmp_path: Path) -> None:
    """The least common multiple of the whole matrix took 20 s and 1.5 GB."""
    path = tmp_path / "thin.txt"
    path.write_text("\n".join(" ".join(f"1/{d}" for d in BIG_DENOMINATORS[r * 100:(r + 1) * 100])
                              for r in range(100)))
    done, seconds = run_cli("convolve", "--input", f"@{path}", "--kernel", "1 2; 3 4", "-f", "json")
    assert done.returncode == 0, done.stderr
    assert seconds < 10
    out = json.loads(done.stdout)["output"]
    d = BIG_DENOMINATORS
    exact = Fraction(1, d[0]) + Fraction(2, d[1]) + Fraction(3, d[100]) + Fraction(4, d[101])
    assert len(out) == 99 and out[0][0] == pytest.approx(float(exact), rel=1e-12)
    result = convolve(f"@{path}", "1 2; 3 4")
    assert result.output[0][0] == exact


def test_sums_with_too_many_different_denominators_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "thin.txt"
    path.write_text("\n".join(" ".join(f"1/{d}" for d in BIG_DENOMINATORS[r * 100:(r + 1) * 100])
                              for r in range(100)))
    done, seconds = run_cli("convolve", "--input", f"@{path}", "--kernel", f"@{path}")
    assert_refused(done, "S(0,0): the exact sum needs a denominator of over 1,233 digits")
    assert seconds < 10
    done, _ = run_cli("convolve", "--input", f"@{path}", "--kernel", "; ".join(["1 1 1 1 1"] * 5))
    assert_refused(done, "230,400 multiply-adds of values with no common denominator below 2^512 is too "
                         "much work (at most 100,000)")


big_denominator_values = st.builds(Fraction, st.integers(-10**6, 10**6),
                                   st.sampled_from([*BIG_DENOMINATORS[:12], 1, 2, 3, 10]))


@SETTINGS
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.data())
def test_summed_in_integers_or_fraction_by_fraction_the_map_is_exact(rows: int, cols: int, channels: int,
                                                                      data: st.DataObject) -> None:
    import cnncalc.lecture.numeric as numeric

    def matrix(r: int, c: int) -> list[list[Fraction]]:
        return [[data.draw(big_denominator_values) for _ in range(c)] for _ in range(r)]

    ins = [matrix(rows, cols) for _ in range(channels)]
    kh, kw = data.draw(st.integers(1, rows)), data.draw(st.integers(1, cols))
    ks = [matrix(kh, kw) for _ in range(channels)]
    expected = tuple(tuple(sum((ks[c][m][n] * ins[c][j + m][k + n] for c in range(channels)
                                for m in range(kh) for n in range(kw)), Fraction(0))
                           for k in range(cols - kw + 1)) for j in range(rows - kh + 1))
    assert convolve(ins, ks).output == expected
    scale_bits = numeric.SCALE_BITS
    numeric.SCALE_BITS = 0  # every channel summed a fraction at a time
    try:
        assert convolve(ins, ks).output == expected
    finally:
        numeric.SCALE_BITS = scale_bits


def test_one_cell_budget_for_every_matrix_of_a_call(tmp_path: Path) -> None:
    """MAX_CELLS was per matrix, and the work was checked after every --input was read:
    twenty 100,000-value files took 4.8 s and 237 MB before the refusal."""
    path = tmp_path / "big.txt"
    path.write_text("\n".join(["1 " * 100] * 1000))  # 100,000 values
    many = [arg for _ in range(20) for arg in ("--input", f"@{path}")]
    done, seconds = run_cli("convolve", *many, *["--kernel", "1"] * 20)
    assert_refused(done, "2,000,000 multiply-adds is too much work (at most 1,000,000)")
    assert seconds < 5
    # little work (one output), but 300,000 values to read: refused at the third matrix
    done, seconds = run_cli("convolve", "--input", f"@{path}", "--input", f"@{path}",
                            "--kernel", f"@{path}", "--kernel", f"@{path}")
    assert_refused(done, f"{path}: more than {MAX_TOTAL_CELLS:,} values in all the matrices; "
                         "too large to work by hand")
    assert seconds < 5
    budget = CellBudget()
    parse_matrix(f"@{path}", "--input", budget)
    parse_matrix(f"@{path}", "--kernel", budget)
    with pytest.raises(NumericError, match="more than 200,000 values in all the matrices"):
        parse_matrix("1 2", "--input 2", budget)
    with pytest.raises(NumericError, match="more than 200,000 values in all the matrices"):
        convolve([f"@{path}", f"@{path}", "1"], [f"@{path}", "1", "1"])


def test_a_feature_map_is_at_most_max_cells() -> None:
    """--padding 499 on a 1×1 input made a 999×999 map: ten seconds of rich."""
    with pytest.raises(NumericError, match="the feature map would be 999×999, more than 100,000 values"):
        convolve("1", "1", padding=499)


def test_the_rounding_of_sizes_is_in_the_results_not_the_renderers() -> None:
    import inspect

    import cnncalc.render.numeric as render

    conv = convolve("1 2 3 4 5", "1 1", stride=2)
    rows, cols = conv.axes
    assert (rows.exact, rows.output) == (True, 1)
    assert (cols.step, cols.exact, cols.rounded_up, cols.output) == (Fraction(3, 2), False, False, 2)
    assert conv.steps == (Fraction(0), Fraction(3, 2))
    pool = pool_values("1 2 3 4 5", 2, ceil_mode=True)
    assert (pool.axes[1].rounded_up, pool.axes[1].output) == (True, 3)
    dropped = pool_values("1 2 3 4 5", 2, stride=2, padding=1, ceil_mode=True)  # last window in the padding
    assert (dropped.axes[1].exact, dropped.axes[1].rounded_up, dropped.axes[1].output) == (False, False, 3)
    source = inspect.getsource(render)
    assert "__floor__" not in source and "1 + step" not in source


# --- bounded work (issue 7, item 18; timed in benchmarks/bounded.py, never here) ---------------

MAX_WRITTEN = 100_000  # products (--sums) or values (--windows) written out at most

def _ones(path: Path, size: int) -> str:
    path.write_text("\n".join([" ".join(["1"] * size)] * size) + "\n")
    return f"@{path}"


@pytest.mark.parametrize("fmt", ["table", "json"])
@pytest.mark.parametrize(("command", "flag", "key"), [("convolve", "--sums", "sums"),
                                                      ("pool", "--windows", "windows")])
def test_sums_and_windows_written_out_are_bounded(runner: CliRunner, tmp_path: Path, command: str,
                                                   flag: str, key: str, fmt: str) -> None:
    """convolve --sums of a 316×316 input wrote 98,596 sums (16 s) and pool --windows -f json
    98,596 windows (20 s): at most MAX_WRITTEN products or values are written out; beyond, the
    call is refused before any work, naming the limit and the largest output accepted."""
    kernel = "; ".join([" ".join(["1"] * 10)] * 10)  # 10×10 at stride 1: (n − 9)² outputs of 100
    assert 31 * 31 * 100 <= MAX_WRITTEN < 32 * 32 * 100

    def run(size: int) -> Any:
        matrix = _ones(tmp_path / f"m{size}.txt", size)
        args = (["convolve", "--input", matrix, "--kernel", kernel] if command == "convolve"
                else ["pool", "--values", matrix, "-F", "10", "-s", "1"])
        return runner.invoke(cli, [*args, flag, "-f", fmt])

    over = run(41)  # 32×32 outputs of 100: 102,400
    items = "products" if key == "sums" else "values"
    assert over.exit_code == 2 and over.stdout == ""
    assert over.stderr == (f"{flag} would write out 1,024 {key} of 100 {items} (32×32), 102,400 {items} "
                           f"in all; at most {MAX_WRITTEN:,} are written out, so at most 1,000 {key} of 100 "
                           f"(a 31×31 output); use a smaller input or a larger stride, or leave out {flag}\n")
    under = run(40)  # 31×31 outputs of 100: 96,100
    assert under.exit_code == 0, under.output
    if fmt == "json":
        assert len(json.loads(under.stdout)[key]) == 31 * 31
    else:
        assert "(30,30): " in under.stdout or "S(30,30) = " in under.stdout
    # the library refuses the same way
    with pytest.raises(NumericError, match=f"at most {MAX_WRITTEN:,} are written out"):
        if command == "convolve":
            convolve(_ones(tmp_path / "m41.txt", 41), kernel, sums=True)
        else:
            pool_values(_ones(tmp_path / "m41.txt", 41), 10, 1, windows=True)


def test_sums_refused_before_the_other_channels_are_read(runner: CliRunner, tmp_path: Path) -> None:
    """The limit is known from the first channel: a second --input that is not even a matrix
    file is never read."""
    kernel = "; ".join([" ".join(["1"] * 10)] * 10)
    result = runner.invoke(cli, ["convolve", "--input", _ones(tmp_path / "m.txt", 41), "--input",
                                 f"@{tmp_path / 'missing.txt'}", "--kernel", kernel, "--kernel", kernel,
                                 "--sums"])
    assert result.exit_code == 2
    assert "--sums would write out 1,024 sums of 200 products" in result.stderr


def test_a_matrix_wider_than_the_console_is_never_cut(runner: CliRunner, tmp_path: Path) -> None:
    """A feature map of 40 columns showed "…" for every number at 160 columns, and one of
    79 columns empty cells: the table is as wide as its numbers (the terminal wraps it)."""
    size = 81  # an 81×81 input and a 3×3 kernel: a 79×79 map
    path = tmp_path / "m.txt"
    path.write_text("\n".join(" ".join(str((r * size + c) % 19 - 9) for c in range(size))
                              for r in range(size)))
    result = runner.invoke(cli, ["convolve", "--input", f"@{path}", "--kernel", "1 2 3; 4 5 6; 7 8 -9"])
    assert result.exit_code == 0
    shown = [line for line in result.stdout.splitlines() if line.startswith("│")]
    output = json.loads(runner.invoke(cli, ["convolve", "--input", f"@{path}", "--kernel",
                                            "1 2 3; 4 5 6; 7 8 -9", "-f", "json"]).stdout)["output"]
    assert len(shown) == len(output) == 79
    for line, row in zip(shown, output, strict=True):
        assert [cell.strip() for cell in line.strip("│").split("│")][1:] == [str(v) for v in row]


def test_large_maps_match_the_naive_sums(tmp_path: Path) -> None:
    """The feature map is summed a row slice at a time and pooling column by column: the same
    exact values as the definition, with stride, padding, several channels and a bias."""
    rows, cols = 23, 19
    image = [[Fraction((r * 7 + c * 3) % 11 - 5, 1 + (r + c) % 4) for c in range(cols)] for r in range(rows)]
    other = [[Fraction((r * 5 - c) % 7 - 3, 10) for c in range(cols)] for r in range(rows)]
    kernel = [[Fraction(m - n, 3) for n in range(4)] for m in range(3)]
    second = [[Fraction(1 + m * n, 2) for n in range(4)] for m in range(3)]
    for stride, padding in [((1, 1), (0, 0)), ((2, 3), (1, 2)), ((3, 1), (4, 0))]:
        result = convolve([image, other], [kernel, second], bias="1/7", stride=stride, padding=padding)

        def at(matrix: list[list[Fraction]], r: int, c: int) -> Fraction:
            return matrix[r][c] if 0 <= r < rows and 0 <= c < cols else Fraction(0)

        (sh, sw), (ph, pw) = stride, padding
        expected = tuple(
            tuple(Fraction(1, 7) + sum((k[m][n] * at(i, j * sh + m - ph, c * sw + n - pw)
                                        for i, k in ((image, kernel), (other, second))
                                        for m in range(3) for n in range(4)), Fraction(0))
                  for c in range(result.output_size[1]))
            for j in range(result.output_size[0]))
        assert result.output == expected
    for mode in ("max", "avg"):
        pooled = pool_values(image, (3, 2), (2, 1), padding=(1, 1), ceil_mode=True, mode=mode)
        windowed = pool_values(image, (3, 2), (2, 1), padding=(1, 1), ceil_mode=True, mode=mode, windows=True)
        assert pooled.output == tuple(tuple(row) for row in
                                      _rows_of(pooled.output_size, [cell.value for cell in windowed.cells]))
        for cell in windowed.cells:
            values = cell.values
            assert cell.value == (max(values) if mode == "max" else sum(values, Fraction(0)) / len(values))


def _rows_of(size: tuple[int, int], values: list[Fraction]) -> list[list[Fraction]]:
    return [values[r * size[1]:(r + 1) * size[1]] for r in range(size[0])]
