"""Marking a class (issue 11, "Speed"): 200 submissions of a 12-question sheet in under 2 s.

A quiz is set with ``cnncalc quiz --seed 3 --layers 3 --save DIR`` (convolution, pooling,
convolution: 5 + 2 + 5 = 12 questions), and a folder of submissions is written from its blank
answers file, as students fill it in: a quarter right, a quarter with wrong answers, a quarter
with blanks, a quarter with a malformed answer, and (where asked, ``--unreadable``) a few that are
not YAML. Then ``cnncalc check DIR/quiz.yaml FOLDER`` is timed end to end, as fresh processes,
interleaved, medians, in each ``--format``; also one file alone (the start-up cost every run
pays) and 1,000 submissions (the cost per file, which should stay flat). Before timing, the
gradebook is checked: one row per file, 12 columns, and each score as generated.

    python benchmarks/marking.py [--repeat 7] [--sizes 1 200 1000] [--formats table csv json markdown]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import CHILD_ENV, ROOT, bytecode_note, interleaved, machine, median, ms, parse, table

TARGET_SECONDS, TARGET_FILES = 2.0, 200
KINDS = ("right", "wrong", "blank", "malformed")


def write_class(folder: Path, template: str, key: dict[str, dict[str, int]], count: int,
                unreadable: int) -> dict[str, int | None]:
    """``count`` submissions filled in from the template; returns each one's expected score."""
    folder.mkdir(parents=True)
    expected: dict[str, int | None] = {}
    for position in range(count):
        name = f"s{position:04}.yaml"
        if position < unreadable:
            (folder / name).write_text("conv1: [\n")
            expected[name] = None
            continue
        kind = KINDS[position % len(KINDS)]
        lines, layer, number, right = [], "", 0, 0
        for line in template.splitlines():
            if line.startswith("student:"):
                line = f"student: student {position:04}"
            elif not line.startswith((" ", "#")):
                layer = line.rstrip(":")
            elif line.startswith("  "):
                metric = line.split(":")[0].strip()
                value: object = key[layer][metric]
                number += 1
                if kind == "wrong" and number % 3 == 0:
                    value = int(value) + 1  # type: ignore[call-overload]
                elif kind == "blank" and number % 4 == 0:
                    value = ""
                elif kind == "malformed" and number == 5:
                    value = "'about 5k'"
                else:
                    right += 1
                line = line.replace(":  #", f": {value}  #", 1)
            lines.append(line)
        (folder / name).write_text("\n".join(lines) + "\n")
        expected[f"student {position:04}"] = right
    return expected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7, help="timed rounds [7]")
    parser.add_argument("--warmup", type=int, default=1, help="discarded rounds [1]")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 200, 1000],
                        help="class sizes to time [1 200 1000]")
    parser.add_argument("--formats", nargs="+", default=["table", "csv", "json", "markdown"],
                        choices=["table", "csv", "json", "markdown"], help="formats timed at 200 files")
    parser.add_argument("--unreadable", type=int, default=0, help="files per class that are not YAML [0]")
    args = parse(parser)
    cnncalc = [sys.executable, "-m", "cnncalc"]
    with tempfile.TemporaryDirectory(prefix="cnncalc-marking-") as tmp:
        base = Path(tmp)
        subprocess.run([*cnncalc, "quiz", "--seed", "3", "--layers", "3", "-f", "markdown", "--save",
                        str(base / "quiz")], cwd=ROOT, env=CHILD_ENV, check=True, capture_output=True)
        import yaml

        key = yaml.safe_load((base / "quiz" / "key.yaml").read_text())
        template = (base / "quiz" / "answers.yaml").read_text()
        questions = sum(len(asked) for asked in key.values())
        assert questions == 12, questions
        spec = str(base / "quiz" / "quiz.yaml")
        commands: dict[str, list[str]] = {}
        for size in args.sizes:
            folder = base / f"class{size}"
            expected = write_class(folder, template, key, size, min(args.unreadable, size - 1))
            target = str(folder / "s0000.yaml") if size == 1 else str(folder)
            done = subprocess.run([*cnncalc, "check", spec, str(folder), "-f", "json"], cwd=ROOT,
                                  env=CHILD_ENV, capture_output=True, text=True, check=False)
            doc = json.loads(done.stdout)
            got = {(s["student"] if s["right"] is not None else Path(s["file"]).name): s["right"]
                   for s in doc["submissions"]}
            assert got == expected, "the gradebook's scores differ from those generated"
            assert len(doc["questions"]) == questions
            formats = args.formats if size == TARGET_FILES else ["csv"]
            for fmt in formats:
                commands[f"{size} file{'s' if size > 1 else ''}, --format {fmt}"] = [
                    *cnncalc, "check", spec, target, "-f", fmt]
        print(f"timing {len(commands)} commands × {args.repeat} rounds", file=sys.stderr)
        times = interleaved(commands, args.repeat, args.warmup, allowed=(0, 1, 2))
    rows = []
    for name, values in times.items():
        files = int(name.split()[0])
        met = ""
        if files == TARGET_FILES:
            met = "met" if median(values) < TARGET_SECONDS else "NOT met"
        rows.append([name, ms(median(values)), ms(min(values)), met])
    print(f"# Marking a class: {questions}-question sheet, medians of {args.repeat} fresh processes\n")
    print(table(["cnncalc check SPEC …", "median ms", "min ms", f"< {TARGET_SECONDS:g} s at {TARGET_FILES}"],
                rows))
    per_file = [(int(n.split()[0]), median(v)) for n, v in times.items() if "csv" in n]
    if len(per_file) >= 2:
        (small, t_small), (large, t_large) = min(per_file), max(per_file)
        print(f"\nper file (csv, {small} → {large} files): {ms((t_large - t_small) / (large - small))} ms")
    print(f"\n{machine()}\n\n{bytecode_note()}")


if __name__ == "__main__":
    main()
