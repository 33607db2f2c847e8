"""Worked formulas, check, explain, and the one-layer conv and pool calculators."""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from strategies import specs

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.lecture.check import check, load_answers
from cnncalc.lecture.worked import explain_layer

# --- every worked expression evaluates to the value it claims ----------------------------------


def evaluate(expression: str) -> Fraction:
    """Evaluate the arithmetic as printed (× − ⌈⌉ and thousands separators) exactly."""
    text = expression.replace("×", "*").replace("−", "-").replace(",", "")
    text = text.replace("⌈", "ceil(").replace("⌉", ")")
    assert re.fullmatch(r"[\d\s+\-*/()ceil]*", text), expression
    text = re.sub(r"\d+", lambda m: f"F({m.group()})", text)
    # Our own arithmetic, restricted by the regex above.
    return Fraction(eval(text, {"F": Fraction, "ceil": math.ceil}))


def claimed(worked: str) -> tuple[str, int]:
    """Split 'LHS = 4,704', 'LHS ≈ 3.33 → 4' or 'LHS = 1 + ⌈1.5⌉ = 3' into the expression (the first
    part) and the integer it finally states."""
    lhs = re.split(r" [=≈] ", worked)[0]
    if "→" in worked:
        return lhs, int(worked.rsplit("→", 1)[1].replace(",", ""))
    return lhs, int(worked.rpartition(" = ")[2].replace(",", ""))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(specs())
def test_worked_arithmetic_is_the_arithmetic_done(data: dict[str, Any]) -> None:
    spec = load_spec(data)
    report = analyze(spec)
    for layer, row in zip(spec.layers, report.rows, strict=True):
        for item in explain_layer(layer, row):
            if item.metric == "output_shape" or not any(ch.isdigit() for ch in item.worked):
                continue
            if item.worked.startswith("the ") or item.formula == "= connections":
                continue
            lhs, stated = claimed(item.worked)
            assert stated == item.value, (row.name, item)
            exact = evaluate(lhs)
            if "→" in item.worked:
                # The arrow keeps what PyTorch keeps: the floor, or one less than a ceil_mode
                # result whose last window would start in the padding.
                assert stated in (math.floor(exact), math.ceil(exact) - 1), (row.name, item)
                # Every step written before the arrow is true arithmetic too.
                steps = re.split(r" [=≈] ", item.worked.split(" → ")[0])
                if "⌈" in item.worked:
                    assert all(evaluate(step) == exact for step in steps if "." not in step), item
            else:
                assert exact == stated, (row.name, item)


# --- the lecture's numbers, through the calculators -----------------------------------------


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "200"})


def test_conv_alexnet_conv1(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["conv", "--size", "224", "--channels", "3", "--filters", "96", "--kernel",
                                 "11", "--stride", "4", "--padding", "2"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "J = K = 224, L = 3, M = N = 11, P = 2, s = 4" in out
    assert "1 + (J + 2P − M)/s = 1 + (224 + 2×2 − 11)/4 = 55.25 → 55" in out
    assert "1 + M×N×L = 1 + 11×11×3 = 364" in out
    assert "55 × 55 × 96 = 290,400" in out
    assert "55 × 55 × 96 × 364 = 105,705,600" in out
    assert "96 × 364 = 34,944" in out
    assert "no input is lost" in out  # what the dropped fraction means, in a sentence


@pytest.mark.parametrize(("args", "symbols"), [
    (["-J", "7", "-M", "5", "-P", "same"], "M = N = 5, P = 2 for 'same')"),
    (["-J", "7", "-M", "3x5", "-P", "same"], "M = 3, N = 5, P = 1×2 for 'same')"),
    # even kernel: the odd row and column of padding goes bottom/right
    (["-J", "7", "-M", "4", "-P", "same"], "M = N = 4, P = 1 top/left + 2 bottom/right for 'same')"),
    (["-J", "7", "-M", "4x3", "-P", "same"],
     "M = 4, N = 3, P = 1 top + 2 bottom, 1 left + 1 right for 'same')"),
    # TensorFlow's 'SAME' at stride 2: ceil(224/2) = 112 needs 1 row and column, at the bottom/right
    (["-J", "224", "-M", "3", "-s", "2", "-P", "same"],
     "M = N = 3, P = 0 top/left + 1 bottom/right for 'same', s = 2)"),
    (["-J", "7", "-M", "1", "-P", "same"], "M = N = 1, P = 0 for 'same')"),
    (["-J", "7", "-M", "3", "-P", "valid"], "M = N = 3, P = 0 for 'valid')"),
    (["-J", "7", "-M", "3", "-P", "1x2"], "M = N = 3, P = 1×2)"),
])
def test_conv_shows_the_padding_as_numbers(runner: CliRunner, args: list[str], symbols: str) -> None:
    """'same' and 'valid' are shown as the P the formulas use, with the word once."""
    result = runner.invoke(cli, ["conv", "--filters", "1", *args], terminal_width=200)
    assert result.exit_code == 0, result.output
    heading = result.stdout.splitlines()[0]
    assert heading.endswith(symbols), heading
    assert heading.count("same") + heading.count("valid") == (args[-1] in ("same", "valid"))


def test_conv_colour_lenet(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["conv", "-J", "32", "-L", "3", "--filters", "6", "-M", "5", "-f", "json"])
    worked = {w["metric"]: w for w in json.loads(result.stdout)[0]["worked"]}
    assert worked["output_size"]["worked"] == "32 + 1 − 5 = 28"
    assert worked["weights_per_neuron"]["worked"] == "1 + 5×5×3 = 76"
    assert worked["neurons"]["value"] == 4704
    assert worked["connections"]["worked"] == "28 × 28 × 6 × 76 = 357,504"
    assert worked["parameters"]["worked"] == "6 × 76 = 456"


def test_conv_rectangular_input_shows_both_axes(runner: CliRunner) -> None:
    # The lecture's stride example: J = 7, K = 9, L = 3, M = N = 3, s = 2 → 3 × 4.
    result = runner.invoke(cli, ["conv", "--size", "7x9", "-L", "3", "--filters", "1", "--kernel", "3",
                                 "--stride", "2", "-f", "json"])
    worked = {w["metric"]: w for w in json.loads(result.stdout)[0]["worked"]}
    assert worked["output_height"]["worked"] == "1 + (7 − 3)/2 = 3"
    assert worked["output_size"]["worked"] == "1 + (9 − 3)/2 = 4"
    assert worked["parameters"]["worked"] == "1 × 28 = 28"


def test_pool_overlapping(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pool", "--size", "55", "--channels", "96", "--kernel", "3",
                                 "--stride", "2"])
    assert result.exit_code == 0
    assert "1 + (J − F)/s = 1 + (55 − 3)/2 = 27" in result.stdout
    assert "none: no weights to be learned, just computing the max" in result.stdout


def test_pool_ceil_mode_explains_itself(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pool", "--size", "6", "--kernel", "3", "--stride", "2", "--ceil-mode",
                                 "-f", "json"])
    (size,) = [w for w in json.loads(result.stdout)[0]["worked"] if w["metric"] == "output_size"]
    assert size["worked"] == "1 + ⌈(6 − 3)/2⌉ = 1 + ⌈1.5⌉ = 3"
    assert "ceil_mode rounds up" in size["note"]


def test_pool_ceil_mode_keeps_what_the_warnings_say(runner: CliRunner) -> None:
    # J = 11, F = 2, s = 4: ceil_mode's fourth window would start at 12, past the input, so PyTorch
    # keeps 3 (windows at 0, 4, 8): rows 2–3 and 6–7 fall between windows, row 10 after the last.
    result = runner.invoke(cli, ["pool", "--size", "11", "--kernel", "2", "--stride", "4", "--ceil-mode",
                                 "-f", "json"])
    [layer] = json.loads(result.stdout)
    (size,) = [w for w in layer["worked"] if w["metric"] == "output_size"]
    assert size["worked"].endswith("= 4 → 3")
    assert "the last 1 input position is never seen" in size["note"]
    assert [m for m in layer["warnings"] if m.startswith("stride 4 is larger than the pooling window")]


@pytest.mark.parametrize("args", [
    ["conv", "--size", "0", "--filters", "1", "--kernel", "3"],
    ["conv", "--size", "4", "--filters", "1", "--kernel", "5"],
    ["conv", "--size", "4x", "--filters", "1", "--kernel", "3"],
    ["pool", "--size", "4", "--kernel", "3", "--padding", "2"],
])
def test_calculator_bad_input(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_kernel_too_big_names_the_command(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["conv", "--size", "4", "--filters", "1", "--kernel", "5"])
    assert result.stderr.startswith(
        "cnncalc conv: layer conv (#1): conv2d kernel 5×5 does not fit its 4×4 input")


# --- check ----------------------------------------------------------------------------------

LECTURE_ANSWERS = """\
conv1:
  output_size: 55
  weights_per_neuron: 364
  neurons: 290,400
  connections: "105,705,600"
  parameters: 34944
pool1:
  output_shape: [96, 27, 27]
  parameters: 0
"""


def write(tmp_path: Path, text: str, name: str = "answers.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_all_right(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["check", "alexnet", write(tmp_path, LECTURE_ANSWERS)])
    assert result.exit_code == 0, result.output
    assert "score: 7/7 (100%)" in result.stdout


def test_check_wrong_answers_show_the_working(runner: CliRunner, tmp_path: Path) -> None:
    text = LECTURE_ANSWERS.replace("364", "363").replace("[96, 27, 27]", "27x27x96")
    result = runner.invoke(cli, ["check", "alexnet", write(tmp_path, text), "-f", "json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["score"] == {"right": 5, "total": 7}
    wrong = {m["metric"]: m for m in doc["marks"] if not m["right"]}
    assert set(wrong) == {"weights_per_neuron", "output_shape"}
    assert wrong["weights_per_neuron"]["expected"] == 364
    assert wrong["weights_per_neuron"]["worked"] == "1 + 11×11×3 = 364"
    assert wrong["output_shape"]["expected"] == [96, 27, 27]


def test_check_accepts_positions_and_shapes_in_parentheses(tmp_path: Path) -> None:
    spec = load_spec("alexnet")
    answers, _ = load_answers(write(tmp_path, '"#3":\n  output_shape: "(96, 27, 27)"\n'), spec)
    assert answers == {"pool1": {"output_shape": (96, 27, 27)}}
    assert check(spec, analyze(spec), answers).all_right


def test_check_wrong_shape_shows_the_width_worked(runner: CliRunner, tmp_path: Path) -> None:
    answers = write(tmp_path, "conv1:\n  output_shape: [96, 54, 54]\n")
    result = runner.invoke(cli, ["check", "alexnet", answers, "-f", "json"])
    (mark,) = json.loads(result.stdout)["marks"]
    assert mark["worked"] == "96 × 55 × 55; width 1 + (224 + 2×2 − 11)/4 = 55.25 → 55"


def test_check_missing_answers_file(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["check", "alexnet", "no-such-answers.yaml"])
    assert result.exit_code == 2
    assert result.stderr == "no-such-answers.yaml: no such answers file\n"


def test_check_totals(tmp_path: Path) -> None:
    spec = load_spec("lenet5")
    answers, _ = load_answers(write(tmp_path, "totals: {parameters: 61706, connections: 429342}\n"), spec)
    marking = check(spec, analyze(spec), answers)
    assert marking.all_right and marking.total == 2


@pytest.mark.parametrize(("text", "message"), [
    ("conv1:\n  nuerons: 5\n",
     "answers.yaml:2: layer conv1 (#1): unknown quantity 'nuerons'; did you mean 'neurons'?"),
    ("conv9:\n  neurons: 5\n", "answers.yaml:1: no layer named 'conv9' in AlexNet; did you mean 'conv5'?"),
    ("conv1:\n  neurons: lots\n",
     "answers.yaml:2: layer conv1 (#1): neurons: must be a whole number such as 357504 or \"357,504\"; "
     "got 'lots'"),
    ("conv1: 5\n",
     "answers.yaml:1: layer conv1 (#1): the answers must be a mapping such as {neurons: 4704}; got 5"),
    ('"#3":\n  neurons: 5x\n', "answers.yaml:2: layer pool1 (#3): neurons: must be a whole number such as "
     "357504 or \"357,504\"; got '5x'"),
    ('conv1:\n  neurons: 290400\n"#1":\n  parameters: 34944\n',
     "answers.yaml:3: layer conv1 (#1): answered twice (first on line 1); keep one"),
    ("input: [3, 8, 8]\nlayers:\n  - {type: relu}\n",
     "answers.yaml: this is a spec, not an answers file; the spec comes first: cnncalc check SPEC ANSWERS"),
    ("", "answers.yaml: an answers file maps layer names to answers, e.g. C1: {neurons: 4704}; "
         "got an empty file"),
])
def test_check_bad_answers(runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str,
                           message: str) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, text)
    result = runner.invoke(cli, ["check", "alexnet", "answers.yaml"])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == message
    assert "Traceback" not in result.output


def test_check_with_arguments_swapped(runner: CliRunner, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path, LECTURE_ANSWERS)
    result = runner.invoke(cli, ["check", "answers.yaml", "alexnet"])
    assert result.exit_code == 2
    assert "is not a spec" in result.stderr and "the spec comes first" in result.stderr


# --- explain ------------------------------------------------------------------------------


def test_explain_one_layer_by_name_and_position(runner: CliRunner) -> None:
    by_name = runner.invoke(cli, ["explain", "lenet5", "C3", "-f", "markdown"])
    by_position = runner.invoke(cli, ["explain", "lenet5", "#3", "-f", "markdown"])
    assert by_name.exit_code == 0 and by_name.stdout == by_position.stdout
    assert "- **width of the next layer**: J + 1 − M = 14 + 1 − 5 = 10" in by_name.stdout
    assert "- **independent parameters**: filters × weights per neuron = 16 × 151 = 2,416" in by_name.stdout


def test_explain_whole_network(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", "alexnet", "-f", "json"])
    layers = json.loads(result.stdout)
    assert len(layers) == 17
    conv2 = {w["metric"]: w for w in layers[3]["worked"]}
    assert conv2["weights_per_neuron"]["worked"] == "1 + 5×5×(96/2) = 1,201"


def test_explain_unknown_layer(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["explain", "lenet5", "C4"])
    assert result.exit_code == 2
    assert result.stderr == ("lenet5: no layer 'C4'; the layers are: C1, S2, C3, S4, flatten_1, F5, F6, "
                             "output, softmax_1\n")
    near = runner.invoke(cli, ["explain", "lenet5", "C33"])
    assert near.stderr == "lenet5: no layer 'C33'; did you mean 'C3'?\n"


# --- pool --values: pooling on numbers ---------------------------------------------------------


def test_pool_values_max_with_windows(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pool", "--values", "1 2 0 4; 0 1 3 1; 2 1 0 0; 1 1 1 5", "--kernel", "2",
                                 "--windows"])
    assert result.exit_code == 0, result.output
    assert "(0,1): max(0, 4, 3, 1) = 4" in result.stdout
    assert "(1,1): max(0, 0, 1, 5) = 5" in result.stdout


def test_pool_values_average_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pool", "--values", "1 2; 3 4", "--kernel", "2", "--avg", "-f", "json"])
    assert json.loads(result.stdout)["output"] == [[2.5]]


def test_pool_needs_a_size_or_values(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["pool", "--kernel", "2"])
    assert result.exit_code == 2
    assert "give --size" in result.stderr
    for extra in (["--size", "4"], ["--channels", "3"], ["-f", "markdown"]):
        clash = runner.invoke(cli, ["pool", "--values", "1 2; 3 4", "--kernel", "2", *extra])
        assert clash.exit_code == 2, extra
    ragged = runner.invoke(cli, ["pool", "--values", "1 2; 3", "--kernel", "2"])
    assert ragged.exit_code == 2 and "Traceback" not in ragged.output
