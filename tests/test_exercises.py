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
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from strategies import spatial_layer, specs

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.errors import ShapeError
from cnncalc.lecture.check import Marker, Targets, check, load_answered, load_answers
from cnncalc.lecture.worked import explain_layer

# --- every worked expression evaluates to the value it claims ----------------------------------


def evaluate(expression: str) -> Fraction:
    """Evaluate the arithmetic as printed (× − ⌈⌉ ⌊⌋, decimals and thousands separators) exactly."""
    text = expression.replace("×", "*").replace("−", "-").replace(",", "")
    text = text.replace("⌈", "ceil(").replace("⌉", ")").replace("⌊", "floor(").replace("⌋", ")")
    assert re.fullmatch(r"[\d\s+\-*/().]*|[\d\s+\-*/().ceilfloor]*", text), expression
    text = re.sub(r"\d+(\.\d+)?", lambda m: f"F('{m.group()}')", text)
    # Our own arithmetic, restricted by the regex above.
    return Fraction(eval(text, {"F": Fraction, "ceil": math.ceil, "floor": math.floor}))


def claimed(worked: str) -> tuple[str, int]:
    """Split 'LHS = 4,704', 'LHS ≈ 3.33 → 4' or 'LHS = 1 + ⌈1.5⌉ = 3' into the expression (the first
    part) and the integer it finally states."""
    lhs = re.split(r" [=≈] ", worked)[0]
    if "→" in worked:
        return lhs, int(worked.rsplit("→", 1)[1].replace(",", ""))
    return lhs, int(worked.rpartition(" = ")[2].replace(",", ""))


def assert_worked_arithmetic(spec: Any) -> int:
    """Every worked expression of every layer evaluates to the value it reports; returns how many
    were checked."""
    report = analyze(spec)
    checked = 0
    for position, (layer, row) in enumerate(zip(report.layers, report.rows, strict=True)):
        after = report.rows[position - 1].name if position else "input"
        for item in explain_layer(layer, row, after):
            if not isinstance(item.value, int) or not any(ch.isdigit() for ch in item.worked):
                continue  # shapes, and what a merge reads
            if item.worked.startswith("the ") or item.formula == "= connections":
                continue
            lhs, stated = claimed(item.worked)
            assert stated == item.value, (row.name, item)
            checked += 1
            if "double precision" in item.note:
                # torch's ⌊J × scale⌋ in floats: the steps after the first are exact arithmetic
                j, scale = re.fullmatch(r"⌊(\d+) × ([\d.]+)⌋", lhs).groups()  # type: ignore[union-attr]
                assert math.floor(float(j) * float(scale)) == stated, item
                assert evaluate(re.split(r" = ", item.worked)[1]) == stated, item
                continue
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
                assert all(evaluate(step) == exact for step in item.worked.split(" = ")), (row.name, item)
    return checked


@settings(max_examples=200, deadline=None, derandomize=True)
@given(specs())
def test_worked_arithmetic_is_the_arithmetic_done(data: dict[str, Any]) -> None:
    assert_worked_arithmetic(load_spec(data))


# --- networks that branch, and the new layer types ---------------------------------------------

SCALES = (0.5, 1.5, 2, 2.5, 3, 0.29, 0.7, 1.1)


@st.composite
def branching_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A random network that branches: shortcuts (add), squeeze-and-excitation (mul), concats of
    2–4 inputs, U-Net's centercrop, transposed convolutions, upsampling and the new activations,
    reading earlier entries by name; some of it inside a block called with repeat."""
    shape: tuple[int, ...] = (draw(st.integers(1, 4)), draw(st.integers(3, 20)), draw(st.integers(3, 20)))
    entries: list[dict[str, Any]] = []
    seen: list[tuple[str, tuple[int, ...]]] = [("input", shape)]

    def add(layer: dict[str, Any], out: tuple[int, ...], source: str | None = None) -> str:
        name = f"n{len(entries)}"
        if source is not None and source != (entries[-1]["name"] if entries else "input"):
            layer = {**layer, "from": source}
        entries.append({"name": name, **layer})
        seen.append((name, out))
        return name

    for _ in range(draw(st.integers(1, 7))):
        source, shape = draw(st.sampled_from(seen))
        c, h, w = shape
        kind = draw(st.sampled_from(["spatial", "transposed", "upsample", "act", "add", "se", "concat",
                                     "crop", "gap"]))
        if kind == "spatial":
            if min(h, w) < 4:
                continue
            layer, out = spatial_layer(draw, shape)
            if len(out) != 3 or min(out) < 1 or max(out) > 64:
                continue
            add(layer, out, source)
        elif kind == "transposed":
            kernel, stride = draw(st.integers(1, 4)), draw(st.integers(1, 3))
            dilation = draw(st.integers(1, 2))
            pad = draw(st.integers(0, dilation * (kernel - 1)))
            extra = draw(st.integers(0, max(stride, dilation) - 1))
            groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
            filters = groups * draw(st.integers(1, 3))
            side = [(size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1 for size in (h, w)]
            if min(side) < 1 or max(side) > 64:
                continue
            add({"type": "convtranspose2d", "out_channels": filters, "kernel_size": kernel, "stride": stride,
                 "padding": pad, "output_padding": extra, "dilation": dilation, "groups": groups,
                 "bias": draw(st.booleans())}, (filters, *side), source)
        elif kind == "upsample":
            if draw(st.booleans()):
                scales = [draw(st.sampled_from(SCALES))] * 2 if draw(st.booleans()) else \
                    [draw(st.sampled_from(SCALES)) for _ in range(2)]
                side = [math.floor(float(size) * scale) for size, scale in zip((h, w), scales, strict=True)]
                written: dict[str, Any] = {"scale_factor": scales[0] if scales[0] == scales[1] else scales}
            else:
                side = [draw(st.integers(1, 40)), draw(st.integers(1, 40))]
                written = {"size": side}
            if min(side) < 1 or max(side) > 64:
                continue
            mode = draw(st.sampled_from(["nearest", "bilinear"]))
            add({"type": "upsample", "mode": mode, **written}, (c, *side), source)
        elif kind == "act":
            add({"type": draw(st.sampled_from(["relu6", "silu", "hardswish", "hardsigmoid", "identity"]))},
                shape, source)
        elif kind == "add":
            branch = add({"type": "conv2d", "out_channels": c, "kernel_size": 3, "padding": 1}, shape, source)
            add({"type": "add", "from": [source, branch]}, shape)
        elif kind == "se":
            pooled = add({"type": "globalavgpool"}, (c, 1, 1), source)
            squeezed = draw(st.integers(1, 4))
            squeeze = add({"type": "conv2d", "out_channels": squeezed, "kernel_size": 1}, (squeezed, 1, 1),
                          pooled)
            gate = add({"type": "conv2d", "out_channels": c, "kernel_size": 1}, (c, 1, 1), squeeze)
            add({"type": "mul", "from": [source, gate]}, shape)
        elif kind == "concat":
            widths = [draw(st.integers(1, 5)) for _ in range(draw(st.integers(1, 3)))]
            parts = [add({"type": "conv2d", "out_channels": k, "kernel_size": 1}, (k, h, w), source)
                     for k in widths]
            add({"type": "concat", "from": [*parts, source]}, (sum(widths) + c, h, w))
        elif kind == "crop":
            kernel = draw(st.integers(1, min(h, w)))
            small = add({"type": "conv2d", "out_channels": 1, "kernel_size": kernel},
                        (1, h - kernel + 1, w - kernel + 1), source)
            add({"type": "centercrop", "from": [source, small]}, (c, h - kernel + 1, w - kernel + 1))
        else:
            add({"type": "globalavgpool"}, (c, 1, 1), source)
    if not entries:
        add({"type": "identity"}, shape)
    data: dict[str, Any] = {"input": list(seen[0][1]), "layers": entries}
    if draw(st.booleans()):  # the same layers as a block, called twice: path names
        data = {"input": data["input"], "blocks": {"b": {"layers": entries}},
                "layers": [{"name": "stage", "block": "b"}]}
    return data


@settings(max_examples=150, deadline=None, derandomize=True)
@given(branching_specs())
def test_worked_arithmetic_on_networks_that_branch(data: dict[str, Any]) -> None:
    try:
        spec = load_spec(data)
        analyze(spec)
    except ShapeError:
        assume(False)  # the drawing steers, but does not promise, a shape every layer accepts
    assert_worked_arithmetic(spec)


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
    ("conv1: 5\n",
     "answers.yaml:1: layer conv1 (#1): the answers must be a mapping such as {neurons: 4704}; got 5"),
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


@pytest.mark.parametrize(("value", "status"), [
    ("", "blank"), ('""', "blank"), ("'  '", "blank"),
    ("lots", "malformed"), ("5x", "malformed"), ("[1, 2]", "malformed"), ("true", "malformed")])
def test_check_blank_and_malformed_answers_are_marked_not_refused(runner: CliRunner, tmp_path: Path,
                                                                   value: str, status: str) -> None:
    answers = write(tmp_path, f"conv1:\n  neurons: {value}\n  parameters: 34944\n")
    result = runner.invoke(cli, ["check", "alexnet", answers, "-f", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.stdout)
    assert doc["score"] == {"right": 1, "total": 2}
    first, second = doc["marks"]
    assert (first["status"], first["right"], first["expected"]) == (status, False, 290400)
    assert (first["problem"] is None) == (status == "blank")
    assert second["status"] == "right"
    table = runner.invoke(cli, ["check", "alexnet", answers])
    assert table.exit_code == 1 and "score: 1/2 (50%)" in table.stdout
    assert ("1 unanswered" in table.stdout) == (status == "blank")


def test_check_numbers_questions_as_the_sheet_or_in_file_order(tmp_path: Path) -> None:
    spec = load_spec("alexnet")
    report = analyze(spec)
    targets = Targets.of(spec, report)
    sheet = load_answered(write(tmp_path, "pool1:\n  parameters: 0  # 7. How many?\n"
                                          "conv1:\n  neurons: 290400  # 3. How many neurons?\n"), targets)
    assert sheet.numbers == {("pool1", "parameters"): 7, ("conv1", "neurons"): 3}
    marks = Marker(report).mark(sheet.answers, sheet.numbers).marks
    assert [m.number for m in marks] == [7, 3] and all(m.right for m in marks)
    # One answer without its comment: the file's order for all (never a mix of the two).
    plain = load_answered(write(tmp_path, "pool1:\n  parameters: 0  # 7. How many?\n"
                                          "conv1: {neurons: 290400}\n", "plain.yaml"), targets)
    assert plain.numbers == {("pool1", "parameters"): 1, ("conv1", "neurons"): 2}


def test_check_a_block_call_by_its_path(runner: CliRunner, tmp_path: Path, resnet18: str) -> None:
    # layer2.0: 3×3 convs 64→128 (stride 2), 128→128, and a 1×1 projection with batch norm.
    expected = 128 * 64 * 9 + 128 * 128 * 9 + 128 * 64 + 3 * 2 * 128
    answers = write(tmp_path, f"layer2.0: {{parameters: {expected}, output_channels: 128}}\n"
                              "layer1: {parameters: 1}\n")
    doc = json.loads(runner.invoke(cli, ["check", resnet18, answers, "-f", "json"]).stdout)
    right, wrong = doc["marks"][:2], doc["marks"][2]
    assert [m["right"] for m in right] == [True, True]
    assert wrong["expected"] == 2 * (2 * 64 * 64 * 9 + 2 * 2 * 64)
    assert wrong["formula"] == "0.conv1 + 0.bn1 + 0.conv2 + 0.bn2 + 1.conv1 + 1.bn1 + 1.conv2 + 1.bn2"
    assert claimed(wrong["worked"].replace("(", "").replace(")", ""))[1] == wrong["expected"]


def _submission(kind: str, position: int, key: dict[str, dict[str, int]]) -> str:
    """A student's file of the given kind; the number of right answers it should score follows."""
    lines = [f"student: student {position:03}"]
    for layer, asked in key.items():
        lines.append(f"{layer}:")
        for number, (metric, value) in enumerate(asked.items()):
            written: object = value
            if kind == "wrong" and (number + position) % 2:
                written = value + 1
            elif kind == "blank" and number == 0:
                written = '""' if position % 2 else ""
            elif kind == "malformed" and number == 1:
                written = "'about 5'"
            lines.append(f"  {metric}: {written}")
    return "\n".join(lines) + "\n"


def test_a_class_of_200_marked_in_one_run(runner: CliRunner, tmp_path: Path) -> None:
    from cnncalc.lecture.quiz import make_quiz

    made = make_quiz(11, layers=3)
    (tmp_path / "quiz.yaml").write_text(json.dumps(made.network))
    key = made.answers()
    total = sum(len(asked) for asked in key.values())
    folder = tmp_path / "submissions"
    folder.mkdir()
    kinds = ("right", "wrong", "blank", "malformed", "unreadable")
    expected: dict[str, int | None] = {}
    for position in range(200):
        kind = kinds[position % len(kinds)]
        path = folder / f"s{position:03}.yaml"
        if kind == "unreadable":
            path.write_bytes(b"conv1: [\n" if position % 2 else b"\x00\x01binary")
            expected[path.name] = None
            continue
        text = _submission(kind, position, key)
        path.write_text(text)
        wrong = {"right": 0, "blank": len(key), "malformed": sum(len(a) > 1 for a in key.values()),
                 "wrong": sum(number % 2 != position % 2 for asked in key.values()
                              for number in range(len(asked)))}[kind]
        expected[f"student {position:03}"] = total - wrong
    (folder / "notes.txt").write_text("not an answers file: left alone")
    result = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(folder), "-f", "json"])
    assert result.exit_code == 2, result.output  # some files could not be read: bad input, as for one
    doc = json.loads(result.stdout)
    assert len(doc["submissions"]) == 200
    assert [q["number"] for q in doc["questions"]] == list(range(1, total + 1))
    got = {s["student"]: s["right"] for s in doc["submissions"]}
    assert got == expected
    unreadable = [s for s in doc["submissions"] if s["right"] is None]
    assert len(unreadable) == 40 and all(s["problem"] for s in unreadable)
    blank = next(s for s in doc["submissions"] if s["student"] == "student 002")
    assert blank["answers"]["Q1"] == {"given": None, "status": "blank", "problem": None}
    malformed = next(s for s in doc["submissions"] if s["student"] == "student 003")
    assert malformed["answers"]["Q2"]["status"] == "malformed"
    # The questions got wrong most: Q1 (blank in 40 files, wrong in some) comes first.
    counts = {q["number"]: q["wrong"] for q in doc["wrong_most"]}
    assert counts[1] == max(counts.values()) and all(q["of"] == 160 for q in doc["wrong_most"])
    csv_rows = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(folder), "-f", "csv"]).stdout
    lines = csv_rows.splitlines()
    assert lines[0].startswith("student,file,right,total,Q1,Q2,") and len(lines) == 201
    assert lines[3].startswith(f"student 002,{folder / 's002.yaml'},{expected['student 002']},{total},,1,")


def test_class_exit_status_and_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    good = write(tmp_path, LECTURE_ANSWERS, "good.yaml")
    other = write(tmp_path, LECTURE_ANSWERS.replace("student", ""), "other.yaml")
    table = runner.invoke(cli, ["check", "alexnet", good, other])
    assert table.exit_code == 0, table.output
    assert "good.yaml" in table.stdout and "7/7 (100%)" in table.stdout
    wrong = write(tmp_path, LECTURE_ANSWERS.replace("364", "365"), "wrong.yaml")
    result = runner.invoke(cli, ["check", "alexnet", good, wrong, "-f", "markdown"])
    assert result.exit_code == 1
    assert "| wrong.yaml | 6/7 (86%) | ✓ | ✗ 365 |" in result.stdout
    assert "- **Q2** (conv1, weights per neuron): wrong in 1 of 2; 364: 1 + M×N×L = 1 + 11×11×3 = 364" \
        in result.stdout
    for args in ([str(tmp_path / "missing") + "/"], [str(tmp_path / "empty")]):
        (tmp_path / "empty").mkdir(exist_ok=True)
        bad = runner.invoke(cli, ["check", "alexnet", *args])
        assert bad.exit_code == 2 and "Traceback" not in bad.output
        assert bad.stderr.startswith(args[0]), bad.stderr
    spec_error = runner.invoke(cli, ["check", "no-such-spec.yaml", str(tmp_path)])
    assert spec_error.exit_code == 2


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


# --- explain and check on networks that branch, and the new layer types ----------------------------

RESNET18 = (Path(__file__).resolve().parent.parent / "architectures" / "resnet18.yaml").read_text()

# Every merge and every new layer type, reading earlier entries by name.
MIXED = """\
name: mixed
input: [3, 16, 16]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: b, type: conv2d, from: stem, out_channels: 6, kernel_size: 3, padding: 1}
  - {name: cat, type: concat, from: [a, b, stem]}
  - {name: gap, type: globalavgpool}
  - {name: gate, type: hardsigmoid}
  - {name: se, type: mul, from: [cat, gate]}
  - {name: up, type: convtranspose2d, out_channels: 5, kernel_size: 3, stride: 2, padding: 1,
     output_padding: 1}
  - {name: up2, type: upsample, scale_factor: 1.5, mode: bilinear}
  - {name: small, type: conv2d, out_channels: 5, kernel_size: 5, from: up2}
  - {name: crop, type: centercrop, from: [up2, small]}
  - {name: r6, type: relu6}
  - {name: id, type: identity}
  - {name: odd, type: upsample, size: 25}
  - {name: float, type: upsample, scale_factor: 1.16}
"""


@pytest.fixture
def resnet18(tmp_path: Path) -> str:
    return write(tmp_path, RESNET18, "resnet18.yaml")


@pytest.fixture
def mixed(tmp_path: Path) -> str:
    return write(tmp_path, MIXED, "mixed.yaml")


def explained(runner: CliRunner, spec: str, layer: str) -> dict[str, Any]:
    result = runner.invoke(cli, ["explain", spec, layer, "-f", "json"])
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)
    return {w["metric"]: w for w in doc["worked"]} | {"_": doc}


def test_explain_a_layer_by_its_path(runner: CliRunner, resnet18: str) -> None:
    worked = explained(runner, resnet18, "layer2.0.conv1")
    assert worked["_"]["name"] == "layer2.0.conv1" and worked["_"]["index"] == 19
    assert worked["output_size"]["worked"] == "1 + (56 + 2×1 − 3)/2 = 28.5 → 28"
    assert worked["weights_per_neuron"]["worked"] == "3×3×64 = 576"
    assert worked["parameters"]["worked"] == "128 × 576 = 73,728"
    assert "inputs" not in worked  # it reads the row before it
    shortcut = explained(runner, resnet18, "layer2.0.downsample.0")
    assert shortcut["inputs"]["worked"] == "layer1.1.relu2 (64×56×56)"  # the block's input, not bn2


def test_explain_an_add_says_what_it_reads_and_its_shape_rule(runner: CliRunner, resnet18: str) -> None:
    worked = explained(runner, resnet18, "layer2.0.add")
    assert worked["inputs"]["worked"] == "layer2.0.bn2 (128×28×28), layer2.0.downsample.1 (128×28×28)"
    assert worked["output_shape"]["formula"] == "X₁ + X₂"
    assert worked["output_shape"]["worked"] == "128×28×28 + 128×28×28 → 128×28×28"
    assert "broadcasting" in worked["output_shape"]["note"]
    assert [worked[m]["value"] for m in ("weights_per_neuron", "neurons", "connections", "parameters")] == \
        [0, 0, 0, 0]
    assert "adds no units" in worked["weights_per_neuron"]["note"]
    # an identity shortcut: the block's input is what the add reads
    identity = explained(runner, resnet18, "layer1.0.add")
    assert identity["inputs"]["worked"] == "layer1.0.bn2 (64×56×56), maxpool (64×56×56)"


def test_explain_a_block_call_explains_every_layer_in_it(runner: CliRunner, resnet18: str) -> None:
    result = runner.invoke(cli, ["explain", resnet18, "layer2.0", "-f", "json"])
    names = [layer["name"] for layer in json.loads(result.stdout)]
    assert names == [f"layer2.0.{n}" for n in ("conv1", "bn1", "relu", "conv2", "bn2", "downsample.0",
                                               "downsample.1", "add", "relu2")]
    near = runner.invoke(cli, ["explain", resnet18, "layer2.0.cnov1"])
    assert near.exit_code == 2 and "did you mean 'layer2.0.conv1'?" in near.stderr


def test_explain_merges_and_the_new_types(runner: CliRunner, mixed: str) -> None:
    cat = explained(runner, mixed, "cat")
    assert cat["inputs"]["worked"] == "a (4×16×16), b (6×16×16), stem (8×16×16)"
    channels = cat["output_channels"]
    assert (channels["formula"], channels["worked"]) == ("C₁ + C₂ + C₃", "4 + 6 + 8 = 18")
    se = explained(runner, mixed, "se")
    assert se["output_shape"]["worked"] == "18×16×16 ⊙ 18×1×1 → 18×16×16"
    assert "gate's height and width of 1 are repeated" in se["output_shape"]["note"]
    gap = explained(runner, mixed, "gap")
    assert gap["connections"]["worked"] == "18 × 16 × 16 = 4,608" and gap["output_size"]["value"] == 1
    crop = explained(runner, mixed, "crop")
    assert crop["crop_top"]["worked"] == "⌊(48 − 44)/2⌋ = 2" and crop["output_size"]["value"] == 44
    up2 = explained(runner, mixed, "up2")
    assert up2["output_size"]["worked"] == "⌊32 × 1.5⌋ = 48" and "bilinear" in up2["output_size"]["note"]
    odd = explained(runner, mixed, "odd")
    assert odd["output_size"]["worked"] == "25"
    # torch computes ⌊25 × 1.16⌋ in double precision: 28.999999999999996 → 28, not 29
    floated = explained(runner, mixed, "float")
    assert floated["output_size"]["worked"] == "⌊25 × 1.16⌋ = ⌊28.999999999999996⌋ = 28"
    assert "double precision" in floated["output_size"]["note"]
    for name, words in (("r6", "min(max(0, x), 6)"), ("id", "unchanged"),
                        ("gate", "min(max(0, x + 3), 6)/6")):
        assert words in explained(runner, mixed, name)["weights_per_neuron"]["note"], name


def test_explain_a_transposed_convolution(runner: CliRunner, mixed: str) -> None:
    up = explained(runner, mixed, "up")
    assert up["output_size"]["formula"] == "(J − 1)×s − 2P + d×(M − 1) + output_padding + 1"
    assert up["output_size"]["worked"] == "(16 − 1)×2 − 2×1 + 1×(3 − 1) + 1 + 1 = 32"
    assert "maps every size from 31 to 32 to 16; output_padding 1 picks 32" in up["output_size"]["note"]
    # s = 2, M = 3, P = 1: outputs alternate 1 and 2 taps; 47 = 16 × 1 + 15 × 2 + 1 along each axis
    assert up["weights_per_neuron"]["worked"] == "1 + 18×2×2 = 73"
    assert "1, 2, 1, 2, 1, 2, …" in up["weights_per_neuron"]["note"]
    assert up["connections"]["worked"] == "5 × (18×47×47 + 32 × 32) = 203,930"
    assert up["parameters"]["worked"] == "18 × 5 × 3 × 3 + 5 = 815"
    assert up["macs"]["worked"] == "18 × 16 × 16 × 5 × 3 × 3 + 5 × 32 × 32 = 212,480"
    assert "cropped padding" in up["macs"]["note"]


def test_the_transposed_counts_are_a_brute_force_count() -> None:
    """Weights per neuron and connections by the lecture's definitions: for each output unit,
    count the (input, weight) pairs that reach it in the scatter torch computes."""
    for c_in, c_out, size, kernel, stride, pad, extra, dilation, groups in (
            (2, 3, 5, 3, 2, 1, 1, 1, 1), (4, 2, 4, 4, 3, 2, 0, 1, 2), (1, 1, 6, 2, 1, 0, 0, 2, 1),
            (3, 3, 3, 3, 2, 0, 1, 2, 3)):
        spec = load_spec({"input": [c_in, size, size], "layers": [
            {"type": "convtranspose2d", "out_channels": c_out, "kernel_size": kernel, "stride": stride,
             "padding": pad, "output_padding": extra, "dilation": dilation, "groups": groups}]})
        report = analyze(spec)
        worked = {w.metric: w.value for w in explain_layer(report.layers[0], report.rows[0])}
        out = (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1
        reach = [[0] * out for _ in range(out)]
        for i in range(size):
            for j in range(size):
                for a in range(kernel):
                    for b in range(kernel):
                        y, x = i * stride + a * dilation - pad, j * stride + b * dilation - pad
                        if 0 <= y < out and 0 <= x < out:
                            reach[y][x] += 1
        per_unit = [1 + c_in // groups * r for row in reach for r in row]  # bias + inputs × taps
        assert worked["weights_per_neuron"] == max(per_unit)
        assert worked["connections"] == c_out * sum(per_unit)


def test_check_answers_keyed_by_path(runner: CliRunner, tmp_path: Path, resnet18: str) -> None:
    answers = write(tmp_path, """\
layer2.0.conv1:
  output_shape: [128, 28, 28]
  weights_per_neuron: 576
  parameters: 73,728
layer2.0.downsample.0: {parameters: 8192, output_size: 28}
layer2.0.add: {output_shape: 128x28x28, neurons: 0, parameters: 0}
layer1.1.add: {output_channels: 64}
totals: {parameters: "11,689,512"}
""")
    result = runner.invoke(cli, ["check", resnet18, answers, "-f", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["score"] == {"right": 10, "total": 10}
    wrong = write(tmp_path, "layer3.0.conv2: {parameters: 589000}\n"
                            "layer2.1.add: {output_shape: [128, 56, 56]}\n", "wrong.yaml")
    result = runner.invoke(cli, ["check", resnet18, wrong, "-f", "json"])
    assert result.exit_code == 1
    marks = {m["layer"]: m for m in json.loads(result.stdout)["marks"]}
    assert marks["layer3.0.conv2"]["worked"] == "256 × 2,304 = 589,824"
    assert marks["layer2.1.add"]["worked"] == "128×28×28 + 128×28×28 → 128×28×28"
    missing = write(tmp_path, "layer2.0.cnov1: {parameters: 5}\n", "missing.yaml")
    result = runner.invoke(cli, ["check", resnet18, missing])
    assert result.exit_code == 2
    assert "no layer named 'layer2.0.cnov1' in ResNet-18; did you mean 'layer2.0.conv1'?" in result.stderr


def test_conv_transposed_unet_up_convolution(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["conv", "--transposed", "--size", "28", "--channels", "1024",
                                 "--filters", "512", "--kernel", "2", "--stride", "2"])
    assert result.exit_code == 0, result.output
    heading = result.stdout.splitlines()[0]
    assert heading == ("transposed convolution: 512 filters on a 28×28 input with 1,024 channels "
                       "(J = K = 28, L = 1024, M = N = 2, s = 2)")
    doc = json.loads(runner.invoke(cli, ["conv", "--transposed", "-J", "28", "-L", "1024", "--filters", "512",
                                         "-M", "2", "-s", "2", "-f", "json"]).stdout)
    worked = {w["metric"]: w for w in doc[0]["worked"]}
    assert worked["output_size"]["worked"] == "(28 − 1)×2 − 2×0 + 1×(2 − 1) + 0 + 1 = 56"
    assert worked["parameters"]["worked"] == "1024 × 512 × 2 × 2 + 512 = 2,097,664"  # torch's count
    assert worked["weights_per_neuron"]["worked"] == "1 + 1024×1×1 = 1,025"  # each output: one tap
    assert worked["connections"]["value"] == worked["macs"]["value"]  # nothing cropped


@pytest.mark.parametrize(("args", "message"), [
    (["--transposed", "-P", "same"], "--padding same is for a convolution"),
    (["--output-padding", "1"], "--output-padding goes with --transposed"),
    (["--transposed", "-s", "2", "--output-padding", "2"],
     "cnncalc conv: layer conv (#1): output_padding 2 must be smaller than the stride or the dilation"),
])
def test_conv_transposed_bad_input(runner: CliRunner, args: list[str], message: str) -> None:
    result = runner.invoke(cli, ["conv", "-J", "16", "--filters", "2", "-M", "3", *args])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize(("command", "columns"), [
    ("cnncalc conv --transposed --size 28 --channels 64 --filters 32 --kernel 2 --stride 2", 100),
    ("cnncalc explain resnet18.yaml layer2.0.add", 100),
    ("cnncalc check resnet18.yaml answers.yaml", 120),
    ("cnncalc solve --transposed --size 28 --target 56 --kernel 3 --width 120", 120),
])
def test_the_readme_shows_real_output(command: str, columns: int, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    shown = readme.split(f"$ {command}\n", 1)[1].split("\n```", 1)[0] + "\n"
    monkeypatch.chdir(tmp_path)
    write(tmp_path, RESNET18, "resnet18.yaml")
    answers = readme.split("$ cnncalc check resnet18.yaml answers.yaml", 1)[0]
    write(tmp_path, answers.rsplit("$ cat answers.yaml\n", 1)[1])
    result = CliRunner(env={"COLUMNS": str(columns)}).invoke(cli, shlex.split(command)[1:])
    assert result.exit_code in (0, 1), result.output
    assert result.stdout == shown


README_CLASS = {
    "ada.yaml": "student: Ada Lovelace\nconv1: {output_size: 55, weights_per_neuron: 364, neurons: 290400, "
                "parameters: 34944}\npool1: {output_size: 27}\n",
    "grace.yaml": "student: Grace Hopper\nconv1: {output_size: 55, weights_per_neuron: 364, "
                  "neurons: about 290k, parameters: 34944}\npool1: {output_size: 27}\n",
    "kurt.yaml": "student: Kurt\nconv1: {output_size: 55\n",
}


@pytest.mark.parametrize("command", ["cnncalc check alexnet class/",
                                     "cnncalc check alexnet class/ --format csv"])
def test_the_readme_shows_the_real_gradebook(command: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    shown = readme.split(f"$ {command}\n", 1)[1].split("\n```", 1)[0] + "\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "class").mkdir()
    alan = readme.split("$ cat class/alan.yaml\n", 1)[1].split("$ cnncalc", 1)[0]
    for name, text in {**README_CLASS, "alan.yaml": alan}.items():
        (tmp_path / "class" / name).write_text(text)
    result = CliRunner(env={"COLUMNS": "100"}).invoke(cli, shlex.split(command)[1:])
    assert result.exit_code == 2  # Kurt's file cannot be read
    assert result.stdout == shown
