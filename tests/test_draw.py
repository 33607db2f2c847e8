"""The drawing (SVG, DOT) and the HTML report: well-formed, true to the analysis, escaped, offline."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

import cnncalc
from cnncalc.analysis.fold import fold
from cnncalc.analysis.walk import Report
from cnncalc.cli import cli
from cnncalc.render.draw import MAX_MAPS, dot, shape_text, svg
from cnncalc.render.html import report_html
from cnncalc.spec import bundled

ROOT = Path(__file__).parent.parent
RESNET = ROOT / "architectures" / "resnet18.yaml"
SVG = "{http://www.w3.org/2000/svg}"
SOURCES = [*bundled.names(), str(RESNET)]


def _texts(picture: str, cls: str = "") -> list[str]:
    root = ET.fromstring(picture)
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")
            if not cls or cls in t.get("class", "").split()]


def _is_chain(report: Report) -> bool:
    return not report.branches


@pytest.mark.parametrize("source", SOURCES)
def test_every_svg_is_xml_and_shows_every_shape(source: str) -> None:
    report = cnncalc.analyze(source)
    picture = svg(report)
    texts = _texts(picture)
    assert f"{report.totals.parameters:,} parameters" in texts[0]
    shown = " ".join(texts)
    for row in report.rows:
        assert shape_text(row.output_shape) in shown, row.name
    if report.branches:
        # one box (or merge node) per layer, each layer's name written exactly once
        names = _texts(picture, "cc-name")
        assert sorted(names) == sorted(["input", *(row.name for row in report.rows)])
    else:
        # a stack per feature map: its label is the analysis's shape, and it draws min(C, 12) maps
        root = ET.fromstring(picture)
        maps = [r for r in root.iter(f"{SVG}rect") if "cc-map" in r.get("class", "")]
        labels = [t for t in texts if re.fullmatch(r"\d+@\d+×\d+", t)]
        shapes = {shape_text(report.input_shape), *(shape_text(r.output_shape) for r in report.rows)}
        assert set(labels) <= shapes
        assert len(maps) == sum(min(int(label.split("@")[0]), MAX_MAPS) for label in labels)


def test_lenet_drawing_reads_as_the_lecture() -> None:
    texts = _texts(svg(cnncalc.analyze("lenet5")))
    for label in ("1@32×32", "6@28×28", "6@14×14", "16@10×10", "16@5×5", "120", "84", "10"):
        assert label in texts
    assert texts.count("conv 5×5") == 2 and texts.count("max-pool 2×2 /2") == 2
    assert "flatten 400 → fc" in texts


def test_a_branching_net_is_a_graph_with_merges_and_skips() -> None:
    report = cnncalc.analyze(RESNET)
    root = ET.fromstring(svg(report))
    adds = [row for row in report.rows if row.type == "add"]
    assert len([t for t in root.iter(f"{SVG}text") if t.text == "⊕"]) == len(adds) == 8
    edges = [p for p in root.iter(f"{SVG}path") if "cc-edge" in p.get("class", "")]
    assert len(edges) == sum(len(set(row.inputs)) for row in report.rows)
    skips = [p for p in edges if "cc-skip" in p.get("class", "")]
    assert len(skips) == 8  # each block's shortcut (identity, or through its downsampling)
    # folded at depth 1 the blocks hide their skips: a chain of stacks, a block per stage
    texts = _texts(svg(fold(report, 1)))
    assert texts.count("basic ×2") == 4


def test_dot_names_every_edge_with_its_shape() -> None:
    report = cnncalc.analyze(RESNET)
    text = dot(report)
    assert text.startswith('digraph "ResNet-18" {') and text.rstrip().endswith("}")
    assert text.count(" -> ") == sum(len(set(row.inputs)) for row in report.rows)
    assert '"layer1.0.bn2" -> "layer1.0.add" [label="64@56×56"];' in text


HOSTILE = ['<script>alert(1)</script>', 'a & b', ']]>', 'say "hi"', "it's", "x\x1by"]


def _hostile() -> Report:
    layers = [{"type": "conv2d", "name": name, "out_channels": 2, "kernel_size": 3, "padding": 1}
              for name in HOSTILE]
    chain = {"name": "<b>net</b> & co", "description": "<img src=x onerror=alert(1)>",
             "input": [1, 8, 8], "layers": layers}
    return cnncalc.analyze(chain)


def test_hostile_names_are_text_never_markup() -> None:
    report = _hostile()
    branching = cnncalc.analyze({"name": "]]><svg>", "input": [1, 8, 8], "layers": [
        {"type": "conv2d", "name": HOSTILE[0], "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "conv2d", "name": HOSTILE[1], "out_channels": 2, "kernel_size": 3, "padding": 1},
        {"type": "add", "name": HOSTILE[3], "from": [HOSTILE[0], HOSTILE[1]]}]})
    for picture in (svg(report), svg(branching)):
        root = ET.fromstring(picture)  # well-formed, whatever the names
        assert not [e for e in root.iter() if e.tag.endswith("script")]
        assert "<script>" not in picture
    texts = _texts(svg(branching), "cc-name")
    assert HOSTILE[0] in texts and HOSTILE[1] in texts and HOSTILE[3] in texts
    assert "x\\x1by" in _texts(svg(report))  # a control character is shown, never written raw
    for text in (dot(report), dot(branching)):
        assert '"say \\"hi\\""' in text or '"say \\"hi\\"' in text
    page = report_html(report)
    assert "<script>alert" not in page and "<img" not in page
    cells = _table(page)
    assert [c[1] for c in cells] == [*HOSTILE[:-1], "x\\x1by"]


class _Page(HTMLParser):
    """The layer table's rows, and every attribute and style text, of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.styles: list[str] = []
        self.scripts: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tags.append(tag)
        for key, value in attrs:
            self.attributes.append((tag, key, value or ""))
        if tag == "tr" and ("class", "row") in attrs:
            self._row = []
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if self._tags:
            self._tags.pop()
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row.append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._tags and self._tags[-1] == "style":
            self.styles.append(data)
        if self._tags and self._tags[-1] == "script":
            self.scripts.append(data)


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _table(page: str) -> list[list[str]]:
    return _parse(page).rows


@pytest.mark.parametrize("source", SOURCES)
def test_html_table_is_the_json_report(source: str) -> None:
    report = cnncalc.analyze(source)
    page = report_html(report)
    layers = json.loads(report.render("json"))["layers"]
    rows = _table(page)
    assert len(rows) == len(layers)
    name, output, params = (1, 5, 9) if report.branches else (1, 4, 8)
    for cells, layer in zip(rows, layers, strict=True):
        assert cells[name].strip() == layer["name"]
        assert cells[output] == "×".join(map(str, layer["output_shape"]))
        assert cells[params] == f"{layer['parameters']:,}"
    assert len(page.encode()) < 1_000_000


@pytest.mark.parametrize("source", ["vgg16", str(RESNET)])
def test_html_references_nothing_outside_itself(source: str) -> None:
    page = report_html(cnncalc.analyze(source), depth=1)
    parsed = _parse(page)
    for tag, key, value in parsed.attributes:
        assert key not in ("src", "srcset", "action", "poster", "data"), (tag, key, value)
        if key in ("href", "xlink:href"):
            assert value.startswith("#"), value
        for url in re.findall(r"url\(([^)]*)\)", value):
            assert url.startswith("#"), value
    assert not [t for t, _, _ in parsed.attributes if t in ("link", "iframe", "img", "object", "embed")]
    css = "".join(parsed.styles)
    assert "@import" not in css
    assert not [u for u in re.findall(r"url\(([^)]*)\)", css) if not u.startswith("#")]
    code = "".join(parsed.scripts)
    assert not re.search(r"fetch\(|XMLHttpRequest|https?:|import\(", code)


def test_html_shows_totals_formulas_warnings_and_the_yaml() -> None:
    report = cnncalc.analyze("alexnet")
    page = report_html(report)
    assert f"{report.totals.parameters:,}" in page and f"{report.totals.macs:,}" in page
    assert "1 + (224 + 2×2 − 11)/4 = 55.25 → 55" in page  # explain's worked width of conv1
    assert "conv1 (#1)" in page and "is not whole" in page  # the warning
    assert "type: localresponsenorm, name: norm1" in page  # the spec, escaped but whole
    assert 'id="cc-arrow"' in page and "<svg" in page


def test_jupyter_shows_the_report_and_the_drawing() -> None:
    report = cnncalc.analyze("lenet5")
    assert report._repr_html_() == report_html(report)
    drawing = cnncalc.draw("lenet5")
    assert drawing._repr_svg_() == drawing.svg == svg(report)
    assert cnncalc.draw(RESNET, depth=1).svg == svg(fold(cnncalc.analyze(RESNET), 1))


def test_cli_draw_and_html(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["draw", "lenet5"])
    assert result.exit_code == 0 and result.stdout == svg(cnncalc.analyze("lenet5"))
    out = tmp_path / "net.dot"
    result = runner.invoke(cli, ["draw", str(RESNET), "-o", str(out), "--depth", "2"])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == dot(fold(cnncalc.analyze(RESNET), 2))
    page = tmp_path / "report.html"
    result = runner.invoke(cli, ["analyze", "vgg16", "--format", "html", "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert page.read_text(encoding="utf-8") == report_html(cnncalc.analyze("vgg16"))
    as_json = tmp_path / "r.json"
    assert runner.invoke(cli, ["analyze", "lenet5", "-f", "json", "-o", str(as_json)]).exit_code == 0
    assert json.loads(as_json.read_text())["totals"]["parameters"] == 61706
    result = runner.invoke(cli, ["draw", "lenet5", "-o", str(tmp_path / "no" / "x.svg")])
    assert result.exit_code == 2 and "cannot write" in result.output


def test_the_readme_pictures_are_current() -> None:
    spec = importlib.util.spec_from_file_location("make_pictures", ROOT / "scripts" / "make_pictures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.pictures().items():
        assert (ROOT / "docs" / name).read_text(encoding="utf-8") == text, \
            f"docs/{name} is out of date: run python scripts/make_pictures.py"


_WATCH = ("<script>window.addEventListener('error',function(e){document.documentElement"
          ".setAttribute('data-error',String(e.message));});</script>")
_CLICK = """<script>
window.addEventListener('load',function(){try{
var t=document.getElementById('table');
t.tHead.rows[0].cells[9].click();t.tHead.rows[0].cells[9].click();
var r=document.querySelector('tr.row');r.click();var ex=r.nextElementSibling;
var b=document.querySelector('tr.block');if(b){b.click();b.click();}
['fold','unfold','order'].forEach(function(i){var e=document.getElementById(i);if(e){e.click();}});
document.documentElement.setAttribute('data-clicked',
  ex.hidden||!ex.classList.contains('explain')?'closed':'yes');
}catch(e){document.documentElement.setAttribute('data-error',String(e));}});
</script>"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="no chromium to load the page in")
@pytest.mark.parametrize("source", ["lenet5", str(RESNET)])
def test_the_page_runs_without_a_script_error_in_chromium(source: str, tmp_path: Path) -> None:
    page = report_html(cnncalc.analyze(source), depth=2)
    page = page.replace("<head>", "<head>" + _WATCH, 1).replace("</body>", _CLICK + "</body>", 1)
    path = tmp_path / "page.html"
    path.write_text(page, encoding="utf-8")
    chromium = shutil.which("chromium")
    assert chromium is not None
    done = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                           "--virtual-time-budget=3000", path.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = done.stdout
    opening = re.search(r"<html[^>]*>", dom)
    assert opening is not None, done.stderr[-2000:]
    assert "data-error" not in opening.group(0), opening.group(0)
    assert 'data-ready="yes"' in opening.group(0) and 'data-clicked="yes"' in opening.group(0)
