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
from click.testing import CliRunner, Result

import cnncalc
from cnncalc.cli import cli
from cnncalc.spec.loader import MAX_DEPTH

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
