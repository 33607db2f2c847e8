"""cnncalc quiz: reproducible, sensible, marked by check, and driven through its prompt."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.quiz import make_quiz


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_same_seed_same_quiz() -> None:
    first, again = make_quiz(42), make_quiz(42)
    assert first.network == again.network
    assert [(q.layer, q.metric, q.answer) for q in first.questions] == \
        [(q.layer, q.metric, q.answer) for q in again.questions]
    assert make_quiz(43).network != first.network


@pytest.mark.parametrize("seed", range(60))
def test_exercises_are_sensible(seed: int) -> None:
    made = make_quiz(seed, layers=4)
    report = analyze(load_spec(made.network))
    assert report.warnings == [], [w.message for w in report.warnings]  # whole sizes, no skipped rows
    for layer in made.network["layers"]:
        if layer["type"] == "conv2d":
            assert layer["stride"] <= layer["kernel_size"]
            assert layer["padding"] <= layer["kernel_size"] // 2
    assert all(row.output_shape[1] >= 2 for row in report.rows[:-1])


def test_fractions_give_the_alexnet_kind_of_layer() -> None:
    kinds = {w.kind for seed in range(40) for w in analyze(load_spec(make_quiz(seed, fractions=True).network))
             .warnings}
    assert "fraction" in kinds


def save(runner: CliRunner, folder: Path, seed: int = 5) -> None:
    result = runner.invoke(cli, ["quiz", "--seed", str(seed), "-f", "markdown", "--save", str(folder)])
    assert result.exit_code == 0, result.output


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
    assert sheet.startswith("# Exercises (cnncalc quiz --seed 5)")
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
