"""Bad input never shows a traceback: exit status 2 and one located line per problem.

Every ``tests/bad_specs/NAME.yaml`` is run through the CLI from the repository
root; its standard error must equal ``NAME.expected`` exactly. After changing
a message, rewrite the expected files with ``pytest --regen-bad-specs`` (or
``CNNCALC_REGEN_BAD_SPECS=1``) and review the diff.

The hostile inputs (alias bombs, deep nesting, huge, binary, missing files)
are generated at test time and run in a subprocess under a time limit and,
on Linux, an address-space limit.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

import cnncalc
import cnncalc.spec.loader as cnncalc_loader
from cnncalc.cli import cli
from cnncalc.spec.loader import MAX_DEPTH, parse_yaml

ROOT = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "bad_specs"
CASES = sorted(BAD.glob("*.yaml"))
TIMEOUT_S = 30  # generous: every hostile case takes well under a second today
MEMORY_LIMIT = 2 * 2**30  # address space for one CLI run on a hostile file


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in ("COLUMNS", "FORCE_COLOR", "NO_COLOR", "TERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(ROOT)  # the expected messages name tests/bad_specs/NAME.yaml
    return CliRunner()


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _no_crash(result: Result) -> None:
    """The command ended through the CLI's own exit, not an escaped exception."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        detail = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
        pytest.fail(f"uncaught {type(result.exception).__name__}:\n{detail}")
    assert "Traceback" not in result.output
    assert "Traceback" not in result.stderr


# --- the committed cases: exact messages ------------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_bad_spec_message(runner: CliRunner, regen_bad_specs: bool, case: Path) -> None:
    result = runner.invoke(cli, ["analyze", _relative(case)])
    _no_crash(result)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    expected = case.with_suffix(".expected")
    if regen_bad_specs:
        expected.write_text(result.stderr, encoding="utf-8")
    assert expected.exists(), f"{expected.name} is missing; run pytest --regen-bad-specs"
    assert result.stderr == expected.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_bad_spec_message_shape(case: Path) -> None:
    """Every line is FILE[:LINE]: [layer NAME (#i): | layer #i: ]message, sorted by line."""
    expected = case.with_suffix(".expected")
    if not expected.exists():
        pytest.skip("no .expected file yet")
    lines = expected.read_text(encoding="utf-8").splitlines()
    assert lines, "a bad spec must say something"
    shape = re.compile(re.escape(_relative(case)) + r"(?::(\d+))?: (?:layer (?:\S.* \(#\d+\)|#\d+): )?\S.*")
    numbers = []
    for line in lines:
        match = shape.fullmatch(line)
        assert match, f"not FILE:LINE: layer NAME (#i): message: {line!r}"
        numbers.append(int(match.group(1) or 0))
    assert numbers == sorted(numbers), "problems must be listed in file order"


def test_every_expected_file_has_its_case() -> None:
    orphans = [p.name for p in BAD.glob("*.expected") if not p.with_suffix(".yaml").exists()]
    assert not orphans


def test_subprocess_matches_the_runner() -> None:
    """``python -m cnncalc`` prints the same lines as the in-process runner."""
    case = BAD / "several_problems.yaml"
    done = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", _relative(case)],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == case.with_suffix(".expected").read_text(encoding="utf-8")


def test_bad_spec_on_stdin(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["analyze", "-"], input="input: [3, 32, 32]\nlayers: [\n")
    _no_crash(result)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("<stdin>:")
    assert "invalid YAML" in result.stderr


# --- the library API: issues carry line, layer and index -----------------------------------

def _issues(name: str) -> list[tuple[int | None, str | None, int | None]]:
    with pytest.raises(cnncalc.SpecError) as caught:
        cnncalc.load_spec(BAD / f"{name}.yaml")
    assert caught.value.source == str(BAD / f"{name}.yaml")
    return [(i.line, i.layer, i.index) for i in caught.value.issues]


def test_api_several_problems_all_located() -> None:
    assert _issues("several_problems") == [(7, "c1", 1), (8, "p1", 2), (11, "c2", 3), (13, "fc", 4)]


def test_api_missing_field_points_at_the_layer() -> None:
    assert _issues("missing_required") == [(3, "c1", 1)]


def test_api_bad_value_points_at_the_value() -> None:
    assert _issues("stride_zero") == [(7, "c1", 1)]
    assert _issues("unknown_field_close") == [(5, "c1", 1)]


def test_api_duplicate_name_points_at_the_second_layer() -> None:
    assert _issues("duplicate_layer_name") == [(5, "conv", 3)]


def test_api_unknown_type_keeps_the_name() -> None:
    assert _issues("unknown_type_close") == [(4, "p1", 2)]


def test_api_yaml_error_has_a_line_and_no_layer() -> None:
    assert _issues("yaml_bad_indent") == [(5, None, None)]


def test_api_shape_error_from_analyze() -> None:
    spec = cnncalc.load_spec(BAD / "batchnorm1d_on_feature_map.yaml")
    with pytest.raises(cnncalc.ShapeError) as caught:
        cnncalc.analyze(spec)
    assert isinstance(caught.value, cnncalc.SpecError)
    [issue] = caught.value.issues
    assert (issue.line, issue.layer, issue.index) == (4, "bn", 2)
    assert "[8, 30, 30]" in issue.message and "batchnorm2d" in issue.message


def test_api_mapping_source_has_no_lines() -> None:
    with pytest.raises(cnncalc.SpecError) as caught:
        cnncalc.load_spec({"input": [3, 32, 32], "layers": [{"type": "conv2d", "name": "c",
                                                             "out_channels": 8, "kernel_size": 0}]})
    [issue] = caught.value.issues
    assert (issue.line, issue.layer, issue.index) == (None, "c", 1)


# --- hostile inputs, generated here -----------------------------------------------------------

def _limit_memory() -> None:  # pragma: no cover - runs in the child
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _run(path: Path, *args: str,
         timeout: float = TIMEOUT_S) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "cnncalc", "analyze", str(path), *args],
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory if sys.platform == "linux" else None)
    return done, time.monotonic() - start


def _assert_one_line_rejection(path: Path, *needles: str) -> None:
    done, _ = _run(path)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"{path}:"), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]


def _laughs(levels: int = 9, fan: int = 10) -> list[str]:
    """Anchors a0..a{levels}, each a list of ``fan`` aliases of the one before: fan**(levels+1) values."""
    lines = ["a0: &a0 [" + ", ".join(["lol"] * fan) + "]"]
    for level in range(1, levels + 1):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * fan) + "]")
    return lines


def test_billion_laughs(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join([*_laughs(), "input: *a9", "layers: [{type: relu}]"]) + "\n")
    _assert_one_line_rejection(path, "expands to more than")


def test_billion_laughs_inside_a_layer(tmp_path: Path) -> None:
    """The bomb set off deep in a layer, where pydantic would walk it."""
    lines = ["input: {channels: 3, height: 32, width: 32}", "layers:"]
    lines += ["  - {type: relu, name: x}"]
    lines += ["  - type: conv2d", "    out_channels: 4", "    kernel_size: " + _laughs()[0].split(": ", 1)[1]]
    for level in range(1, 10):
        lines += [f"    stride{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]"]
    path = tmp_path / "laughs_in_layer.yaml"
    path.write_text("\n".join(lines) + "\n")
    _assert_one_line_rejection(path, "expands to more than")


def test_wide_alias_bomb(tmp_path: Path) -> None:
    """One anchored list of 50,000 values aliased 50,000 times: 2.5 billion values from 500 kB."""
    path = tmp_path / "wide.yaml"
    path.write_text("a: &a [" + ", ".join(["1"] * 50_000) + "]\n"
                    "b: [" + ", ".join(["*a"] * 50_000) + "]\n")
    _assert_one_line_rejection(path, "expands to more than")


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}")], ids=["sequences", "mappings"])
def test_deep_flow_nesting(tmp_path: Path, opening: str, closing: str) -> None:
    """100,000 levels: PyYAML's C composer would overflow the stack (a segfault, no message).

    Which limit fires first, cnncalc's or the parser's own (PyYAML 6.0.4 added one at 1,000
    levels), is the parser's business; the promise is one line naming the file, and exit 2."""
    path = tmp_path / "deep.yaml"
    path.write_text(opening * 100_000 + "1" + closing * 100_000 + "\n")
    _assert_one_line_rejection(path)


def test_deep_block_nesting(tmp_path: Path) -> None:
    path = tmp_path / "deep_block.yaml"
    path.write_text("- " * 100_000 + "x\n")
    _assert_one_line_rejection(path)


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}"), ("- ", "")],
                         ids=["sequences", "mappings", "block"])
def test_nesting_past_cnncalcs_bound(tmp_path: Path, opening: str, closing: str) -> None:
    """Past cnncalc's own bound (32 levels), and far below any parser's, cnncalc's message says it."""
    path = tmp_path / "deep.yaml"
    path.write_text(opening * (MAX_DEPTH + 8) + "1" + closing * (MAX_DEPTH + 8) + "\n")
    _assert_one_line_rejection(path, f"nested more than {MAX_DEPTH} levels")


def test_file_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "w") as handle:
        handle.write("input: {channels: 3, height: 32, width: 32}\nlayers:\n  - {type: relu}\n")
        handle.write(("# " + "x" * 1021 + "\n") * (17 * 1024))  # 17 MiB of comments
    assert path.stat().st_size > 17 * 2**20
    _assert_one_line_rejection(path, "MiB")


def test_nul_byte(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(b"input: {channels: 3, height: 32, width: 32}\nlayers:\n  - {type: relu\x00}\n")
    _assert_one_line_rejection(path, "binary")


def test_directory(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.mkdir()
    _assert_one_line_rejection(path, "directory")


def test_missing_file(tmp_path: Path) -> None:
    _assert_one_line_rejection(tmp_path / "absent.yaml", "no such file")


def test_many_problems_are_capped(tmp_path: Path) -> None:
    """5,000 aliased copies of one bad layer: the first problems, then a count of the rest."""
    path = tmp_path / "flood.yaml"
    path.write_text("input: {channels: 3, height: 8, width: 8}\nlayers:\n"
                    "  - &l {type: relu, bogus: 1}\n" + "  - *l\n" * 5_000)
    done, _ = _run(path)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert 1 < len(lines) <= 100
    assert all(line.startswith(f"{path}:") for line in lines)
    assert "more" in lines[-1]


def test_too_many_layers(tmp_path: Path) -> None:
    """100,000 aliased layers from 600 kB: refused before the walk, not rendered for minutes."""
    path = tmp_path / "many.yaml"
    path.write_text("input: {channels: 3, height: 8, width: 8}\nlayers:\n"
                    "  - &l {type: relu}\n" + "  - *l\n" * 100_000)
    _assert_one_line_rejection(path, "at most")


def test_most_layers_allowed_is_quick_in_json(tmp_path: Path) -> None:
    path = tmp_path / "deep_net.yaml"
    path.write_text("input: {channels: 3, height: 8, width: 8}\nlayers:\n"
                    "  - &l {type: relu}\n" + "  - *l\n" * 19_999)
    done, elapsed = _run(path, "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert elapsed < 15


# --- YAML that is valid but is no spec: self-reference, values that are not plain ---------------

def _cli_rejects(runner: CliRunner, text: str) -> list[str]:
    """Run the text through `cnncalc analyze -` in process: exit 2, no crash, its lines."""
    result = runner.invoke(cli, ["analyze", "-"], input=text)
    _no_crash(result)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    return result.stderr.splitlines()


@pytest.mark.parametrize("text", [
    "input: [3, 8, 8]\nlayers: &a [*a]\n",
    "input: [3, 8, 8]\nlayers: &a [{type: relu}, [*a]]\n",
    "input: &i {channels: 3, height: 8, width: *i}\nlayers: [{type: relu}]\n",
    "input: [3, 8, 8]\nlayers:\n  - &l {type: relu, name: *l}\n",
    "input: [3, 8, 8]\nlayers:\n  - &l {type: conv2d, out_channels: 2, kernel_size: 1, <<: *l}\n",
    "&top {input: [3, 8, 8], layers: [{type: relu}], description: *top}\n",
], ids=["list", "nested list", "input mapping", "layer name", "merge into itself", "top level"])
def test_an_alias_inside_its_own_anchor_is_one_line(runner: CliRunner, text: str) -> None:
    """A value that contains itself recursed without end in every consumer (RecursionError)."""
    [line] = _cli_rejects(runner, text)
    assert line.startswith("<stdin>:") and "alias *" in line and "itself" in line


# One value of every tag PyYAML's safe loader builds beyond text, numbers, true/false, null,
# lists and mappings; the test below fails when a PyYAML release adds one not listed here.
ODD_VALUES = {
    "tag:yaml.org,2002:timestamp": ["2024-01-01", "2024-13-45", "2001-12-14 21:59:43.10 -5",
                                    "!!timestamp 2024-01-01"],
    "tag:yaml.org,2002:binary": ["!!binary aGVsbG8="],
    "tag:yaml.org,2002:set": ["!!set {a, b}"],
    "tag:yaml.org,2002:omap": ["!!omap [a: 1, b: 2]"],
    "tag:yaml.org,2002:pairs": ["!!pairs [a: 1, a: 2]"],
    None: ["!local x", "!!python/tuple [1, 2]", "!!python/object/apply:os.system [echo]", "="],
}


def test_every_tag_the_safe_loader_builds_is_covered() -> None:
    plain = {f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "str", "seq", "map")}
    assert set(yaml.SafeLoader.yaml_constructors) - plain == set(ODD_VALUES)


@pytest.mark.parametrize("value", [v for values in ODD_VALUES.values() for v in values])
@pytest.mark.parametrize("where", ["name", "description", "layer name", "layer field", "layer",
                                   "layers"])
def test_a_value_that_is_not_plain_is_one_located_line(runner: CliRunner, value: str, where: str) -> None:
    layer = "{type: conv2d, name: c1, out_channels: 2, kernel_size: 1}"
    lines = {"name": f"name: {value}", "description": f"description: {value}",
             "layer name": None, "layer field": None, "layer": None, "layers": None}
    top = lines[where]
    if where == "layer name":
        layers = f"  - {{type: relu, name: {value}}}"
    elif where == "layer field":
        layers = f"  - {{type: conv2d, name: c1, out_channels: 2, kernel_size: 1, padding_mode: {value}}}"
    elif where == "layer":
        layers = f"  - {layer}\n  - {value}"
    else:
        layers = f"  - {layer}"
    body = f"layers: {value}\n" if where == "layers" else f"layers:\n{layers}\n"
    text = (f"{top}\n" if top else "") + "input: [3, 8, 8]\n" + body
    [line] = _cli_rejects(runner, text)
    number = text.splitlines().index(next(t for t in text.splitlines() if value in t)) + 1
    assert line.startswith(f"<stdin>:{number}: "), line
    if where in ("layer field", "layer"):
        layer_is = r": layer c1 \(#1\): " if where == "layer field" else ": layer #2: "
        assert re.search(layer_is, line), line
    assert "date" in line or "not allowed" in line or "quote it" in line, line


def test_a_date_says_to_quote_it(runner: CliRunner) -> None:
    [line] = _cli_rejects(runner, "name: 2024-01-01\ninput: [3, 8, 8]\nlayers: [{type: relu}]\n")
    assert "date" in line and "'2024-01-01'" in line


# --- merge keys: YAML's own way to repeat a mapping with overrides -------------------------------

def test_a_merge_with_overrides_is_no_duplicate() -> None:
    data, _ = parse_yaml("input: [3, 8, 8]\nlayers:\n"
                         "  - &c {type: conv2d, name: c1, out_channels: 6, kernel_size: 3}\n"
                         "  - {<<: *c, name: c2, out_channels: 8}\n"
                         "  - &d {type: conv2d, name: c3, out_channels: 4, kernel_size: 1, stride: 2}\n"
                         "  - {<<: [*d, *c], name: c4}\n")  # the first mapping listed wins
    report = cnncalc.analyze(data)
    assert [(r.name, r.output_shape, r.parameters) for r in report.rows] == [
        ("c1", (6, 6, 6), 6 * (3 * 9 + 1)), ("c2", (8, 4, 4), 8 * (6 * 9 + 1)),
        ("c3", (4, 2, 2), 4 * (8 + 1)), ("c4", (4, 1, 1), 4 * (4 + 1))]


@pytest.mark.parametrize("merge", ["5", "[*c, 5]", "[1, 2]"])
def test_a_merge_of_something_not_a_mapping_is_refused(runner: CliRunner, merge: str) -> None:
    lines = _cli_rejects(runner, "input: [3, 8, 8]\nlayers:\n"
                         "  - &c {type: conv2d, name: c1, out_channels: 6, kernel_size: 3}\n"
                         f"  - {{<<: {merge}, name: c2}}\n")
    assert len(lines) == 1 and lines[0].startswith("<stdin>:4: ") and "<< merges a mapping" in lines[0]


def test_a_merge_through_the_cli_is_analysed(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["analyze", "-", "-f", "json"], input=(
        "input: [3, 8, 8]\nlayers:\n  - &c {type: conv2d, name: c1, out_channels: 6, kernel_size: 3}\n"
        "  - {<<: *c, name: c2, out_channels: 8}\n"))
    assert result.exit_code == 0, result.stderr
    assert '"output_shape": [\n        8,' in result.stdout or '"output_shape": [8, 4, 4]' in result.stdout


@pytest.mark.parametrize("text, needle", [
    ("  - {<<: *c, name: c2, out_channels: 8, out_channels: 9}\n", "out_channels appears twice"),
    ("  - {<<: *c, <<: *c, name: c2}\n", "<<: [*a, *b]"),
])
def test_a_real_duplicate_beside_a_merge_is_still_an_error(runner: CliRunner, text: str,
                                                           needle: str) -> None:
    lines = _cli_rejects(runner, "input: [3, 8, 8]\nlayers:\n"
                         "  - &c {type: conv2d, name: c1, out_channels: 6, kernel_size: 3}\n" + text)
    assert len(lines) == 1 and lines[0].startswith("<stdin>:4: layer c2 (#2): ") and needle in lines[0]


# --- numbers YAML 1.1 reads as text -------------------------------------------------------------

@pytest.mark.parametrize("field, written, write", [
    ("out_channels: {}", "1e9", "1000000000"),
    ("out_channels: {}", "1E3", "1000"),
    ("out_channels: {}", "1.5e1", "15"),
    ("kernel_size: [{}, 3]", "3e0", "3"),
    ("stride: {}", "2e+0", "2"),
])
def test_an_unquoted_number_yaml_reads_as_text_says_so(runner: CliRunner, field: str, written: str,
                                                       write: str) -> None:
    layer = {"out_channels: {}": "{type: conv2d, name: c, kernel_size: 3, %s}",
             "kernel_size: [{}, 3]": "{type: conv2d, name: c, out_channels: 3, %s}",
             "stride: {}": "{type: conv2d, name: c, out_channels: 3, kernel_size: 3, %s}"}[field]
    [line] = _cli_rejects(runner, "input: [3, 32, 32]\nlayers:\n  - " + layer % field.format(written) + "\n")
    assert "remove the quotes" not in line
    assert "YAML 1.1" in line and f"write {write})" in line, line
    assert line.startswith("<stdin>:3: layer c (#1): ")


def test_a_quoted_number_still_says_remove_the_quotes(runner: CliRunner) -> None:
    lines = _cli_rejects(runner, 'input: [3, 32, 32]\nlayers:\n  - {type: conv2d, out_channels: "16", '
                                 "kernel_size: '3'}\n")
    assert len(lines) == 2 and all(line.endswith("(remove the quotes)") for line in lines), lines


def test_a_decimal_yaml_reads_as_text_says_what_to_write(runner: CliRunner) -> None:
    [line] = _cli_rejects(runner, "input: [3, 32, 32]\nlayers:\n  - {type: localresponsenorm, size: 3, "
                                  "alpha: 1e-4}\n")
    assert "YAML 1.1" in line and "1.0e-4" in line, line


# --- layer types cnncalc does not have -----------------------------------------------------------

def _type_message(written: str) -> str:
    [line] = _cli_rejects(CliRunner(), f"input: [3, 32, 32]\nlayers:\n  - {{type: {written}}}\n")
    return line


@pytest.mark.parametrize("written", ["PixelShuffle", "cropping2d", "residual", "conv1d", "ConvTranspose3d",
                                     "prelu", "GroupNorm", "Dropout3d", "GlobalMaxPooling2D", "lstm"])
def test_a_type_cnncalc_lacks_is_named_plainly(written: str) -> None:
    line = _type_message(written)
    assert f"cnncalc does not support {written!r} yet" in line, line
    assert "did you mean" not in line


def test_every_unsupported_type_is_named_plainly() -> None:
    from cnncalc.spec.models import LAYER_TYPES, TYPE_ALIASES, UNSUPPORTED_TYPES

    assert not set(UNSUPPORTED_TYPES) & {*LAYER_TYPES, *TYPE_ALIASES}
    for written in UNSUPPORTED_TYPES:
        assert "does not support" in cnncalc_loader._unknown_type(written), written


def test_a_misspelt_type_is_matched_within_its_kind() -> None:
    """Each supported spelling, one letter dropped or doubled: any suggestion is of the same kind."""
    from cnncalc.spec.models import KIND_OF_TYPE, LAYER_TYPES, TYPE_ALIASES, canonical_type, kind_of

    wrong = []
    for name in [*LAYER_TYPES, *TYPE_ALIASES]:
        kind = KIND_OF_TYPE[canonical_type(name)]
        for i in range(len(name)):
            for typo in (name[:i] + name[i + 1:], name[:i] + name[i] + name[i:]):
                if canonical_type(typo) in KIND_OF_TYPE:
                    continue  # another real spelling
                message = cnncalc_loader._unknown_type(typo)
                said = re.search(r"did you mean '([^']+)'", message)
                if said and kind_of(said.group(1)) != kind:
                    wrong.append((typo, said.group(1)))
    assert wrong == []


@pytest.mark.parametrize("written, other_kinds", [
    ("upsampel", ["subsampling"]), ("concatenat", ["conv"]), ("deconv2", ["conv"]),
    ("fancypool", ["conv", "relu"]), ("transposedconv", ["conv2d"]),
])
def test_a_suggestion_is_never_of_another_kind(written: str, other_kinds: list[str]) -> None:
    line = _type_message(written)
    for other in other_kinds:
        assert f"did you mean {other!r}" not in line, line


def test_an_unsupported_activation_is_named_plainly() -> None:
    [line] = _cli_rejects(CliRunner(), "input: [3, 32, 32]\nlayers:\n  - {type: conv2d, "
                                       "out_channels: 3, kernel_size: 3, activation: prelu}\n")
    assert "does not support activation 'prelu' yet" in line and "did you mean" not in line


# --- the SPEC argument ---------------------------------------------------------------------------

@pytest.mark.parametrize("given", ["", " ", "\t"])
def test_an_empty_spec_argument_says_so(runner: CliRunner, given: str) -> None:
    result = runner.invoke(cli, ["analyze", given])
    _no_crash(result)
    assert result.exit_code == 2
    assert "SPEC argument is empty" in result.stderr and "directory" not in result.stderr


@pytest.mark.parametrize("given", ["", " "])
def test_an_empty_answers_argument_says_so(runner: CliRunner, given: str) -> None:
    result = runner.invoke(cli, ["check", "lenet5", given])
    _no_crash(result)
    assert result.exit_code == 2
    assert "ANSWERS argument is empty" in result.stderr and "not a file" not in result.stderr


# --- the library API takes what the CLI takes ------------------------------------------------------

@pytest.mark.parametrize("source", ["lenet5", Path("lenet5"), ROOT / "architectures" / "lenet5.yaml",
                                    str(ROOT / "architectures" / "lenet5.yaml")])
def test_analyze_takes_a_name_or_a_path(source: object) -> None:
    assert cnncalc.analyze(source).totals.parameters == 61706  # type: ignore[arg-type]


def test_analyze_takes_a_mapping_and_a_spec() -> None:
    data = {"input": [1, 4, 4], "layers": [{"type": "conv2d", "out_channels": 2, "kernel_size": 3}]}
    assert cnncalc.analyze(data).totals.parameters == 20
    assert cnncalc.analyze(cnncalc.load_spec(data)).totals.parameters == 20


@pytest.mark.parametrize("source", [3, None, b"lenet5", ["lenet5"]])
def test_analyze_of_something_else_says_what_to_pass(source: object) -> None:
    with pytest.raises(TypeError, match=r"takes a spec: a path .* bundled name .* mapping"):
        cnncalc.analyze(source)  # type: ignore[arg-type]


def test_a_missing_bundled_name_is_a_spec_error() -> None:
    with pytest.raises(cnncalc.SpecError, match="no such file"):
        cnncalc.analyze("lenet6")
