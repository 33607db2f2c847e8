"""``cnncalc quiz``: fresh exercises, asked at the prompt or printed for a class."""

from __future__ import annotations

import os
import random
import shlex
from pathlib import Path

import click

from cnncalc.errors import CnncalcError
from cnncalc.lecture.check import parse_answer
from cnncalc.lecture.quiz import Question, Quiz, make_branching_quiz, make_quiz

__all__ = ["quiz"]


@click.command()
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed: the same seed gives the same quiz [default: a random one, shown].")
@click.option("--layers", type=click.IntRange(1, 8), default=3, show_default=True,
              help="How many layers (convolution, pooling, convolution, …).")
@click.option("--fractions", is_flag=True,
              help="Allow layers where (J + 2P − M)/s is not whole, like AlexNet's first.")
@click.option("--branching", is_flag=True,
              help="A network that branches instead: residual blocks with and without a projection, a "
                   "squeeze-and-excitation gate, an Inception module and a DenseNet block.")
@click.option("-f", "--format", "fmt", type=click.Choice(("interactive", "markdown")), default="interactive",
              show_default=True, help="Ask at the prompt, or print a question sheet and answer key.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="With --format markdown: write the answer key to this file instead of after the sheet.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False), default=None,
              help="Also write quiz.yaml (the network), key.yaml (the answers) and answers.yaml (a blank "
                   "answers file for a student) here, for cnncalc check.")
@click.pass_context
def quiz(ctx: click.Context, seed: int | None, layers: int, fractions: bool, branching: bool, fmt: str,
         key_path: str | None, save_dir: str | None) -> None:
    """Exercises in the lecture's format: a small network, and for each layer the width of the
    next layer, weights per neuron, neurons, connections and independent parameters.

    With --branching, a network that branches: the parameters of a residual block with an
    identity shortcut and of one with a projection, of a squeeze-and-excitation gate, and the
    channels leaving an Inception module and a DenseNet block.

    Interactive by default: each answer is marked at once and the worked solution shown; exit
    status 0 when all are right, 1 otherwise. `--format markdown` prints a question sheet and a
    separate answer key for instructors; `--save DIR` writes the network, the key and a blank
    answers file, and prints the `cnncalc check DIR/quiz.yaml DIR/answers.yaml` that marks it.
    """
    if key_path is not None and fmt != "markdown":
        raise click.UsageError("--key goes with --format markdown (it writes the answer key of the "
                               "printed sheet)")
    if branching and (fractions or ctx.get_parameter_source("layers") != click.core.ParameterSource.DEFAULT):
        raise click.UsageError("--branching sets its own network: it goes without --layers and --fractions")
    drawn = seed if seed is not None else random.SystemRandom().randrange(10**6)
    made = make_branching_quiz(drawn) if branching else make_quiz(drawn, layers, fractions)
    if save_dir is not None:
        folder = Path(save_dir)
        _save(made, folder)
        click.echo(f"wrote quiz.yaml, key.yaml and answers.yaml in {_pasteable(folder)}; mark a "
                   f"student's answers.yaml with: {_check_command(folder)}", err=True)
    if fmt == "markdown":
        sheet, key = _sheet(made), _key(made)
        if key_path is not None:
            _write(Path(key_path), key)
            click.echo(sheet, nl=False)
        else:
            click.echo(sheet + "\n---\n\n" + key, nl=False)
        return
    ctx.exit(0 if _ask(made) else 1)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        raise CnncalcError(f"cannot write {path}: {err.strerror or err}") from None


def _save(made: Quiz, folder: Path) -> None:
    import yaml

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CnncalcError(f"cannot write {folder}: {err.strerror or err}") from None
    header = f"# {made.command}\n"
    _write(folder / "quiz.yaml", header + yaml.safe_dump(made.network, sort_keys=False, allow_unicode=True))
    _write(folder / "key.yaml", header + yaml.safe_dump(made.answers(), sort_keys=False))
    _write(folder / "answers.yaml", _blank_answers(made, folder))


def _pasteable(path: Path) -> str:
    """``path`` as a shell command typed here can use it: relative to the current directory when
    it lies inside, absolute otherwise; quoted where the shell would split or expand it."""
    absolute = Path(os.path.abspath(path))
    try:
        shown = absolute.relative_to(Path.cwd())
    except ValueError:
        shown = absolute
    return shlex.quote(str(shown))


def _check_command(folder: Path) -> str:
    """The command that marks the saved answers file, to paste where the quiz was made."""
    return f"cnncalc check {_pasteable(folder / 'quiz.yaml')} {_pasteable(folder / 'answers.yaml')}"


def _blank_answers(made: Quiz, folder: Path) -> str:
    """An answers file with every question of the key and no values (YAML null), for a student."""
    out = [f"# Your answers to {made.command}.",
           "# Fill in every answer with a whole number (357,504 is fine); one left empty counts as",
           "# unanswered. Keep each \"# N.\" comment: it is the question's number on the sheet and in",
           "# the marks. Write your name after student:. Then mark them all, from where the quiz was made:",
           f"#   {_check_command(folder)}",
           "student:"]
    layer = None
    for question in made.questions:
        if question.layer != layer:
            layer = question.layer
            out.append(f"{layer}:")
        out.append(f"  {question.metric}:  # {question.number}. {question.text}")
    return "\n".join(out) + "\n"


def _sheet(made: Quiz) -> str:
    out = [f"# Exercises ({made.command})"]
    layer = None
    for question in made.questions:
        if question.layer != layer:
            layer = question.layer
            out += ["", f"## {layer}", "", made.sheet_descriptions[layer], ""]
        out.append(f"{question.number}. {question.text}")
    return "\n".join(out) + "\n"


def _solution(question: Question) -> str:
    worked = question.worked
    if worked.formula and worked.formula not in ("0", worked.worked):
        text = f"{worked.formula} = {worked.worked}"
    else:
        text = worked.worked
    return text + (f" ({worked.note})" if worked.note else "")


def _key(made: Quiz) -> str:
    out = [f"# Answer key ({made.command})", ""]
    out += [f"{q.number}. {q.layer}, {q.worked.label}: **{q.answer:,}** — {_solution(q)}"
            for q in made.questions]
    return "\n".join(out) + "\n"


def _ask(made: Quiz) -> bool:
    """Ask every question at the prompt; mark it; show the working. True when all are right."""
    click.echo(f"{made.command}: answer each question (numbers like 357,504 are fine; "
               "Ctrl-D stops).")
    right = asked = 0
    layer = None
    try:
        for question in made.questions:
            if question.layer != layer:
                layer = question.layer
                click.echo(f"\n{made.descriptions[layer]}")
            given = click.prompt(f"{question.number}. {question.text}", value_proc=_number,
                                 prompt_suffix=" ")
            asked += 1
            if given == question.answer:
                right += 1
                click.secho("   ✓ right", fg="green")
            else:
                click.secho(f"   ✗ {question.answer:,}: {_solution(question)}", fg="red")
    except (click.Abort, EOFError):
        click.echo()
    total = len(made.questions)
    click.echo(f"\nscore: {right}/{total}" + (f" ({asked} answered)" if asked < total else ""))
    return right == total


def _number(text: str) -> int:
    try:
        value: int = parse_answer("neurons", text)
    except ValueError:
        raise click.UsageError("answer with a whole number, e.g. 4704 or 4,704") from None
    return value
