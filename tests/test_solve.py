"""cnncalc solve: every layer it lists is built in torch, and a brute force finds none it missed.

torch is the oracle for each listed layer (its real output size, and whether any row is
rounded away, found by shrinking the input until the output shrinks). Completeness is
checked against a brute force over the same bounds, written from PyTorch's documented
formulas without cnncalc.analysis.core.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cnncalc.cli import cli
from cnncalc.errors import CnncalcError
from cnncalc.lecture.solve import Problem, Solution, solve
from cnncalc.lecture.solve_transposed import TransposedProblem, TransposedSolution, solve_transposed


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Tiny tensors: one intra-op thread (conftest's one_torch_thread) for every test here."""


# --- torch, the oracle ------------------------------------------------------------------------

def torch_out(s: Solution, size: int | None = None, ceil_mode: bool | None = None) -> int:
    """The output height torch gives for this layer on a size × M_eff input; 0 when it refuses."""
    size = s.size if size is None else size
    ceil = s.ceil_mode if ceil_mode is None else ceil_mode
    if size < 1:
        return 0
    x = torch.zeros(1, 1, size, s.extent)
    try:
        if s.pool:
            layer = torch.nn.MaxPool2d(s.kernel, stride=s.stride, padding=s.pad_before, dilation=s.dilation,
                                       ceil_mode=ceil)
            return int(layer(x).shape[-2])
        if s.symmetric:
            conv = torch.nn.Conv2d(1, 1, s.kernel, stride=s.stride, padding=s.pad_before, dilation=s.dilation)
            return int(conv(x).shape[-2])
        # uneven padding ('same' with an even total): pad explicitly, as TensorFlow does
        conv = torch.nn.Conv2d(1, 1, (s.kernel, 1), stride=(s.stride, 1), dilation=(s.dilation, 1))
        return int(conv(F.pad(x, (0, 0, s.pad_before, s.pad_after))).shape[-2])
    except RuntimeError:
        return 0


def torch_unpadded_out(s: Solution, length: int) -> int:
    """The rounded-down output of the layer's kernel, stride and dilation on ``length`` rows
    with no padding (what the padded input looks like to the windows); 0 when torch refuses."""
    if length < 1:
        return 0
    x = torch.zeros(1, 1, length, s.extent)
    if s.pool:
        layer: torch.nn.Module = torch.nn.MaxPool2d(s.kernel, stride=s.stride, dilation=s.dilation)
    else:
        layer = torch.nn.Conv2d(1, 1, s.kernel, stride=s.stride, dilation=s.dilation)
    try:
        return int(layer(x).shape[-2])
    except RuntimeError:
        return 0


def torch_tail(s: Solution) -> int:
    """How many rows at the end of the padded input no window reads, found in torch: the padded
    input can lose that many rows before the (rounded-down) output loses one."""
    padded = s.size + s.pad_before + s.pad_after
    base = torch_unpadded_out(s, padded)
    tail = 0
    while tail < s.stride and torch_unpadded_out(s, padded - tail - 1) == base:
        tail += 1
    return tail


def check_in_torch(s: Solution, target: int) -> None:
    """The layer really gives ``target`` in torch, and exactness and unread rows are right."""
    where = f"{s} {s.formula()}"
    assert torch_out(s) == target == s.out, where
    floor = torch_out(s, ceil_mode=False)
    if floor == 0:  # ceil_mode only: a window larger than the padded input still gives 1
        assert s.pool and s.ceil_mode and not s.exact, where
        return
    tail = torch_tail(s)
    assert s.exact == (tail == 0), where
    if s.out == floor:
        w = s.window
        assert (w.unread_input, w.unread_padding) == (max(tail - s.pad_after, 0),
                                                       min(tail, s.pad_after)), where
    else:  # ceil_mode's partial last window
        assert s.out == floor + 1 and s.window.overhang > 0, where
    if s.pool:
        assert s.pad_before <= s.kernel // 2, where


# --- the brute force, from PyTorch's documented formulas ---------------------------------------

def formula_out(size: int, kernel: int, stride: int, before: int, after: int, dilation: int, pool: bool,
                ceil_mode: bool) -> int:
    span = size + before + after - dilation * (kernel - 1) - 1
    if pool and ceil_mode:
        out = -(-span // stride) + 1
        return out - 1 if (out - 1) * stride >= size + before else out
    return span // stride + 1


def brute_force(p: Problem, target: int | None = None) -> set[tuple[int, int, int, int, int]]:
    """Every (kernel, stride, before, after, dilation) within the bounds that gives the target."""
    found = set()
    for d in [p.dilation] if p.dilation else range(1, p.max_dilation + 1):
        for m in [p.kernel] if p.kernel else range(1, p.max_kernel + 1):
            extent = d * (m - 1) + 1
            top = p.max_padding if p.max_padding is not None else (m // 2 if p.pool else extent - 1)
            if p.pool:
                top = min(top, m // 2)
            pads = [p.padding] if p.padding is not None else range(top + 1)
            for s in [p.stride] if p.stride else range(1, p.max_stride + 1):
                want = -(-p.size // s) if p.same else (target or p.target or 0)
                for pad in pads:
                    if p.pool and pad > m // 2:
                        continue
                    if formula_out(p.size, m, s, pad, pad, d, p.pool, p.ceil_mode) == want:
                        found.add((m, s, pad, pad, d))
                if p.same and not p.pool:  # TensorFlow's SAME, the odd pixel after
                    total = max((want - 1) * s + extent - p.size, 0)
                    if total % 2:
                        found.add((m, s, total // 2, total - total // 2, d))
    return found


def key(s: Solution) -> tuple[int, int, int, int, int]:
    return (s.kernel, s.stride, s.pad_before, s.pad_after, s.dilation)


# --- the lecture's examples ---------------------------------------------------------------------

@pytest.mark.torch
def test_alexnet_conv1_has_no_exact_solution_and_says_what_would_be() -> None:
    answer = solve(Problem(size=224, target=55, kernel=11))
    assert [key(s) for s in answer.solutions] == [(11, 4, 2, 2, 1), (11, 4, 3, 3, 1)]
    assert not answer.exact
    lecture = answer.solutions[0]
    assert lecture.formula() == "1 + (224 + 2×2 − 11)/4 = 55.25 → 55"
    assert lecture.window.unread_padding == 1 and lecture.window.unread_input == 0
    assert "no input lost" in lecture.note() and "227 (→ 56)" in lecture.note()
    sizes = {s.solution.size: s.solution for s in answer.suggestions if s.kind == "size"}
    assert sizes[227].pad_before == 0 and sizes[227].formula() == "1 + (227 − 11)/4 = 55"
    assert {223, 225, 227} <= set(sizes)
    kernels = {s.solution.kernel for s in answer.suggestions if s.kind == "kernel"}
    assert {10, 12} <= kernels
    for s in [*answer.solutions, *(g.solution for g in answer.suggestions)]:
        check_in_torch(s, s.out)
    assert all(g.solution.exact for g in answer.suggestions)


@pytest.mark.torch
def test_lenet_c1_is_the_simplest_solution() -> None:
    answer = solve(Problem(size=32, target=28))
    assert key(answer.solutions[0]) == (5, 1, 0, 0, 1)
    assert answer.solutions[0].formula() == "1 + (32 − 5)/1 = 28"
    assert len(answer.solutions) > 1 and answer.suggestions == ()
    for s in answer.solutions:
        check_in_torch(s, 28)


@pytest.mark.torch
def test_overlapping_pooling_from_the_lecture() -> None:
    answer = solve(Problem(size=55, target=27, pool=True))
    assert key(answer.solutions[0]) == (3, 2, 0, 0, 1)
    for s in answer.solutions:
        check_in_torch(s, 27)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("size", [1, 7, 32, 33, 224])
def test_same_keeps_the_size_or_gives_ceil_size_over_stride(size: int) -> None:
    answer = solve(Problem(size=size, same=True, max_dilation=2))
    assert {key(s) for s in answer.solutions} == brute_force(answer.problem)
    for s in answer.solutions:
        check_in_torch(s, -(-size // s.stride))
    same = [s for s in answer.solutions if s.same]
    assert {(s.kernel, s.stride, s.dilation) for s in same} == {
        (m, st, d) for m in range(1, 12) for st in range(1, 5) for d in (1, 2)}
    # even kernels at stride 1: the extra pixel after, as PyTorch's padding='same' does it
    four = next(s for s in same if (s.kernel, s.stride, s.dilation) == (4, 1, 1))
    assert (four.pad_before, four.pad_after) == (1, 2) and "padding='same'" in four.note()
    if size >= 4:
        x = torch.randn(1, 1, size, 1)
        conv = torch.nn.Conv2d(1, 1, (4, 1), padding="same")
        by_hand = F.conv2d(F.pad(x, (0, 0, 1, 2)), conv.weight, conv.bias)
        assert torch.allclose(conv(x), by_hand)


def test_the_ceil_mode_rule_that_drops_a_window_in_the_padding() -> None:
    # (5 + 2 − 2)/2 = 2.5 rounds up to 3, but the 4th window would start at 6 ≥ 5 + 1
    answer = solve(Problem(size=5, target=3, pool=True, ceil_mode=True, kernel=2, stride=2))
    dropped = next(s for s in answer.solutions if s.pad_before == 1)
    assert "drops it" in dropped.note()


def test_notes_say_where_the_dropped_window_starts_and_gaps_need_two_windows() -> None:
    # J = 11, F = 2, s = 4, no padding: the 4th window would start at 12, past the input.
    answer = solve(Problem(size=11, target=3, pool=True, ceil_mode=True, kernel=2, stride=4, padding=0))
    [dropped] = answer.solutions
    assert "would start past the end of the input" in dropped.note()
    assert "2 of every 4 rows/columns fall between windows" in dropped.note()
    # One window (J = 3, M = 1, s = 3) has nothing between windows to skip.
    answer = solve(Problem(size=3, target=1, kernel=1, stride=3, padding=0))
    [single] = answer.solutions
    assert "between windows" not in single.note()


# --- properties, with torch as the oracle -------------------------------------------------------

def _sometimes(values: st.SearchStrategy[int]) -> st.SearchStrategy[int | None]:
    """A fixed option one time in three; free (searched) otherwise."""
    return st.one_of(st.none(), st.none(), values)


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    """A question near what can be answered: the target mostly between J/5 and J + 4."""
    size = draw(st.integers(1, 48))
    pool = draw(st.booleans())
    kernel = draw(_sometimes(st.integers(1, 7)))
    padding = draw(_sometimes(st.integers(0, 3)))
    if pool and kernel is not None and padding is not None:
        padding = min(padding, kernel // 2)
    return Problem(
        size=size,
        target=draw(st.one_of(*[st.integers(max(size // 5, 1), size + 2)] * 3, st.integers(1, 60))),
        pool=pool,
        ceil_mode=pool and draw(st.booleans()),
        kernel=kernel,
        stride=draw(_sometimes(st.integers(1, 5))),
        padding=padding,
        dilation=draw(st.none() | st.integers(1, 3)) if draw(st.booleans()) else None,
        max_kernel=draw(st.integers(1, 9)),
        max_stride=draw(st.integers(1, 5)),
        max_padding=draw(_sometimes(st.integers(0, 6))),
        max_dilation=draw(st.integers(1, 2)),
    )


@pytest.mark.torch
@settings(derandomize=True, max_examples=200, deadline=None)
@given(problems())
def test_every_listed_layer_is_right_in_torch_and_none_is_missed(p: Problem) -> None:
    try:
        answer = solve(p)
    except CnncalcError as err:
        # only a target beyond every allowed layer's reach (or nothing that fits) is refused
        assert "out of reach" in str(err) or "fits" in str(err)
        assert not brute_force(p)
        return
    assert {key(s) for s in answer.solutions} == brute_force(p)
    assert len(answer.solutions) == len({key(s) for s in answer.solutions})
    for s in answer.solutions:
        check_in_torch(s, p.target or 0)
    keys = [s.sort_key() for s in answer.solutions]
    assert keys == sorted(keys) and [s.exact for s in answer.solutions] == sorted(
        (s.exact for s in answer.solutions), reverse=True)
    for g in answer.suggestions:
        check_in_torch(g.solution, g.solution.out)
        assert g.kind == "target" or g.solution.exact
        assert g.kind != "size" or g.solution.out == p.target
    if answer.solutions:
        return
    # no solution: the nearest outputs suggested are as near as any within the bounds
    near = [g.solution.out for g in answer.suggestions if g.kind == "target"]
    reachable = {o for o in range(1, 200) if brute_force(p, o)}
    if reachable:
        assert p.target is not None
        assert near and min(abs(o - p.target) for o in near) == min(abs(o - p.target) for o in reachable)


@pytest.mark.torch
@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.integers(1, 40).flatmap(lambda j: st.tuples(st.just(j), st.integers(1, j + 2))), st.booleans())
def test_pooling_in_ceil_mode_is_right_in_torch_and_complete(question: tuple[int, int],
                                                                dilated: bool) -> None:
    size, target = question
    p = Problem(size=size, target=target, pool=True, ceil_mode=True, max_dilation=2 if dilated else 1)
    try:
        answer = solve(p)
    except CnncalcError:
        assert not brute_force(p)
        return
    assert {key(s) for s in answer.solutions} == brute_force(p)
    for s in answer.solutions:
        check_in_torch(s, target)


def test_same_answers_the_lecture_first() -> None:
    """Zero padding in the lecture: kernel 5 keeps 32 × 32 with P = 2 at stride 1, listed first."""
    answer = solve(Problem(size=32, same=True, kernel=5))
    assert key(answer.solutions[0]) == (5, 1, 2, 2, 1)
    assert answer.solutions[0].exact and answer.solutions[0].note() == "= padding='same'"
    # stride by stride, symmetric padding before uneven at each
    order = [(s.stride, not s.symmetric) for s in answer.solutions]
    assert order == sorted(order) and order[-1] == (4, True)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(1, 40), st.booleans(), st.integers(1, 4))
def test_same_is_ordered_by_stride_then_symmetric(size: int, pool: bool, max_dilation: int) -> None:
    answer = solve(Problem(size=size, same=True, pool=pool, max_dilation=max_dilation))
    order = [(s.stride, not s.symmetric) for s in answer.solutions]
    assert order == sorted(order)
    assert not answer.solutions or answer.solutions[0].stride == 1


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(1, 60), st.integers(1, 30), st.booleans())
def test_a_target_is_ordered_exact_first_then_simplest(size: int, target: int, pool: bool) -> None:
    try:
        answer = solve(Problem(size=size, target=target, pool=pool))
    except CnncalcError:
        return
    exact = [s.exact for s in answer.solutions]
    assert exact == sorted(exact, reverse=True)
    assert list(answer.solutions) == sorted(answer.solutions, key=Solution.sort_key)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(1, 40), st.booleans(), st.integers(1, 2))
def test_same_is_complete(size: int, pool: bool, max_dilation: int) -> None:
    p = Problem(size=size, same=True, pool=pool, max_dilation=max_dilation)
    assert {key(s) for s in solve(p).solutions} == brute_force(p)


# --- bounded and fast, whatever the size ----------------------------------------------------------

@pytest.mark.torch
def test_a_huge_input_costs_no_more_than_a_small_one() -> None:
    def timed(size: int, target: int) -> float:
        start = time.perf_counter()
        for _ in range(5):
            answer = solve(Problem(size=size, target=target, max_kernel=64, max_stride=16))
        assert answer.solutions
        return time.perf_counter() - start

    small, huge = timed(32, 8), timed(65536, 16384)
    assert huge < max(3 * small, 0.5)
    s = solve(Problem(size=65536, target=16384)).solutions[0]
    check_in_torch(s, 16384)


# --- the command line -----------------------------------------------------------------------------

@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


def test_cli_alexnet(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "--size", "224", "--target", "55", "--kernel", "11"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("224 → 55 by convolution (kernel 11, stride ≤ 4, padding ≤ M_eff − 1): "
                          "2 solutions, none exact\n")
    assert "1 + (224 + 2×2 − 11)/4 = 55.25 → 55" in out
    assert "No exact solution" in out
    assert "input 227 instead of 224 (M = 11, P = 0, s = 4): 1 + (227 − 11)/4 = 55" in out
    assert "kernel 12 instead of 11 (M = 12, P = 2, s = 4): 1 + (224 + 2×2 − 12)/4 = 55" in out


def test_cli_lenet_and_limit(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "--size", "32", "--target", "28", "--limit", "1"])
    assert result.exit_code == 0
    assert "1 + (32 − 5)/1 = 28" in result.stdout
    assert "… and 3 more (--limit 0 shows all)" in result.stdout


def test_cli_same_shows_the_uneven_split(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "--size", "32", "--same", "--kernel", "4", "--stride", "1"])
    assert result.exit_code == 0
    assert "1+2" in result.stdout and "1 + (32 + 1 + 2 − 4)/1 = 32" in result.stdout
    assert "PyTorch's padding='same'" in result.stdout


def test_cli_same_kernel_5_lists_p_2_at_stride_1_first(runner: CliRunner) -> None:
    """The README's "which padding does that?" row: P = 2, s = 1 is the first row."""
    result = runner.invoke(cli, ["solve", "--size", "32", "--same", "--kernel", "5"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("│ 5 ")]
    assert [cell.strip() for cell in rows[0].split("│")[1:6]] == [
        "5", "2", "1", "yes", "1 + (32 + 2×2 − 5)/1 = 32"]
    doc = json.loads(runner.invoke(cli, ["solve", "--size", "32", "--same", "--kernel", "5",
                                         "-f", "json"]).stdout)
    first = doc["solutions"][0]
    assert (first["kernel"], first["padding"], first["stride"], first["exact"]) == (5, 2, 1, True)
    assert [s["stride"] for s in doc["solutions"]] == sorted(s["stride"] for s in doc["solutions"])


def test_cli_piped_output_has_no_trailing_padding_and_keeps_width(runner: CliRunner) -> None:
    default = runner.invoke(cli, ["solve", "--size", "224", "--target", "55", "--kernel", "11"])
    narrow = runner.invoke(cli, ["solve", "--size", "224", "--target", "55", "--kernel", "11",
                                 "--width", "80"])
    assert default.exit_code == narrow.exit_code == 0
    for result, width in ((default, 160), (narrow, 80)):
        lines = result.stdout.splitlines()
        assert all(line == line.rstrip() for line in lines)
        assert max(map(len, lines)) <= width
    assert max(map(len, narrow.stdout.splitlines())) < max(map(len, default.stdout.splitlines()))


def test_cli_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "-J", "224", "-O", "55", "-M", "11", "--format", "json"])
    doc = json.loads(result.stdout)
    assert (doc["count"], doc["exact"], doc["shown"]) == (2, 0, 2)
    first = doc["solutions"][0]
    assert {k: first[k] for k in ("kernel", "padding", "stride", "output", "exact", "unread_padding")} == {
        "kernel": 11, "padding": 2, "stride": 4, "output": 55, "exact": False, "unread_padding": 1}
    assert first["fraction"] == "217/4"
    assert any(s["kind"] == "size" and s["solution"]["size"] == 227 for s in doc["suggestions"])
    same = json.loads(runner.invoke(cli, ["solve", "-J", "32", "--same", "-M", "2", "-s", "1",
                                          "-f", "json"]).stdout)
    assert same["solutions"][0]["padding"] == [0, 1]


def test_cli_no_solution_exits_0_and_suggests(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "--size", "224", "--target", "5"])
    assert result.exit_code == 0
    assert "No solution: no layer with kernel ≤ 11, stride ≤ 4, padding ≤ M_eff − 1 turns 224 into 5." \
        in result.stdout
    assert "Nearest outputs that can be had:" in result.stdout
    assert "a smaller output needs a larger stride or kernel" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--size", "0", "--target", "3"], "the input size must be at least 1; got 0"),
    (["--size", "-5", "--target", "3"], "the input size must be at least 1; got -5"),
    (["--size", "32", "--target", "0"], "the target must be at least 1; got 0"),
    (["--size", "32", "--target", "300"], "target 300 is out of reach from 32: the largest output of any "
                                          "allowed layer is 42 (M = 11, P = 10, s = 1)"),
    (["--size", "32"], "give a target size (--target) or ask for 'same' (--same)"),
    (["--size", "32", "--target", "16", "--same"], "give a target size or ask for 'same', not both"),
    (["--size", "32", "--target", "16", "--kernel", "0"], "the kernel must be at least 1; got 0"),
    (["--size", "32", "--target", "16", "--padding", "-1"], "the padding must be at least 0; got -1"),
    (["--size", "32", "--target", "16", "--max-kernel", "1000"], "--max-kernel must be at most 64"),
    (["--size", "32", "--target", "16", "--ceil-mode"], "ceil_mode applies to pooling only (--pool)"),
    (["--size", "32", "--target", "16", "--pool", "-M", "3", "-P", "2"], "pooling pads at most half"),
    (["--size", "32", "--target", "16", "--limit", "-1"], "--limit must be at least 0; got -1"),
    (["--size", "x", "--target", "16"], "Invalid value for '--size'"),
])
def test_bad_input_exits_2_with_one_line(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["solve", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""
    if not message.startswith("Invalid value"):  # click's own usage errors show the usage too
        assert result.stderr.count("\n") == 1


# --- every value bounded: no hostile flag hangs, overflows or asserts ----------------------------

def run_cli(*args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """``python -m cnncalc ARGS`` in a subprocess, with a timeout: a hang fails, it does not block."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnncalc", *args], capture_output=True, text=True,
                          timeout=20)
    return done, time.perf_counter() - start


HUGE = "1" + "0" * 400


@pytest.mark.parametrize(("args", "message"), [
    # a fixed stride and padding bound of 1e12 looped over s/2 paddings: hung, eating memory
    (["--size", "32", "--target", "1", "--stride", "1000000000000", "--max-padding", "1000000000000"],
     "the stride must be at most 64 to keep the search small; got 1000000000000"),
    (["--size", "32", "--target", "1", "--stride", "100000000", "--kernel", "100000000"],
     "the stride must be at most 64"),
    (["--size", "32", "--same", "--stride", "1000000000000", "--max-padding", "1000000000000000"],
     "the stride must be at most 64"),
    # a 401-digit size: OverflowError from float() in the formula
    (["--size", HUGE, "--target", "3", "--kernel", "3", "--stride", "3"],
     "the input size must be at most 2147483647 (2³¹ − 1); got a number of about 401 digits"),
    (["--size", "32", "--target", HUGE], "the target must be at most 2147483647"),
    (["--size", "32", "--target", "1", "--kernel", HUGE], "the kernel must be at most 2147483647"),
    (["--size", "32", "--target", "1", "--padding", HUGE], "the padding must be at most 2147483647"),
    (["--size", "32", "--target", "1", "--dilation", HUGE], "the dilation must be at most 2147483647"),
    (["--size", "32", "--target", "1", "--max-padding", HUGE], "--max-padding must be at most 2147483647"),
    (["--size", "32", "--target", "1", "--max-stride", "17"], "--max-stride must be at most 16"),
    (["--size", "32", "--target", "1", "--max-dilation", "9"], "--max-dilation must be at most 8"),
])
def test_hostile_values_exit_2_quickly_with_one_line(args: list[str], message: str) -> None:
    done, seconds = run_cli("solve", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert seconds < 10


def test_max_size_is_the_specs() -> None:
    from cnncalc.lecture import solve as module
    from cnncalc.spec.models import MAX_SIZE

    assert module.MAX_SIZE == MAX_SIZE


def test_huge_fixed_kernel_padding_and_dilation_cost_nothing() -> None:
    """The search costs O(1) per (M, s, d) but for the ⌈s/2⌉ paddings listed: only the stride is
    capped tightly, and the largest values of the others answer at once."""
    top = 2**31 - 1
    start = time.perf_counter()
    answer = solve(Problem(size=32, target=1, kernel=10**8, stride=64))
    assert answer.exact and all(s.kernel == 10**8 for s in answer.solutions)
    assert solve(Problem(size=top, target=2 * top // 64 + 1, padding=top, kernel=top, stride=64)).solutions
    solve(Problem(size=top, target=1, max_padding=top, max_kernel=64, max_stride=16, max_dilation=8))
    assert time.perf_counter() - start < 3


def test_a_formula_never_goes_through_a_float() -> None:
    """Rounded in integers: a 401-digit span gave OverflowError from float()."""
    out = (10**400 - 2) // 3 + 1
    s = Solution(size=10**400, kernel=2, stride=3, pad_before=0, pad_after=0, dilation=1, out=out)
    assert s.formula().endswith(f"/3 ≈ {(10**400 + 1) // 3}.67 → {out}")  # 1 + (J − 2)/3 = (J + 1)/3
    assert Solution(224, 11, 4, 2, 2, 1, 55).formula() == "1 + (224 + 2×2 − 11)/4 = 55.25 → 55"
    assert Solution(10, 1, 3, 0, 0, 1, 4).formula() == "1 + (10 − 1)/3 = 4"
    assert Solution(10, 2, 3, 0, 0, 1, 3).formula() == "1 + (10 − 2)/3 ≈ 3.67 → 3"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 64))
def test_the_decimal_matches_two_places_of_the_exact_value(span: int, stride: int) -> None:
    text = Solution(span + 1, 1, stride, 0, 0, 1, span // stride + 1).formula()
    value = 1 + Fraction(span, stride)
    found = re.search(r"/\d+ ([=≈]) ([0-9.]+)", text)
    assert found, text
    sign, shown = found.groups()
    assert abs(Fraction(shown) - value) <= Fraction(1, 200)
    assert (sign == "≈") == (Fraction(shown) != value)


@pytest.mark.parametrize("problem", [
    Problem(size=1000, target=1000, max_kernel=64, max_stride=16, max_dilation=8, max_padding=2**31 - 1),
    Problem(size=100, same=True, max_kernel=64, max_stride=16, max_dilation=8, max_padding=2**31 - 1),
    Problem(size=2**31 - 1, target=1, max_kernel=64, max_stride=16, max_dilation=8, max_padding=2**31 - 1),
    Problem(size=65536, target=2, pool=True, ceil_mode=True, max_kernel=64, max_stride=16, max_dilation=8),
    Problem(size=1000, target=999, stride=64, max_kernel=64, max_dilation=8, max_padding=2**31 - 1),
    Problem(size=1000, target=7, padding=3, stride=64, max_kernel=64, max_dilation=8),
])
def test_the_widest_searches_stay_under_a_second(problem: Problem) -> None:
    start = time.perf_counter()
    solve(problem)
    assert time.perf_counter() - start < 2  # about 0.25 s here; slack for a slow CI


def test_a_table_shows_at_most_table_rows(runner: CliRunner) -> None:
    """--limit 0 on the widest search listed 39,000 rows through rich: 22 seconds."""
    from cnncalc.render.solve import TABLE_ROWS

    args = ["solve", "--size", "100", "--same", "--max-kernel", "64", "--max-stride", "16",
            "--max-dilation", "8", "--limit", "0"]
    start = time.perf_counter()
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert time.perf_counter() - start < 5
    rows = [line for line in result.stdout.splitlines()  # a row's first line has its kernel
            if line.startswith("│") and line.split("│")[1].strip().isdigit()]
    assert len(rows) == TABLE_ROWS
    assert f"(a table shows at most {TABLE_ROWS}; --format json lists all)" in result.stdout
    doc = json.loads(runner.invoke(cli, [*args, "-f", "json"]).stdout)
    assert doc["shown"] == doc["count"] > TABLE_ROWS


@pytest.mark.parametrize(("problem", "message"), [
    (Problem(size=32), "give a target size (--target) or ask for 'same' (--same)"),
    (Problem(size=32.5, target=3), "size must be a whole number; got 32.5"),  # type: ignore[arg-type]
    (Problem(size=32, target=True), "target must be a whole number; got True"),
    (Problem(size=-10**5000, target=3),
     "the input size must be at least 1; got a negative number of about 5001 digits"),
])
def test_the_library_refuses_what_the_command_line_does(problem: Problem, message: str) -> None:
    with pytest.raises(CnncalcError) as caught:
        solve(problem)
    assert message in str(caught.value)


def test_no_assert_narrows_user_state_and_target_for_is_private() -> None:
    from pathlib import Path

    from cnncalc.lecture import solve as module

    source = Path(module.__file__).read_text(encoding="utf-8")
    assert not [line for line in source.splitlines() if line.strip().startswith("assert ")]
    assert not hasattr(Problem, "target_for")


def test_renderers_live_in_solve_render() -> None:
    """The command is thin: its table and JSON come from cnncalc.render.solve."""
    from cnncalc.cli.commands import solve as command
    from cnncalc.render.solve import render_json, render_table

    assert command.render_table is render_table and command.render_json is render_json
    assert command.__all__ == ["solve"]
    done = subprocess.run([sys.executable, "-c", "import sys, cnncalc.render.solve\n"
                           "print('rich' in sys.modules)"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


# --- transposed convolution: which output_padding, padding and stride give size X -----------------

def transposed_brute_force(p: TransposedProblem,
                           target: int | None = None) -> set[tuple[int, int, int, int, int]]:
    """Every (kernel, stride, padding, dilation, output_padding) within the bounds that gives the
    target, from PyTorch's documented ConvTranspose2d formula."""
    want = p.target if target is None else target
    found = set()
    for d in [p.dilation] if p.dilation else range(1, p.max_dilation + 1):
        for m in [p.kernel] if p.kernel else range(1, p.max_kernel + 1):
            top = p.max_padding if p.max_padding is not None else d * (m - 1)
            for s in [p.stride] if p.stride else range(1, p.max_stride + 1):
                for pad in [p.padding] if p.padding is not None else range(top + 1):
                    extras = [p.output_padding] if p.output_padding is not None else range(max(s, d))
                    for extra in extras:
                        if extra < max(s, d) and (p.size - 1) * s - 2 * pad + d * (m - 1) + extra + 1 == want:
                            found.add((m, s, pad, d, extra))
    return found


def transposed_key(s: TransposedSolution) -> tuple[int, int, int, int, int]:
    return (s.kernel, s.stride, s.padding, s.dilation, s.output_padding)


def check_transposed_in_torch(s: TransposedSolution) -> None:
    """torch's ConvTranspose2d gives the size, and exact means what it says: a Conv2d with the
    same M, s, P and d maps the output back to J, and one row less to J − 1 (nothing rounded)."""
    up = torch.nn.ConvTranspose2d(1, 1, (s.kernel, 1), stride=(s.stride, 1), padding=(s.padding, 0),
                                  output_padding=(s.output_padding, 0), dilation=(s.dilation, 1))
    assert up(torch.zeros(1, 1, s.size, 1)).shape[-2] == s.out, s
    down = torch.nn.Conv2d(1, 1, (s.kernel, 1), stride=(s.stride, 1), padding=(s.padding, 0),
                           dilation=(s.dilation, 1))

    def back(rows: int) -> int:
        try:
            return int(down(torch.zeros(1, 1, rows, 1)).shape[-2])
        except RuntimeError:
            return 0

    assert s.back() == back(s.out), s
    assert s.exact == (back(s.out) == s.size and back(s.out - 1) == s.size - 1), s


@st.composite
def transposed_problems(draw: st.DrawFn) -> TransposedProblem:
    size = draw(st.integers(1, 24))
    stride = draw(_sometimes(st.integers(1, 4)))
    return TransposedProblem(
        size=size,
        target=draw(st.one_of(st.integers(size, 4 * size + 4), st.integers(1, 80))),
        kernel=draw(_sometimes(st.integers(1, 6))),
        stride=stride,
        padding=draw(_sometimes(st.integers(0, 4))),
        dilation=draw(st.none() | st.integers(1, 3)) if draw(st.booleans()) else None,
        output_padding=draw(_sometimes(st.integers(0, 2))),
        max_kernel=draw(st.integers(1, 8)),
        max_stride=draw(st.integers(1, 4)),
        max_padding=draw(_sometimes(st.integers(0, 6))),
        max_dilation=draw(st.integers(1, 2)),
    )


@pytest.mark.torch
@settings(derandomize=True, max_examples=200, deadline=None)
@given(transposed_problems())
def test_every_transposed_solution_is_right_in_torch_and_none_is_missed(p: TransposedProblem) -> None:
    try:
        answer = solve_transposed(p)
    except CnncalcError as err:
        assert "out of reach" in str(err) or "output_padding" in str(err)
        assert not transposed_brute_force(p)
        return
    assert {transposed_key(s) for s in answer.solutions} == transposed_brute_force(p)
    assert len(answer.solutions) == len({transposed_key(s) for s in answer.solutions})
    for s in answer.solutions:
        assert s.out == p.target
        check_transposed_in_torch(s)
    keys = [s.sort_key() for s in answer.solutions]
    assert keys == sorted(keys)  # exact first
    assert [s.exact for s in answer.solutions] == sorted((s.exact for s in answer.solutions), reverse=True)
    for g in answer.suggestions:
        check_transposed_in_torch(g.solution)
        assert g.kind == "target" or (g.solution.exact and g.solution.out == p.target)
    if not answer.solutions:
        near = [g.solution.out for g in answer.suggestions if g.kind == "target"]
        reachable = {o for o in range(1, 200) if transposed_brute_force(p, o)}
        if reachable:
            assert near and min(abs(o - p.target) for o in near) == min(abs(o - p.target) for o in reachable)


def test_transposed_unet_up_convolution_and_the_2x_upsamplers() -> None:
    answer = solve_transposed(TransposedProblem(size=28, target=56))
    first = answer.solutions[0]
    assert (first.kernel, first.padding, first.stride, first.output_padding) == (2, 0, 2, 0)  # U-Net's
    assert first.formula() == "(28 − 1)×2 − 2×0 + 1×(2 − 1) + 0 + 1 = 56"
    assert [(s.kernel, s.padding) for s in answer.exact] == [(2, 0), (4, 1), (6, 2), (8, 3), (10, 4)]
    # M = 3, P = 1 needs output_padding 1, and its taps alternate 1, 2 (a checkerboard)
    three = next(s for s in answer.solutions if s.kernel == 3)
    assert (three.padding, three.output_padding, three.exact, three.even) == (1, 1, False, False)
    assert "cycle through 2, 1 kernel taps" in three.note()


def test_transposed_fixed_output_padding_suggests_the_exact_one() -> None:
    answer = solve_transposed(TransposedProblem(size=28, target=56, kernel=3, stride=2))
    assert [transposed_key(s) for s in answer.solutions] == [(3, 2, 1, 1, 1)]
    assert answer.exact == ()
    assert {g.kind for g in answer.suggestions} == {"kernel"}
    assert answer.suggestions[0].solution.exact


def test_cli_transposed(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["solve", "--transposed", "--size", "16", "--target", "32", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("16 → 32 by transposed convolution (kernel ≤ 11, stride ≤ 4, padding ≤ "
                                    "M_eff − 1): 11 solutions, 5 exact")
    assert "(16 − 1)×2 − 2×0 + 1×(2 − 1) + 0 + 1 = 32" in result.stdout
    doc = json.loads(runner.invoke(cli, ["solve", "--transposed", "-J", "16", "-O", "32", "--output-padding",
                                         "1", "-f", "json"]).stdout)
    assert doc["question"]["transposed"] and doc["exact"] == 0
    assert {s["output_padding"] for s in doc["solutions"]} == {1}
    assert {g["kind"] for g in doc["suggestions"]} == {"output_padding"}


@pytest.mark.parametrize(("args", "message"), [
    (["--transposed", "-J", "16", "--same"], "--same does not go with --transposed"),
    (["--transposed", "-J", "16", "-O", "8", "--pool"], "--pool does not go with --transposed"),
    (["--transposed", "-J", "16"], "give a target size (--target)"),
    (["-J", "16", "-O", "8", "--output-padding", "1"], "--output-padding goes with --transposed"),
    (["--transposed", "-J", "16", "-O", "1000"], "target 1000 is out of reach from 16"),
    (["--transposed", "-J", "16", "-O", "32", "-s", "1", "--max-dilation", "1", "--output-padding", "1"],
     "output_padding 1 needs a stride or dilation above it"),
    (["--transposed", "-J", "0", "-O", "3"], "the input size must be at least 1; got 0"),
    (["--transposed", "-J", "16", "-O", "32", "--max-kernel", "65"], "--max-kernel must be at most 64"),
])
def test_transposed_bad_input_exits_2(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["solve", *args])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_transposed_huge_input_costs_no_more() -> None:
    start = time.perf_counter()
    answer = solve_transposed(TransposedProblem(size=2**30, target=2**31 - 1, max_kernel=64, max_stride=16,
                                                max_dilation=8))
    assert time.perf_counter() - start < 2
    assert all(s.out == 2**31 - 1 for s in answer.solutions)
