"""The report as one self-contained HTML page (``analyze --format html``, Jupyter's view).

Everything is inline: the CSS, a little JavaScript (sorting, folding blocks, showing a row's
worked formulas), the drawing as SVG and the bar charts as CSS. Nothing is fetched, so the file
opens offline and can be mailed. Every piece of user text goes through :func:`html.escape`.
Like the other renderers it returns text and prints nothing.
"""

from __future__ import annotations

from html import escape

from cnncalc.analysis.walk import LayerRow, Report
from cnncalc.render.draw import svg as draw_svg
from cnncalc.render.report import _bytes, _columns, _rf, _shape, _total_cells, warning_line
from cnncalc.text import printable
from cnncalc.version import __version__

__all__ = ["report_html"]

# Columns whose cells sort as numbers (by their data-v), by key.
_NUMERIC = {"index", "weights_per_neuron", "neurons", "connections", "parameters", "macs", "output_bytes",
            "receptive_field"}


def _e(text: str) -> str:
    return escape(printable(text), quote=True)


def report_html(report: Report, depth: int | None = None) -> str:
    """The whole page for ``report``. ``depth`` folds the drawing's blocks (as ``--depth``) and,
    at first, the table's; the table can unfold them again, as it has every layer's row."""
    drawing = draw_svg(report, depth)
    title = f"{report.name} — cnncalc"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f'<meta name="generator" content="cnncalc {escape(__version__)}">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(report),
        _totals(report),
        '<section id="drawing"><h2>Drawing</h2><div class="pic">',
        drawing.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1),  # HTML knows its SVG
        "</div></section>",
        _table(report, depth),
        _charts(report),
        _warnings(report),
        _spec(report),
        f'<footer>Made by cnncalc {escape(__version__)}: <code>cnncalc analyze SPEC --format html '
        "-o report.html</code>.</footer>",
        f"<script>{_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


# --- the parts --------------------------------------------------------------------------

def _header(report: Report) -> str:
    description = f'<p class="desc">{_e(report.description)}</p>' if report.description else ""
    return (f"<header><h1>{_e(report.name)}</h1>{description}"
            f'<p class="io">input {_shape(report.input_shape)} → output {_shape(report.output_shape)}'
            f" · {len(report.rows)} layers</p></header>")


def _last_field(report: Report) -> str:
    for row in reversed(report.rows):
        if row.receptive_field is not None:
            return f"{_rf(row.receptive_field)} <small>at {_e(row.name)}</small>"
    return "—"


def _totals(report: Report) -> str:
    t = report.totals
    cards = [
        ("parameters", f"{t.parameters:,}", f"{_bytes(t.parameter_bytes)} as float32; "
         "the learnable values, as torch's <code>sum(p.numel())</code>"),
        ("MACs", f"{t.macs:,}", "multiply-adds per image: one per weight of each conv or linear "
         "output, and one for its bias"),
        ("memory", _bytes(t.output_bytes), "every layer's output for one image, float32, summed"),
        ("neurons", f"{t.neurons:,}", "the lecture's units: conv, linear and pooling outputs"),
        ("connections", f"{t.connections:,}", "the lecture's count: neurons × weights per neuron "
         "(pooling: × its window); padded positions count"),
        ("receptive field", _last_field(report), "size /jump in input pixels, of the last layer "
         "that has a local field"),
    ]
    body = "".join(f'<div class="card"><div class="k">{k}</div><div class="v">{v}</div>'
                   f'<div class="why">{why}</div></div>' for k, v, why in cards)
    return f'<section id="totals"><h2>Totals</h2><div class="cards">{body}</div></section>'


def _value(row: LayerRow, key: str) -> int | None:
    if key == "receptive_field":
        return row.receptive_field[0].size if row.receptive_field is not None else -1
    if key == "weights_per_neuron" and row.layers > 1:
        return None
    value = getattr(row, key)
    return int(value) if isinstance(value, int) else None


def _cell_texts(row: LayerRow, before: str | None, report: Report) -> list[str]:
    from cnncalc.render.report import _cells

    return _cells(row, before, report.branches)


def _worked(report: Report) -> list[list[tuple[str, str, str]]]:
    """Each row's worked formulas (label, formula with numbers, note), as ``explain`` gives them."""
    from cnncalc.lecture.worked import explain_layer

    layers = report.layers
    if len(layers) != len(report.rows):
        return [[] for _ in report.rows]
    out = []
    for layer, row in zip(layers, report.rows, strict=True):
        out.append([(w.label, (f"{w.formula} = " if w.formula and w.formula != w.worked else "") + w.worked,
                     w.note) for w in explain_layer(layer, row)])
    return out


def _table(report: Report, depth: int | None) -> str:
    columns = _columns(report)
    head = "".join(f'<th data-k="{i}"{" data-num" if key in _NUMERIC else ""} title="sort">'
                   f"{escape(heading)}</th>" for i, (key, heading) in enumerate(columns))
    graph = report.graph
    calls = graph.calls if graph is not None else {}
    ids = {path: i for i, path in enumerate(calls)}
    # a call's own nesting: its position in the rows' call paths
    level: dict[str, int] = {}
    sums: dict[str, list[LayerRow]] = {}
    for row in report.rows:
        for i, path in enumerate(row.calls):
            level.setdefault(path, i)
            sums.setdefault(path, []).append(row)
    folded = {path for path in level if depth is not None and level[path] + 1 >= depth}
    worked = _worked(report)
    lines: list[str] = []
    opened: tuple[str, ...] = ()
    names = [None, *(row.name for row in report.rows)]
    width = len(columns)
    for row, before, formulas in zip(report.rows, names, worked, strict=False):
        common = 0
        while common < min(len(opened), len(row.calls)) and opened[common] == row.calls[common]:
            common += 1
        for path in row.calls[common:]:
            lines.append(_block_row(report, path, sums[path], ids, level[path], path in folded, columns,
                                    row.calls[:row.calls.index(path)]))
        opened = row.calls
        cells = _cell_texts(row, before, report)
        tds = []
        for (key, _), text in zip(columns, cells, strict=True):
            value = _value(row, key) if key in _NUMERIC else None
            attr = f' data-v="{value}"' if value is not None else ""
            pad = f' style="padding-left:{0.6 + 1.1 * len(row.calls):.1f}em"' if key == "name" else ""
            left = ' class="l"' if key in ("name", "reads", "type") else ""
            tds.append(f"<td{attr}{pad}{left}>{escape(text)}</td>")
        chain = " ".join(str(ids[p]) for p in row.calls if p in ids)
        lines.append(f'<tr class="row" data-calls="{chain}" tabindex="0">{"".join(tds)}</tr>')
        lines.append(f'<tr class="explain" hidden><td colspan="{width}">{_formulas(row, formulas)}</td></tr>')
    totals = _total_cells(report)
    foot = "".join(f"<td>{escape(text)}</td>" for text in totals)
    buttons = ('<p class="tools"><button type="button" id="unfold">unfold all</button> '
               '<button type="button" id="fold">fold all</button> '
               '<button type="button" id="order">original order</button></p>') if calls else \
        '<p class="tools"><button type="button" id="order">original order</button></p>'
    from cnncalc.render.report import _legend

    return (f'<section id="layers"><h2>Layers</h2><p class="hint">Click a row for its formulas worked with '
            f"its numbers; click a heading to sort.</p>{buttons}"
            f'<div class="scroll"><table id="table"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}'
            f'</tbody><tfoot><tr>{foot}</tr></tfoot></table></div>'
            f'<p class="legend">{escape(_legend(report))}</p></section>')


def _block_row(report: Report, path: str, rows: list[LayerRow], ids: dict[str, int], level: int,
               folded: bool, columns: tuple[tuple[str, str], ...], outer: tuple[str, ...]) -> str:
    call = report.graph.calls[path] if report.graph is not None else None
    kind = (f"{call.block} ×{call.repeat}" if call is not None and call.repeat else
            call.block if call is not None else "block")
    values = {
        "index": "", "name": path, "reads": "", "type": kind, "input_shape": _shape(rows[0].input_shape),
        "output_shape": _shape(rows[-1].output_shape), "weights_per_neuron": "",
        "neurons": f"{sum(r.neurons for r in rows):,}",
        "connections": f"{sum(r.connections for r in rows):,}",
        "parameters": f"{sum(r.parameters for r in rows):,}", "macs": f"{sum(r.macs for r in rows):,}",
        "output_bytes": _bytes(sum(r.output_bytes for r in rows)),
        "receptive_field": _rf(rows[-1].receptive_field),
    }
    tds = []
    for key, _ in columns:
        text = escape(printable(values[key]))
        if key == "name":
            mark = "▸" if folded else "▾"
            tds.append(f'<td class="l" style="padding-left:{0.6 + 1.1 * level:.1f}em">'
                       '<button type="button" class="toggle" '
                       f'aria-expanded="{"false" if folded else "true"}">{mark}</button> {text}'
                       f" <small>({len(rows)} layers)</small></td>")
        else:
            left = ' class="l"' if key == "type" else ""
            tds.append(f"<td{left}>{text}</td>")
    chain = " ".join(str(ids[p]) for p in outer if p in ids)
    state = " folded" if folded else ""
    return f'<tr class="block{state}" data-id="{ids.get(path, -1)}" data-calls="{chain}">{"".join(tds)}</tr>'


def _formulas(row: LayerRow, formulas: list[tuple[str, str, str]]) -> str:
    if not formulas:
        return f"<p>{_e(row.name)}: {row.layers} layers folded into one row; unfold the block for each.</p>"
    items = "".join(f"<dt>{escape(label)}</dt><dd><code>{escape(worked)}</code>"
                    f'{f"<br><small>{escape(note)}</small>" if note else ""}</dd>'
                    for label, worked, note in formulas)
    return f"<dl>{items}</dl>"


def _charts(report: Report) -> str:
    rows = report.rows
    if report.graph is not None and report.graph.calls:
        from cnncalc.analysis.fold import fold

        rows = fold(report, 1).rows
    charts = []
    for key, title, fmt in (("parameters", "parameters", "{:,}"), ("macs", "MACs", "{:,}"),
                            ("output_bytes", "memory (outputs, float32)", None)):
        values = [(row.name, int(getattr(row, key))) for row in rows if getattr(row, key)]
        if not values:
            continue
        top = max(v for _, v in values)
        bars = "".join(
            f'<div class="bar"><span class="n" title="{_e(name)}">{_e(name)}</span>'
            f'<span class="track"><span class="fill" style="width:{100 * v / top:.2f}%"></span></span>'
            f'<span class="val">{fmt.format(v) if fmt else _bytes(v)}</span></div>'
            for name, v in values)
        charts.append(f'<div class="chart"><h3>{escape(title)}</h3>{bars}</div>')
    per = "block" if rows is not report.rows else "layer"
    return (f'<section id="charts"><h2>Per {per}</h2><div class="charts">{"".join(charts)}</div>'
            "</section>")


def _warnings(report: Report) -> str:
    if not report.warnings:
        return '<section id="warnings"><h2>Warnings</h2><p>None.</p></section>'
    items = "".join(f"<li>{_e(warning_line(w))}</li>" for w in report.warnings)
    return f'<section id="warnings"><h2>Warnings</h2><ul>{items}</ul></section>'


def _spec(report: Report) -> str:
    if report.spec_text is None:
        return ""
    return (f'<section id="spec"><h2>Spec</h2><p class="hint">Save it as a <code>.yaml</code> file '
            f"and run <code>cnncalc analyze</code> on it to get this report again.</p>"
            f"<pre><code>{escape(report.spec_text)}</code></pre></section>")


_CSS = """
:root{--bg:#ffffff;--fg:#1d2733;--mute:#5b6672;--line:#d8dee6;--card:#f5f7fa;--accent:#3b5b7f;
--bar:#7da2cc;--hover:#eef3f9;--code:#f3f5f8}
@media (prefers-color-scheme:dark){:root{--bg:#161b22;--fg:#dde3ea;--mute:#9aa6b2;--line:#303a46;
--card:#1f2833;--accent:#8fb3dc;--bar:#4f78a6;--hover:#243040;--code:#1f2833}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1400px;padding:1.2em 1.5em 3em;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
h1{margin:.2em 0}h2{margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{margin:.2em 0 .5em;font-size:1em}
code,pre,td,.val{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:13px}
.desc,.io,.hint,.legend,footer{color:var(--mute)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:.7em}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:.6em .8em}
.card .k{color:var(--mute);font-size:.85em;text-transform:uppercase;letter-spacing:.04em}
.card .v{font-size:1.35em;font-weight:600;font-variant-numeric:tabular-nums}
.card .why{color:var(--mute);font-size:.8em}
.pic{overflow:auto;max-height:85vh;border:1px solid var(--line);border-radius:8px}
.pic svg{display:block}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%}
th,td{padding:.25em .6em;border-bottom:1px solid var(--line);text-align:right;white-space:nowrap}
td.l{text-align:left}th{text-align:center}
th{position:sticky;top:0;background:var(--bg);cursor:pointer;user-select:none}
th.asc::after{content:" ▲"}th.desc::after{content:" ▼"}
tr.row{cursor:pointer}tr.row:hover,tr.row:focus{background:var(--hover);outline:none}
tr.block td{background:var(--card);font-weight:600}
tr.explain td{text-align:left;background:var(--code);white-space:normal}
tfoot td{font-weight:700;border-top:2px solid var(--line)}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.3em 0}
dt{color:var(--mute)}dd{margin:0}
button{font:inherit;font-size:.85em;background:var(--card);color:var(--fg);border:1px solid var(--line);
border-radius:5px;padding:.1em .6em;cursor:pointer}
button.toggle{padding:0 .35em}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:1.2em}
.bar{display:grid;grid-template-columns:9em 1fr 7.5em;gap:.5em;align-items:center;font-size:13px}
.bar .n{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.track{background:var(--card);height:.8em;border-radius:3px}
.fill{display:block;height:100%;background:var(--bar);border-radius:3px;min-width:1px}
.val{text-align:right}
pre{background:var(--code);border:1px solid var(--line);border-radius:8px;padding:.8em;overflow:auto}
@media print{body{max-width:none;padding:0;font-size:11px}.tools,.hint,button{display:none}
.pic{max-height:none;overflow:visible;border:0}.pic svg{max-width:100%;height:auto}
th{position:static}section{break-inside:avoid-page}tr.explain{display:none}}
"""

_JS = """
(function(){
var table=document.getElementById("table");if(!table){return;}
var body=table.tBodies[0],all=Array.prototype.slice.call(body.rows),folded={},sorted=false;
all.forEach(function(tr){if(tr.classList.contains("folded")){folded[tr.dataset.id]=true;}});
function hiddenBy(tr){var ids=(tr.dataset.calls||"").split(" ");
for(var i=0;i<ids.length;i++){if(ids[i]!==""&&folded[ids[i]]){return true;}}return false;}
function show(){all.forEach(function(tr){
if(tr.classList.contains("explain")){var row=tr.previousElementSibling;
tr.hidden=!(tr.dataset.open==="1"&&row&&!row.hidden);return;}
if(tr.classList.contains("block")){tr.hidden=sorted||hiddenBy(tr);
var b=tr.querySelector("button.toggle"),f=!!folded[tr.dataset.id];
if(b){b.textContent=f?"\\u25b8":"\\u25be";b.setAttribute("aria-expanded",f?"false":"true");}return;}
tr.hidden=!sorted&&hiddenBy(tr);});}
function restore(){sorted=false;all.forEach(function(tr){body.appendChild(tr);});
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th){th.classList.remove("asc","desc");});show();}
function sortBy(th){var k=+th.dataset.k,num=th.hasAttribute("data-num"),asc=!th.classList.contains("asc");
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(c){c.classList.remove("asc","desc");});
th.classList.add(asc?"asc":"desc");
var rows=all.filter(function(tr){return tr.classList.contains("row");});
rows.sort(function(a,b){var x=a.cells[k],y=b.cells[k],r;
if(num){r=(+(x.dataset.v||-1))-(+(y.dataset.v||-1));}else{r=x.textContent.localeCompare(y.textContent);}
return asc?r:-r;});
sorted=true;rows.forEach(function(tr){body.appendChild(tr);body.appendChild(tr.nextElementSibling&&
tr.nextElementSibling.classList.contains("explain")?tr.nextElementSibling:explainOf(tr));});
all.forEach(function(tr){if(tr.classList.contains("block")){body.appendChild(tr);}});show();}
function explainOf(tr){var i=all.indexOf(tr);return all[i+1];}
table.tHead.addEventListener("click",function(e){var th=e.target.closest("th");if(!th){return;}
if(th.dataset.k==="0"&&th.classList.contains("asc")){restore();return;}sortBy(th);});
body.addEventListener("click",function(e){var tr=e.target.closest("tr");if(!tr){return;}
if(tr.classList.contains("block")){var id=tr.dataset.id;folded[id]=!folded[id];show();return;}
if(tr.classList.contains("row")){var ex=explainOf(tr);
ex.dataset.open=ex.dataset.open==="1"?"0":"1";show();}});
body.addEventListener("keydown",function(e){if(e.key==="Enter"&&e.target.classList.contains("row")){e.target.click();}});
function each(v){all.forEach(function(tr){
if(tr.classList.contains("block")){folded[tr.dataset.id]=v;}});show();}
var u=document.getElementById("unfold"),f=document.getElementById("fold"),o=document.getElementById("order");
if(u){u.addEventListener("click",function(){each(false);});}
if(f){f.addEventListener("click",function(){each(true);});}
if(o){o.addEventListener("click",restore);}
show();document.documentElement.setAttribute("data-ready","yes");
})();
"""
