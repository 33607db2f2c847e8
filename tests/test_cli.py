"""The command line through click's CliRunner: golden outputs, help, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cnncalc import analyze, load_spec
from cnncalc.cli import cli

GOLDEN = Path(__file__).parent / "golden"
FORMATS = ("table", "json", "csv", "markdown")
SUFFIX = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16"])
def test_golden(runner: CliRunner, regen_golden: bool, name: str, fmt: str) -> None:
    result = runner.invoke(cli, ["analyze", f"architectures/{name}.yaml", "--format", fmt,
                                 "--width", "160"])
    assert result.exit_code == 0, result.output
    path = GOLDEN / f"{name}.{SUFFIX[fmt]}"
    if regen_golden:
        path.write_text(result.stdout)
    assert result.stdout == path.read_text()


def test_json_has_the_contract_keys(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["analyze", "lenet5", "--format", "json"])
    doc = json.loads(result.stdout)
    assert {"name", "input_shape", "output_shape", "layers", "totals", "warnings"} <= set(doc)
    assert doc["name"] == "LeNet-5"
    assert doc["input_shape"] == [1, 32, 32]
    assert doc["output_shape"] == [10]
    first = doc["layers"][0]
    for key, value in {"name": "C1", "type": "conv2d", "input_shape": [1, 32, 32],
                       "output_shape": [6, 28, 28], "weights_per_neuron": 26, "neurons": 4704,
                       "connections": 122304, "parameters": 156}.items():
        assert first[key] == value
    assert (doc["totals"]["parameters"], doc["totals"]["neurons"], doc["totals"]["connections"]) \
        == (61706, 8094, 429342)
    assert doc["warnings"] == []


def test_warnings_are_objects_with_layer_and_message(runner: CliRunner) -> None:
    doc = json.loads(runner.invoke(cli, ["analyze", "alexnet", "-f", "json"]).stdout)
    assert doc["warnings"] and all({"layer", "message"} <= set(w) for w in doc["warnings"])


@pytest.mark.parametrize("fmt", ["csv", "markdown", "table"])
def test_no_format_drops_warnings(runner: CliRunner, fmt: str) -> None:
    """JSON holds them as objects; Markdown and the table list them; CSV has no place for them, so
    they go to standard error, one line each naming the layer, and the CSV stays clean."""
    warnings = json.loads(runner.invoke(cli, ["analyze", "alexnet", "-f", "json"]).stdout)["warnings"]
    assert warnings
    result = runner.invoke(cli, ["analyze", "alexnet", "-f", fmt, "--width", "160"])
    assert result.exit_code == 0
    lines = [f"warning: {w['layer']} (#{w['index']}): {w['message']}" for w in warnings]
    if fmt == "csv":
        assert result.stderr.splitlines() == lines
        assert result.stdout == (GOLDEN / "alexnet.csv").read_text()
    elif fmt == "markdown":
        assert all(f"- `{w['layer']}` (#{w['index']}): {w['message']}" in result.stdout for w in warnings)
    else:
        assert all(line in " ".join(result.stdout.split()) for line in lines)


def test_strict_turns_warnings_into_errors(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["analyze", "architectures/alexnet.yaml", "--strict"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("architectures/alexnet.yaml:13: layer conv1 (#1): warning (--strict): "
                                    "(224 + 2×2 − 11)/4 = 54.25 is not whole")
    assert runner.invoke(cli, ["analyze", "lenet5", "--strict"]).exit_code == 0


def test_spec_from_standard_input(runner: CliRunner) -> None:
    text = "input: [3, 32, 32]\nlayers:\n  - {type: conv, filters: 6, kernel: 5}\n"
    result = runner.invoke(cli, ["analyze", "-", "-f", "json"], input=text)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["layers"][0]["connections"] == 357_504
    bad = runner.invoke(cli, ["analyze", "-"], input="input: [3, 32, 32]\nlayers:\n  - {type: conv}\n")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("<stdin>:3: layer #1: ")


def test_unknown_format_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["analyze", "lenet5", "--format", "xml"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_list_shows_every_bundled_architecture(runner: CliRunner) -> None:
    from cnncalc.spec import bundled

    result = runner.invoke(cli, ["list"])
    assert result.exit_code == 0
    for name in bundled.names():
        assert name in result.stdout
    assert "138,357,544" in result.stdout


def test_schema_accepts_what_cnncalc_accepts(runner: CliRunner) -> None:
    import jsonschema
    import yaml

    from cnncalc.spec import bundled

    validator = jsonschema.Draft202012Validator(json.loads(runner.invoke(cli, ["schema"]).stdout))
    for name in bundled.names():
        spec = yaml.safe_load((bundled.directory() / f"{name}.yaml").read_text())
        assert list(validator.iter_errors(spec)) == [], name
    words = {"input": [3, 32, 32], "layers": [
        {"type": "conv", "filters": 6, "kernel": 5}, {"type": "maxpooling2d", "pool_size": 2, "strides": 2},
        {"type": "flatten"}, {"type": "dropout", "rate": 0.5}, {"type": "dense", "units": 10}]}
    assert list(validator.iter_errors(words)) == []
    load_spec(words)  # and cnncalc agrees
    misspelt = {"input": [3, 32, 32], "layers": [{"type": "conv", "filtres": 6, "kernel": 5}]}
    assert list(validator.iter_errors(misspelt))


def _commands(group: click.Group) -> list[str]:
    return group.list_commands(click.Context(group))


@pytest.mark.parametrize("command", _commands(cli))
def test_every_command_has_help(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    loaded = cli.get_command(click.Context(cli), command)
    assert loaded is not None and loaded.help, f"{command} has no docstring"
    assert f"Usage: cli {command}" in result.stdout or f"Usage: cnncalc {command}" in result.stdout


def test_readme_documents_every_command() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for command in _commands(cli):
        assert f"cnncalc {command}" in readme, f"README does not show `cnncalc {command}`"


@pytest.mark.parametrize("args", [
    ["analyze", "vgg16", "-f", "json"],
    ["check", "lenet5", "ANSWERS"],
    ["explain", "alexnet", "-f", "json"],
    ["conv", "--size", "224", "-L", "3", "--filters", "96", "-M", "11", "-s", "4", "-P", "2"],
    ["solve", "-J", "224", "-O", "55", "-M", "11"],
    ["quiz", "--seed", "1", "-f", "markdown"],
    ["export", "lenet5"],
    ["draw", "alexnet"],
    ["analyze", "vgg16", "-f", "html"],
])
def test_torch_free_commands_never_import_torch(args: list[str], tmp_path: Path) -> None:
    # Run each in a fresh interpreter and look at sys.modules afterwards, whatever the exit status.
    answers = tmp_path / "answers.yaml"
    answers.write_text("C1:\n  neurons: 4704\n  parameters: 156\n")
    args = [str(answers) if arg == "ANSWERS" else arg for arg in args]
    code = ("import sys\nfrom cnncalc.cli import cli\n"
            f"try:\n    cli({args!r}, standalone_mode=False)\n"
            "except BaseException:\n    pass\n"
            "finally:\n    print('torch' in sys.modules, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).parent.parent)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr


def test_python_dash_m() -> None:
    version = subprocess.run([sys.executable, "-m", "cnncalc", "--version"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.startswith("cnncalc, version ")


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "alexnet-torchvision", "vgg16", "mnist-cnn",
                                  "cifar10-cnn"])
def test_report_invariants(name: str) -> None:
    report = analyze(load_spec(name))
    previous = report.input_shape
    for row in report.rows:
        assert row.input_shape == previous
        previous = row.output_shape
    t = report.totals
    assert t.parameters == sum(r.parameters for r in report.rows)
    assert t.neurons == sum(r.neurons for r in report.rows)
    assert t.connections == sum(r.connections for r in report.rows)
    assert t.macs == sum(r.macs for r in report.rows)
    assert t.output_bytes == sum(r.output_bytes for r in report.rows)


def test_every_command_of_the_lecture_table_runs() -> None:
    # The README's "The lecture, question by question" table must stay true: run each command.
    import re
    import shlex

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("## The lecture, question by question", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"\| `(cnncalc [^`]+)` \|", section)
    assert len(commands) >= 15
    runner = CliRunner()
    for command in commands:
        result = runner.invoke(cli, shlex.split(command)[1:])
        assert result.exit_code == 0, (command, result.output)


@pytest.mark.parametrize("width", [60, 80, 100, 120, 140, 200])
def test_narrow_tables_hide_columns_but_never_cut_a_number(width: int) -> None:
    report = analyze(load_spec("vgg16"))
    text = report.render("table", width=width)
    import re

    after = text.split("hidden to fit the terminal:", 1)[1] if "hidden to fit" in text else ""
    hidden = set(re.findall(r"[\w/]+", after.split("(", 1)[0]))
    columns = {"connections": "connections", "params": "parameters", "neurons": "neurons", "MACs": "macs"}
    for heading, attribute in columns.items():
        if heading in hidden:
            continue
        for row in report.rows:
            assert f"{getattr(row, attribute):,}" in text, (width, heading, row.name)
    assert f"{report.totals.parameters:,}" in text
    assert all(len(line) <= width for line in text.splitlines()[1:6]), width


def test_standard_input_gets_the_same_checks_as_a_file(runner: CliRunner) -> None:
    text = b'input: [1, 2, 2]\nlayers: [{type: relu, name: "\xff"}]\n'
    not_utf8 = runner.invoke(cli, ["analyze", "-"], input=text)
    assert not_utf8.exit_code == 2
    assert not_utf8.stderr.startswith("<stdin>:2: is not UTF-8 text")
    huge = runner.invoke(cli, ["analyze", "-"], input=b"a" * (16 * 2**20 + 1))
    assert huge.exit_code == 2 and "larger than 16 MiB" in huge.stderr
    assert "Traceback" not in not_utf8.output + huge.output


def test_a_number_thousands_of_digits_long_is_bad_input(runner: CliRunner, tmp_path: Path) -> None:
    spec = tmp_path / "huge.yaml"
    filters = "1" + "0" * 5000
    spec.write_text("input: [1, 32, 32]\nlayers:\n  - {type: conv2d, filters: " + filters + ", kernel: 3}\n")
    result = runner.invoke(cli, ["analyze", str(spec)])
    assert result.exit_code == 2
    assert "thousands of digits" in result.stderr and "Traceback" not in result.output
