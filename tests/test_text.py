"""User text is shown as written in every format and command; counts agree with their nouns.

A hostile name (rich markup, an emoji code, a newline, a terminal escape, Markdown, CSV quoting)
is used as a spec's name and description and as layer names, and every command that echoes
names is run on it: nothing crashes, nothing is styled, linked or substituted, no line or table
row is forged, JSON and CSV give back the true name, Markdown renders to the name as written.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from markdown_it import MarkdownIt
from rich.console import Console

from cnncalc import analyze, load_spec
from cnncalc.cli import cli
from cnncalc.text import markdown, markdown_code, plural, printable

HOSTILE = [
    "[/]", "[bold red]x", "[link=http://a]y[/link]", ":smile:", "a\nb", "x\r\ny", "a|b", "a`b", "``",
    "a\\b", 'a,"b', "x\x1b[31mred", "*em* _u_ <b>i</b>", "- [x](http://a)", "1. item", "# h", "&amp; $m$",
    "  lead", "\u202eevil\ttab",
]
PLAIN = "plain"


def _spec(name: str) -> dict[str, Any]:
    """The name as the spec's name, description, and three layer names. The first layer's window
    leaves a fraction (a warning on it); the second collapses the map to 1×1 while the third, a
    pool, still follows (a warning whose message names it)."""
    return {"name": name, "description": name, "input": [1, 5, 5], "layers": [
        {"type": "conv2d", "name": name, "out_channels": 2, "kernel_size": 2, "stride": 2},
        {"type": "conv2d", "name": "c2", "out_channels": 2, "kernel_size": 2},
        {"type": "maxpool2d", "name": name + "·p", "kernel_size": 1},
        {"type": "flatten", "name": "flat " + name},
        {"type": "linear", "name": "out", "out_features": 3}]}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for variable in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(variable, raising=False)
    return CliRunner()


def _write(tmp_path: Path, name: str, data: Any, file: str = "spec.yaml") -> str:
    path = tmp_path / file
    path.write_text(json.dumps(data), encoding="utf-8")  # JSON is YAML; every character escaped
    return str(path)


def _run(runner: CliRunner, args: list[str], exit_code: int = 0) -> Result:
    result = runner.invoke(cli, args)
    assert result.exit_code == exit_code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    return result


def _stdout(result: Result) -> str:
    # Result.stdout turns \r\n into \n; the test needs what was written.
    return result.stdout_bytes.decode("utf-8")


def _names(name: str) -> list[str]:
    return [name, name + "·p", "flat " + name]


def _human(text: str, name: str, plain_text: str) -> None:
    """Text for a reader: every name as :func:`printable` writes it, no terminal escape, and as
    many lines as the same output for a plain name (nothing forged)."""
    for each in _names(name):
        assert printable(each) in text, each
    assert "\x1b" not in text and "\r" not in text
    assert len(text.splitlines()) == len(plain_text.splitlines())


def _plain(runner: CliRunner, tmp_path: Path, args: list[str], exit_code: int = 0) -> str:
    spec = _write(tmp_path, PLAIN, _spec(PLAIN), "plain.yaml")
    return _stdout(_run(runner, [args[0], spec, *args[1:]], exit_code))


# --- analyze --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_analyze_table(runner: CliRunner, tmp_path: Path, name: str) -> None:
    args = ["analyze", "--width", "400"]
    text = _stdout(_run(runner, [args[0], _write(tmp_path, name, _spec(name)), *args[1:]]))
    _human(text, name, _plain(runner, tmp_path, args))
    assert printable(f"{name} — {name}") in text  # the title
    assert f"warning: {printable(name)} (#1): " in text


@pytest.mark.parametrize("name", HOSTILE)
def test_analyze_json_keeps_the_true_name(runner: CliRunner, tmp_path: Path, name: str) -> None:
    doc = json.loads(_stdout(_run(runner, ["analyze", _write(tmp_path, name, _spec(name)), "-f", "json"])))
    assert (doc["name"], doc["description"]) == (name, name)
    assert [layer["name"] for layer in doc["layers"]] == [name, "c2", name + "·p", "flat " + name, "out"]
    assert doc["warnings"][0]["layer"] == name


@pytest.mark.parametrize("name", HOSTILE)
def test_analyze_csv_parses_back_and_warns_on_stderr(runner: CliRunner, tmp_path: Path, name: str) -> None:
    spec = _write(tmp_path, name, _spec(name))
    result = _run(runner, ["analyze", spec, "-f", "csv"])
    rows = list(csv.reader(io.StringIO(_stdout(result), newline="")))
    assert all(len(row) == len(rows[0]) for row in rows)
    assert [row[1] for row in rows[1:-1]] == [name, "c2", name + "·p", "flat " + name, "out"]
    # CSV has no place for warnings: each is one line on standard error, naming its layer.
    warnings = json.loads(_stdout(_run(runner, ["analyze", spec, "-f", "json"])))["warnings"]
    lines = result.stderr_bytes.decode("utf-8").splitlines()
    assert len(lines) == len(warnings) == 2
    assert lines[0].startswith(f"warning: {printable(name)} (#1): (5 − 2)/2 = 1.5 is not whole")
    assert lines[1].startswith("warning: c2 (#2): the feature map collapses")
    assert printable(name + "·p") in lines[1]


def _inline_text(token: Any) -> tuple[str, set[str]]:
    """The text an inline token renders to, and the kinds of its parts (emphasis, links, HTML...)."""
    parts = {"softbreak": "\n", "hardbreak": "\n"}
    text = "".join(parts.get(child.type, child.content) for child in token.children)
    return text, {child.type for child in token.children}


def _markdown_tokens(text: str) -> list[Any]:
    return MarkdownIt("commonmark").enable("table").parse(text)


@pytest.mark.parametrize("name", HOSTILE)
def test_analyze_markdown_renders_the_name_as_written(runner: CliRunner, tmp_path: Path, name: str) -> None:
    text = _stdout(_run(runner, ["analyze", _write(tmp_path, name, _spec(name)), "-f", "markdown"]))
    tokens = _markdown_tokens(text)
    inline = [t for t in tokens if t.type == "inline"]
    heading, description = inline[0], inline[1]
    assert tokens[0].tag == "h2" and _inline_text(heading) == (printable(name), {"text"})
    assert _inline_text(description) == (printable(name), {"text"})
    # Every row has the header's 12 cells, and the layer column reads as the name, unstyled.
    rows: list[list[Any]] = []
    in_table = False
    for token in tokens:
        in_table = token.type == "table_open" or (in_table and token.type != "table_close")
        if in_table and token.type == "tr_open":
            rows.append([])
        elif in_table and token.type == "inline":
            rows[-1].append(token)
    assert len(rows) == 1 + 5 + 1 and all(len(row) == 12 for row in rows)
    layers = [name, "c2", name + "·p", "flat " + name, "out"]
    assert [_inline_text(row[1]) for row in rows[1:6]] == [(printable(n), {"text"}) for n in layers]
    # The warnings list: each layer as code, the collapse warning's message naming the pool.
    items = [t for t in inline if t.children and t.children[0].type == "code_inline"]
    assert [t.children[0].content for t in items] == [printable(name), "c2"]
    assert printable(name + "·p") in _inline_text(items[1])[0]
    assert "\x1b" not in text and "\r" not in text


def test_a_report_prints_literally_in_any_rich_console() -> None:
    """Library users print a Report in their own console, markup and emoji on."""
    for name in HOSTILE:
        console = Console(file=io.StringIO(), width=400, color_system=None)
        console.print(analyze(load_spec(_spec(name))))
        text = console.file.getvalue()  # type: ignore[attr-defined]
        assert all(printable(each) in text for each in _names(name)), name


# --- explain, check, export -------------------------------------------------------------------

@pytest.mark.parametrize("name", HOSTILE)
def test_explain(runner: CliRunner, tmp_path: Path, name: str) -> None:
    spec = _write(tmp_path, name, _spec(name))
    text = _stdout(_run(runner, ["explain", spec]))
    _human(text, name, _plain(runner, tmp_path, ["explain"]))
    doc = json.loads(_stdout(_run(runner, ["explain", spec, "-f", "json"])))
    assert [layer["name"] for layer in doc][:4] == [name, "c2", name + "·p", "flat " + name]
    tokens = _markdown_tokens(_stdout(_run(runner, ["explain", spec, "-f", "markdown"])))
    headings = [_inline_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"]
    assert headings[0][0].startswith(f"{printable(name)} (#1): conv2d") and headings[0][1] == {"text"}
    assert headings[2][0].startswith(f"{printable(name + '·p')} (#3): maxpool2d")
    # One layer by its name, as written on the command line.
    assert printable(name) in _stdout(_run(runner, ["explain", spec, "--", name]))


@pytest.mark.parametrize("name", HOSTILE)
def test_check(runner: CliRunner, tmp_path: Path, name: str) -> None:
    spec = _write(tmp_path, name, _spec(name))
    answers = _write(tmp_path, name, {name: {"neurons": 8}, name + "·p": {"neurons": 1}}, "answers.yaml")
    plain = _write(tmp_path, PLAIN, {PLAIN: {"neurons": 8}, PLAIN + "·p": {"neurons": 1}}, "plain-a.yaml")
    text = _stdout(_run(runner, ["check", spec, answers], exit_code=1))  # the pool has 2 neurons
    plain_text = _stdout(_run(runner, ["check", _write(tmp_path, PLAIN, _spec(PLAIN), "plain.yaml"), plain],
                              exit_code=1))
    for each in (name, name + "·p"):
        assert printable(each) in text
    assert "\x1b" not in text and len(text.splitlines()) == len(plain_text.splitlines())
    doc = json.loads(_stdout(_run(runner, ["check", spec, answers, "-f", "json"], exit_code=1)))
    assert [mark["layer"] for mark in doc["marks"]] == [name, name + "·p"]


@pytest.mark.parametrize("name", HOSTILE)
def test_error_messages_stay_one_line(runner: CliRunner, tmp_path: Path, name: str) -> None:
    """A name in an error (a bad layer, an unknown answers key) cannot forge lines or escapes."""
    bad = _spec(name)
    bad["layers"][0]["kernel_size"] = 0
    result = _run(runner, ["analyze", _write(tmp_path, name, bad)], exit_code=2)
    message = result.stderr_bytes.decode("utf-8")
    assert message.count("\n") == 1 and "\x1b" not in message and "\r" not in message
    assert f"layer {printable(name)} (#1): " in message
    spec = _write(tmp_path, name, _spec(name))
    answers = _write(tmp_path, name, {name + "?": {"neurons": 8}}, "answers.yaml")
    message = _run(runner, ["check", spec, answers], exit_code=2).stderr_bytes.decode("utf-8")
    assert message.count("\n") == 1 and "\x1b" not in message and "\r" not in message
    assert printable(name) in message


@pytest.mark.torch
@pytest.mark.parametrize("name", HOSTILE)
def test_export_writes_the_name_into_valid_code(runner: CliRunner, tmp_path: Path, name: str) -> None:
    pytest.importorskip("torch")
    code = _stdout(_run(runner, ["export", _write(tmp_path, name, _spec(name))]))
    strings = [node.value for node in ast.walk(ast.parse(code))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert any(name in s for s in strings)  # the docstrings name the network


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("name", HOSTILE)
def test_verify(runner: CliRunner, tmp_path: Path, name: str) -> None:
    pytest.importorskip("torch")
    quick = ["--device", "cpu", "--batch", "1", "--runs", "1", "--warmup", "0"]
    spec = _write(tmp_path, name, _spec(name))
    text = _stdout(_run(runner, ["verify", spec, *quick]))
    plain = _stdout(_run(runner, ["verify", _write(tmp_path, PLAIN, _spec(PLAIN), "plain.yaml"), *quick]))
    _human(text, name, plain)
    doc = json.loads(_stdout(_run(runner, ["verify", spec, *quick, "-f", "json"])))
    assert [layer["name"] for layer in doc["layers"]][:4] == [name, "c2", name + "·p", "flat " + name]


# --- the helpers ----------------------------------------------------------------------------

def test_printable() -> None:
    assert printable("conv1 [/] :smile: a\\b é 猫") == "conv1 [/] :smile: a\\b é 猫"
    assert printable("a\nb\tc\x1b[0m\u202e") == "a\\nb\\tc\\x1b[0m\\u202e"


def test_markdown_escapes_only_what_markdown_would_read() -> None:
    assert markdown("conv_1 (3×3), A & B, 18.4 KiB") == "conv_1 (3×3), A & B, 18.4 KiB"
    assert markdown("a|b") == "a\\|b"
    assert markdown("_x_ &amp;") == "\\_x\\_ \\&amp;"
    assert markdown("1. x") == "1\\. x" and markdown("- x") == "\\- x" and markdown("---") == "\\---"
    assert markdown("  x") == "&#32;&#32;x"
    assert markdown_code("a`b") == "``a`b``" and markdown_code("`") == "`` ` ``"


@pytest.mark.parametrize("text", [*HOSTILE, "  two  ", "1) x", "===", "+", "&#32;", "\\`"])
def test_markdown_renders_to_the_printable_text(text: str) -> None:
    for source in (markdown(text), "a " + markdown(text), markdown_code(text)):
        tokens = _markdown_tokens(source)
        assert [t.type for t in tokens] == ["paragraph_open", "inline", "paragraph_close"], source
        rendered, kinds = _inline_text(tokens[1])
        assert kinds <= {"text", "code_inline"}
        assert rendered == (printable(text) if source != "a " + markdown(text) else "a " + printable(text))


def test_plural() -> None:
    assert [plural(n, "row") for n in (0, 1, 2, 1000)] == ["0 rows", "1 row", "2 rows", "1,000 rows"]
    assert plural(1, "class", "classes") == "1 class" and plural(3, "class", "classes") == "3 classes"


# --- counts of one ----------------------------------------------------------------------------

# A count of 1 followed by a plural noun: "1 positions", "1 rows and columns", "1 runs".
_ONE_PLURAL = re.compile(r"(?<![\d.,])\b1 (?:[a-z/-]+ )?(?:positions|rows|columns|channels|maps|layers|"
                         r"classes|runs|threads|problems|solutions|values|filters|parameters|MACs|devices)\b")

_ONE = {"input": [1, 5, 5], "layers": [
    {"type": "conv2d", "name": "c", "out_channels": 1, "kernel_size": 3, "stride": 3, "bias": False},
    {"type": "maxpool2d", "name": "p", "kernel_size": 1}]}


@pytest.mark.parametrize(("args", "data", "singular"), [
    # (5 − 3)/3 leaves one output position: the warning, the collapse and the totals
    (["analyze"], _ONE, ["1 + 0 = 1 row and column,", "but 1 conv/pool layer still follows (p); it sees",
                         "9 parameters"]),
    (["explain", "-f", "json"], _ONE, ["so PyTorch drops it (1 position)"]),
    (["analyze"], {"input": [1, 5, 5], "layers": [{"type": "conv2d", "out_channels": 2, "kernel_size": 1,
                                                   "groups": 2}]},
     ["the input's 1 channel and out_channels 2"]),
    (["analyze"], {"input": [1, 8, 8], "layers": [{"type": "conv2d", "out_channels": 1,
                                                   "kernel_size": 0}] * 51},
     ["… and 1 more problem not shown"]),
    (["analyze", "-f", "markdown"], {"input": [1, 1, 1], "layers": [{"type": "conv2d", "out_channels": 1,
                                                                    "kernel_size": 1, "bias": False}]},
     ["1 parameter (4 B as float32), 1 MAC, 4 B of outputs"]),
    (["softmax", "2", "--target", "3"], None, ["there is 1 class, numbered 0 to 0"]),
    (["solve", "--size", "5", "--target", "1", "--kernel", "5", "--stride", "4", "--padding", "0"], None,
     ["1 solution, 1 exact"]),
    (["conv", "--size", "5", "--filters", "1", "--kernel", "3"], None,
     ["1 filter on a 5×5 input with 1 channel"]),
])
def test_counts_of_one_are_singular(runner: CliRunner, tmp_path: Path, args: list[str], data: Any,
                                    singular: list[str]) -> None:
    if data is not None:
        args = [args[0], _write(tmp_path, "spec", data), *args[1:]]
    result = runner.invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    text = result.stdout + result.stderr
    for phrase in singular:
        assert phrase in text
    assert not _ONE_PLURAL.search(text), _ONE_PLURAL.search(text)


@pytest.mark.torch
@pytest.mark.usefixtures("one_torch_thread")
def test_verify_counts_of_one_are_singular(runner: CliRunner) -> None:
    pytest.importorskip("torch")
    text = _run(runner, ["verify", "lenet5", "--device", "cpu", "--batch", "1", "--runs", "1",
                         "--warmup", "1"]).stdout
    assert "1 thread)" in text and " over 1 run after 1 warm-up" in text
    assert not _ONE_PLURAL.search(text), _ONE_PLURAL.search(text)
