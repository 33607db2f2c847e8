"""``cnncalc quiz``: fresh exercises, asked at the prompt or printed for a class."""

from __future__ import annotations

import random
from pathlib import Path

import click

from cnncalc.exercises import parse_answer
from cnncalc.quiz import Question, Quiz, make_quiz

__all__ = ["quiz"]


@click.command()
@click.option("--seed", type=click.IntRange(0), default=None,
              help="Seed: the same seed gives the same quiz [default: a random one, shown].")
@click.option("--layers", type=click.IntRange(1, 8), default=3, show_default=True,
              help="How many layers (convolution, pooling, convolution, …).")
@click.option("--fractions", is_flag=True,
              help="Allow layers where (J + 2P − M)/s is not whole, like AlexNet's first.")
@click.option("-f", "--format", "fmt", type=click.Choice(("interactive", "markdown")), default="interactive",
              show_default=True, help="Ask at the prompt, or print a question sheet and answer key.")
@click.option("--key", "key_path", type=click.Path(dir_okay=False, writable=True), default=None,
              help="With --format markdown: write the answer key to this file instead of after the sheet.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False), default=None,
              help="Also write quiz.yaml (the network) and key.yaml (the answers) here, for cnncalc check.")
@click.pass_context
def quiz(ctx: click.Context, seed: int | None, layers: int, fractions: bool, fmt: str, key_path: str | None,
         save_dir: str | None) -> None:
    """Exercises in the lecture's format: a small network, and for each layer the width of the
    next layer, weights per neuron, neurons, connections and independent parameters.

    Interactive by default: each answer is marked at once and the worked solution shown; exit
    status 0 when all are right, 1 otherwise. `--format markdown` prints a question sheet and a
    separate answer key for instructors; `--save DIR` writes the network and key so that
    `cnncalc check DIR/quiz.yaml DIR/key.yaml` marks a student's copy.
    """
    made = make_quiz(seed if seed is not None else random.SystemRandom().randrange(10**6), layers, fractions)
    if save_dir is not None:
        _save(made, Path(save_dir))
    if fmt == "markdown":
        sheet, key = _sheet(made), _key(made)
        if key_path is not None:
            Path(key_path).write_text(key, encoding="utf-8")
            click.echo(sheet, nl=False)
        else:
            click.echo(sheet + "\n---\n\n" + key, nl=False)
        return
    ctx.exit(0 if _ask(made) else 1)


def _save(made: Quiz, folder: Path) -> None:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    header = f"# cnncalc quiz --seed {made.seed} --layers {len(made.spec.layers)}\n"
    (folder / "quiz.yaml").write_text(header + yaml.safe_dump(made.network, sort_keys=False,
                                                              allow_unicode=True), encoding="utf-8")
    (folder / "key.yaml").write_text(header + yaml.safe_dump(made.answers(), sort_keys=False),
                                     encoding="utf-8")


def _sheet(made: Quiz) -> str:
    out = [f"# Exercises (cnncalc quiz --seed {made.seed})"]
    layer = None
    for question in made.questions:
        if question.layer != layer:
            layer = question.layer
            out += ["", f"## {layer}", "", made.descriptions[layer], ""]
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
    out = [f"# Answer key (cnncalc quiz --seed {made.seed})", ""]
    out += [f"{q.number}. {q.layer}, {q.worked.label}: **{q.answer:,}** — {_solution(q)}"
            for q in made.questions]
    return "\n".join(out) + "\n"


def _ask(made: Quiz) -> bool:
    """Ask every question at the prompt; mark it; show the working. True when all are right."""
    click.echo(f"cnncalc quiz --seed {made.seed}: answer each question (numbers like 357,504 are fine; "
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
