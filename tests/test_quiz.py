"""cnncalc quiz: reproducible, sensible, marked by check, and driven through its prompt."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.lecture.check import Marker
from cnncalc.lecture.quiz import BRANCHING_QUESTIONS, Quiz, describe, make_branching_quiz, make_quiz


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_same_seed_same_quiz() -> None:
    first, again = make_quiz(42), make_quiz(42)
    assert first.network == again.network
    assert [(q.layer, q.metric, q.answer) for q in first.questions] == \
        [(q.layer, q.metric, q.answer) for q in again.questions]
    assert make_quiz(43).network != first.network


def assert_sensible(made: Quiz) -> None:
    report = analyze(load_spec(made.network))
    if made.fractions:  # sizes may be fractions rounded down, and nothing else
        assert {w.kind for w in report.warnings} <= {"fraction"}, [w.message for w in report.warnings]
    else:
        assert report.warnings == [], [w.message for w in report.warnings]  # whole sizes, no skipped rows
    assert 1 <= len(report.rows) <= made.layers
    for layer, row in zip(made.network["layers"], report.rows, strict=True):
        if layer["type"] == "conv2d":
            assert layer["stride"] <= layer["kernel_size"] <= row.input_shape[1]
            assert layer["padding"] <= layer["kernel_size"] // 2
        assert row.output_shape[1] >= 2


@pytest.mark.parametrize("seed", range(60))
def test_exercises_are_sensible(seed: int) -> None:
    assert_sensible(make_quiz(seed, layers=4))


@pytest.mark.parametrize("fractions", [False, True])
@pytest.mark.parametrize("layers", range(1, 9))
def test_every_seed_and_length_generates(layers: int, fractions: bool) -> None:
    # Small maps once ran out of kernels (IndexError in rng.choice); the chain now stops cleanly.
    for seed in range(300):
        made = make_quiz(seed, layers=layers, fractions=fractions)
        assert_sensible(made)
        assert made.questions


@pytest.mark.parametrize(("seed", "layers", "fractions"), [(10, 5, False), (1, 5, True), (0, 7, True)])
def test_the_quizzes_that_crashed(runner: CliRunner, seed: int, layers: int, fractions: bool) -> None:
    args = ["quiz", "--seed", str(seed), "--layers", str(layers), "-f", "markdown"]
    result = runner.invoke(cli, args + (["--fractions"] if fractions else []))
    assert result.exit_code == 0, result.output
    assert "## conv1" in result.stdout


def test_fractions_give_the_alexnet_kind_of_layer() -> None:
    kinds = {w.kind for seed in range(40) for w in analyze(load_spec(make_quiz(seed, fractions=True).network))
             .warnings}
    assert "fraction" in kinds


def save(runner: CliRunner, folder: Path, seed: int = 5, *options: str) -> str:
    args = ["quiz", "--seed", str(seed), *options, "-f", "markdown", "--save", str(folder)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_round_trip_through_check(runner: CliRunner, tmp_path: Path) -> None:
    save(runner, tmp_path)
    marked = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "key.yaml")])
    assert marked.exit_code == 0
    assert "score: 12/12 (100%)" in marked.stdout
    key = yaml.safe_load((tmp_path / "key.yaml").read_text())
    key["conv1"]["neurons"] += 1
    (tmp_path / "wrong.yaml").write_text(yaml.safe_dump(key))
    marked = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "wrong.yaml")])
    assert marked.exit_code == 1
    assert "score: 11/12 (92%)" in marked.stdout


def test_markdown_sheet_and_separate_key(runner: CliRunner, tmp_path: Path) -> None:
    key_file = tmp_path / "key.md"
    result = runner.invoke(cli, ["quiz", "--seed", "5", "-f", "markdown", "--key", str(key_file)])
    sheet, key = result.stdout, key_file.read_text()
    assert sheet.startswith("# Exercises (cnncalc quiz --seed 5 --layers 3)")
    assert "Answer key" not in sheet and "**" not in sheet  # no answers on the students' sheet
    made = make_quiz(5)
    for question in made.questions:
        assert f"{question.number}. {question.text}" in sheet
        assert f"{question.number}. {question.layer}, {question.worked.label}: **{question.answer:,}**" in key


def test_interactive_all_right(runner: CliRunner) -> None:
    made = make_quiz(9)
    answers = "".join(f"{q.answer:,}\n" for q in made.questions)  # with thousands separators
    result = runner.invoke(cli, ["quiz", "--seed", "9"], input=answers)
    assert result.exit_code == 0, result.output
    assert result.output.count("✓ right") == len(made.questions)
    assert f"score: {len(made.questions)}/{len(made.questions)}" in result.output


def test_interactive_wrong_answer_shows_the_working(runner: CliRunner) -> None:
    made = make_quiz(9)
    first = made.questions[0]
    answers = [str(first.answer + 1)] + [str(q.answer) for q in made.questions[1:]]
    result = runner.invoke(cli, ["quiz", "--seed", "9"], input="\n".join(answers) + "\n")
    assert result.exit_code == 1
    assert f"✗ {first.answer:,}: {first.worked.formula} = {first.worked.worked}" in result.output


def test_interactive_reasks_on_a_non_number_and_stops_cleanly(runner: CliRunner) -> None:
    made = make_quiz(9)
    result = runner.invoke(cli, ["quiz", "--seed", "9"], input=f"lots\n{made.questions[0].answer}\n")
    assert "answer with a whole number" in result.output
    assert "✓ right" in result.output
    assert f"score: 1/{len(made.questions)} (1 answered)" in result.output  # input ran out: no traceback
    assert result.exit_code == 1
    assert "Traceback" not in result.output


def test_the_sheet_gives_no_answer_away() -> None:
    # The lecture says "The previous layer is 55×55 with 96 channels", but on a printed sheet that
    # width is the answer to the question before: later layers name the layer they follow instead.
    for seed in range(40):
        made = make_quiz(seed, layers=6, fractions=seed % 2 == 1)
        layers = made.network["layers"]
        first, *later = layers
        assert made.sheet_descriptions[first["name"]] == made.descriptions[first["name"]]
        for before, layer, row in zip(layers, later, made.report.rows[1:], strict=False):
            text = made.sheet_descriptions[layer["name"]]
            assert f"to the output of {before['name']}" in text
            assert "previous layer" not in text
            # every number is one of the layer's own settings (or in a layer name): no earlier width
            stated = {layer.get(k) for k in ("out_channels", "kernel_size", "stride", "padding")}
            names = before["name"] + layer["name"]
            stated |= {row.input_shape[0], *(int(n) for n in re.findall(r"\d+", names))}
            assert {int(n) for n in re.findall(r"\d+", text)} <= stated, text
            # the interactive wording keeps the size: the student has answered it by then
            height = row.input_shape[1]
            assert f"The previous layer is {height}×{height}" in made.descriptions[layer["name"]]


def test_sheet_wording_of_a_later_layer(runner: CliRunner) -> None:
    sheet = runner.invoke(cli, ["quiz", "--seed", "10", "--layers", "5", "-f", "markdown"]).stdout
    assert "Max pooling pool1 is applied to the output of conv1 with width F = 2 and stride s = 2." in sheet
    assert ("The convolution layer conv2 applies 16 filters of 11×11 with stride 1 and no padding to the "
            "output of pool1 (L = 64, M = N = 11, P = 0, s = 1).") in sheet


def test_one_filter_is_singular() -> None:
    spec = load_spec({"input": [1, 28, 28], "layers": [
        {"type": "conv2d", "name": "c1", "out_channels": 1, "kernel_size": 5},
        {"type": "conv2d", "name": "c2", "out_channels": 6, "kernel_size": 5}]})
    rows = analyze(spec).rows
    one = describe(spec.layers[0], rows[0])
    assert "applies 1 filter of 5×5" in one and "with 1 channel." in one
    assert "applies 6 filters of 5×5" in describe(spec.layers[1], rows[1], after="c1")
    assert "24×24 with 1 channel." in describe(spec.layers[1], rows[1])


@pytest.mark.parametrize("options", [[], ["--layers", "5"], ["--layers", "6", "--fractions"]])
def test_the_printed_command_sets_the_same_quiz(runner: CliRunner, tmp_path: Path,
                                                options: list[str]) -> None:
    sheet = save(runner, tmp_path / "first", 21, *options)
    command = re.match(r"# Exercises \((cnncalc quiz [^)]*)\)", sheet)
    assert command, sheet
    words = shlex.split(command.group(1))
    assert words[:2] == ["cnncalc", "quiz"] and ("--fractions" in words) == ("--fractions" in options)
    assert f"# Answer key ({command.group(1)})" in sheet
    for name in ("quiz.yaml", "key.yaml"):
        assert (tmp_path / "first" / name).read_text().startswith(f"# {command.group(1)}\n")
    again = runner.invoke(cli, [*words[1:], "-f", "markdown", "--save", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert again.stdout == sheet
    for name in ("quiz.yaml", "key.yaml", "answers.yaml"):
        first, second = (tmp_path / "first" / name).read_text(), (tmp_path / "again" / name).read_text()
        assert second == first.replace(str(tmp_path / "first"), str(tmp_path / "again"))
    interactive = runner.invoke(cli, words[1:], input="")
    assert interactive.output.startswith(f"{command.group(1)}: answer each question")


def filled(template: str, key: dict) -> str:
    """The blank answers file filled in with the key's answers, as a student would."""
    layer, lines = None, []
    for line in template.splitlines():
        if re.match(r"\w+:$", line):
            layer = line[:-1]
        elif metric := re.match(r"  (\w+):  #", line):
            assert layer is not None
            line = line.replace(":  #", f": {key[layer][metric.group(1)]:,}  #", 1)
        lines.append(line)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("folder", ["q3", "my class/q 3", ".", "../elsewhere/q3", "{tmp}/outside"])
def test_the_check_command_works_where_the_quiz_was_run(runner: CliRunner, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """The command written into answers.yaml and printed on standard error, pasted in the
    directory quiz ran in, marks the filled-in answers.yaml (a folder with a space is quoted)."""
    here = tmp_path / "run here"
    here.mkdir()
    monkeypatch.chdir(here)
    folder = folder.format(tmp=tmp_path)
    result = runner.invoke(cli, ["quiz", "--seed", "3", "-f", "markdown", "--save", folder])
    assert result.exit_code == 0, result.output
    saved = here / folder
    template = (saved / "answers.yaml").read_text()
    [command] = [line.removeprefix("#   ") for line in template.splitlines() if "cnncalc check" in line]
    assert result.stderr.rstrip().endswith(command)
    words = shlex.split(command)
    assert words[:2] == ["cnncalc", "check"]
    # Relative to where quiz ran when the folder is inside it, absolute otherwise.
    assert all(Path(word).is_absolute() == folder.startswith(("..", str(tmp_path))) for word in words[2:])
    (saved / "answers.yaml").write_text(filled(template, yaml.safe_load((saved / "key.yaml").read_text())))
    marked = runner.invoke(cli, words[1:])
    assert marked.exit_code == 0, marked.output
    assert "(100%)" in marked.stdout


def test_blank_answers_template(runner: CliRunner, tmp_path: Path) -> None:
    save(runner, tmp_path, 7, "--layers", "4")
    template = (tmp_path / "answers.yaml").read_text()
    assert template.startswith("# Your answers to cnncalc quiz --seed 7 --layers 4.")
    quiz_file, answers_file = (shlex.quote(str(tmp_path / name)) for name in ("quiz.yaml", "answers.yaml"))
    assert f"cnncalc check {quiz_file} {answers_file}" in template  # outside the current directory
    key = yaml.safe_load((tmp_path / "key.yaml").read_text())
    blank = yaml.safe_load(template)
    assert blank == {"student": None,  # every value null
                     **{layer: dict.fromkeys(asked) for layer, asked in key.items()}}
    # An unfilled answer is unanswered: wrong, shown blank, numbered as on the sheet; not bad input.
    unfilled = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "answers.yaml"),
                                   "-f", "json"])
    assert unfilled.exit_code == 1
    marks = json.loads(unfilled.stdout)["marks"]
    assert [m["status"] for m in marks] == ["blank"] * len(marks)
    assert [m["number"] for m in marks] == list(range(1, len(marks) + 1))
    # Filled in as a student would (after the colon, keeping the comments), it scores 100%.
    (tmp_path / "filled.yaml").write_text(filled(template, key))
    marked = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "filled.yaml")])
    assert marked.exit_code == 0, marked.output
    total = sum(len(asked) for asked in key.values())
    assert f"score: {total}/{total} (100%)" in marked.stdout


def test_key_goes_with_markdown(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(cli, ["quiz", "--seed", "5", "--key", str(tmp_path / "key.md")])
    assert result.exit_code == 2
    assert "--key goes with --format markdown" in result.output
    assert not (tmp_path / "key.md").exists()


def test_unwritable_key_is_a_message_not_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "missing" / "k.md"
    result = runner.invoke(cli, ["quiz", "--seed", "5", "-f", "markdown", "--key", str(path)])
    assert result.exit_code == 2
    assert f"cannot write {path}: No such file or directory" in result.stderr
    assert result.stdout == "" and "Traceback" not in result.output


def test_unwritable_save_folder_is_a_message_not_a_traceback(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("in the way")
    folder = tmp_path / "file" / "quiz"
    result = runner.invoke(cli, ["quiz", "--seed", "5", "-f", "markdown", "--save", str(folder)])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"cannot write {folder}: ")
    assert result.stdout == "" and "Traceback" not in result.output


# --- networks that branch -----------------------------------------------------------------

def _arithmetic(worked: str) -> tuple[int, int]:
    """``2 × 3×3×16×16 + 2 × 2×16 = 4,672`` → (the left side evaluated, the claimed result)."""
    left, claimed = worked.rsplit(" = ", 1)
    assert re.fullmatch(r"[\d ×+]+", left), left  # only numbers, products and sums: safe to evaluate
    value = sum(math.prod(int(f) for f in term.split("×")) for term in left.replace(" ", "").split("+"))
    return value, int(claimed.replace(",", ""))


@pytest.mark.parametrize("seed", range(60))
def test_branching_round_trip_scores_100_percent_for_every_kind(seed: int) -> None:
    made = make_branching_quiz(seed)
    assert [(q.layer, q.metric) for q in made.questions] == [(t, m) for t, m, _ in BRANCHING_QUESTIONS]
    report = analyze(load_spec(made.network))  # the network as saved, loaded again
    marking = Marker(report).mark(made.answers())
    assert marking.total == len(BRANCHING_QUESTIONS) and marking.all_right
    for question in made.questions:
        evaluated, claimed = _arithmetic(question.worked.worked)
        assert evaluated == claimed == question.answer, (seed, question.layer)
    # The answers by hand, from the network's numbers.
    width, wider = made.network["input"][0], made.network["layers"][1]["c"]
    reduction = made.network["layers"][2]["r"]
    inception, dense = made.network["layers"][3], made.network["layers"][4]
    answers = {q.layer: q.answer for q in made.questions}
    assert answers["res1"] == 2 * 9 * width * width + 2 * 2 * width
    assert answers["res2"] == 9 * width * wider + 9 * wider * wider + width * wider + 3 * 2 * wider
    assert answers["se"] == 2 * wider * (wider // reduction) + wider // reduction + wider
    assert answers["inception"] == sum(inception[c] for c in ("c1", "c3", "c5", "cp"))
    assert answers["dense"] == wider + dense["repeat"] * dense["k"]
    # One wrong answer of each kind is marked wrong, with the analysis's working.
    for question in made.questions:
        wrong = {question.layer: {question.metric: question.answer + 1}}
        (mark,) = Marker(report).mark(wrong).marks
        assert not mark.right and mark.expected == question.answer and mark.worked is not None


def test_branching_quiz_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    sheet = save(runner, tmp_path, 8, "--branching")
    assert sheet.startswith("# Exercises (cnncalc quiz --seed 8 --branching)")
    made = make_branching_quiz(8)
    for question in made.questions:
        assert f"{question.number}. {question.text}" in sheet
    marked = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "key.yaml")])
    assert marked.exit_code == 0, marked.output
    assert "score: 5/5 (100%)" in marked.stdout
    template = (tmp_path / "answers.yaml").read_text()
    answers = {q.layer: q.answer for q in made.questions}
    answers["se"] += 1  # one wrong, and the dense block left blank
    lines, layer = [], ""
    for line in template.splitlines(keepends=True):
        if not line.startswith((" ", "#")):
            layer = line.split(":")[0]
        elif line.startswith("  ") and layer != "dense":
            line = line.replace(":  #", f": {answers[layer]}  #", 1)
        lines.append(line)
    filled = "".join(lines)
    (tmp_path / "filled.yaml").write_text(filled)
    result = runner.invoke(cli, ["check", str(tmp_path / "quiz.yaml"), str(tmp_path / "filled.yaml"),
                                 "-f", "json"])
    assert result.exit_code == 1, result.output
    marks = {m["number"]: m for m in json.loads(result.stdout)["marks"]}
    assert [marks[n]["status"] for n in range(1, 6)] == ["right", "right", "wrong", "right", "blank"]
    interactive = runner.invoke(cli, ["quiz", "--seed", "8", "--branching"],
                                input="".join(f"{q.answer}\n" for q in made.questions))
    assert interactive.exit_code == 0 and "score: 5/5" in interactive.output
    refused = runner.invoke(cli, ["quiz", "--branching", "--layers", "4"])
    assert refused.exit_code == 2 and "--branching" in refused.output
