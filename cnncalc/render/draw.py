"""Pictures of a network: SVG (and DOT) text drawn from a :class:`~cnncalc.analysis.walk.Report`.

A chain (LeNet, AlexNet, VGG) is drawn as the lecture draws it: one stack of squares per feature
map, its side proportional to the map's size (square-root scale when sizes span a wide range), at
most a dozen maps per stack with the true count in its ``C@H×W`` label, the kernel window on the
front map with lines to the unit it feeds, the operation between stacks, and the fully connected
layers as bars. A network that branches is drawn as a layered graph, top to bottom: one box per
row (a layer or a folded block), merges as ⊕, ⊗ and concat nodes, each edge labelled with the
shape it carries, skips routed in lanes of their own. The layout is computed here (longest-path
layers, barycentre ordering); no graphviz is needed, though :func:`dot` writes DOT for it.

Everything returns text and prints nothing. Every piece of user text (names, the description)
goes through :func:`html.escape` (``&``, ``<``, ``>`` and both quotes, which XML reads the same
way) and is shown printable, never as markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise
from typing import Any

from cnncalc.analysis.walk import LayerRow, Report
from cnncalc.text import printable

__all__ = ["Drawing", "dot", "draw", "operation", "shape_text", "svg"]

FONT = 12  # px, the labels; the small text is 10.5
_CHAR = 0.62  # a monospace character's width in ems (DejaVu Sans Mono 0.602, Menlo 0.602)
MAX_MAPS = 12  # squares drawn per stack at most; the label gives the true count

# Types that make a new stack of maps in a chain; element-wise layers (relu, batch norm, dropout,
# LRN) keep their input's maps and are named under the operation they follow.
_RESAMPLING = {"conv2d", "maxpool2d", "avgpool2d", "adaptiveavgpool2d", "adaptivemaxpool2d",
               "zeropad2d", "convtranspose2d", "upsample", "globalavgpool", "subsampling",
               "centercrop", "opaque"}
_MERGE_MARK = {"add": "⊕", "mul": "⊗"}
_SHORT = {"localresponsenorm": "LRN", "batchnorm2d": "BN", "batchnorm1d": "BN"}

_STYLE = """
.cc-bg{fill:#ffffff}
.cc-t{font:12px ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;fill:#1d2733}
.cc-s{font-size:10.5px;fill:#56616d}
.cc-b{font-weight:bold}
.cc-h{font-size:14px;font-weight:bold}
.cc-map{fill:#d5e3f3;stroke:#3b5b7f;stroke-width:1}
.cc-front{fill:#edf3fa}
.cc-win{fill:#d6454133;stroke:#c0392b;stroke-width:1.2}
.cc-ray{stroke:#c0392b;stroke-width:1;fill:none}
.cc-unit{fill:#c0392b}
.cc-fan{stroke:#9aa6b2;stroke-width:.8;fill:none}
.cc-bar{fill:#f2d7a0;stroke:#8a6d2b;stroke-width:1}
.cc-box{fill:#f3f6fa;stroke:#3b5b7f;stroke-width:1.2}
.cc-block{fill:#e6eef8;stroke:#3b5b7f;stroke-width:1.2;stroke-dasharray:4 2}
.cc-merge{fill:#fff6e0;stroke:#8a6d2b;stroke-width:1.2}
.cc-param{fill:#fbf3e2;stroke:#8a6d2b;stroke-width:1.2;stroke-dasharray:2 2}
.cc-opaque{fill:#eceef1;stroke:#6b7480;stroke-width:1.2;stroke-dasharray:6 3}
.cc-edge{fill:none;stroke:#55606b;stroke-width:1.3}
.cc-skip{stroke:#c0392b}
.cc-arrow{fill:#55606b}
.cc-halo{paint-order:stroke;stroke:#ffffff;stroke-width:3px;stroke-linejoin:round}
@media (prefers-color-scheme:dark){
.cc-bg{fill:#161b22}
.cc-t{fill:#dde3ea}
.cc-s{fill:#9aa6b2}
.cc-map{fill:#23384f;stroke:#8fb3dc}
.cc-front{fill:#2d4763}
.cc-win{fill:#ff6b5e44;stroke:#ff7b6e}
.cc-ray{stroke:#ff7b6e}
.cc-unit{fill:#ff7b6e}
.cc-fan{stroke:#5d6873}
.cc-bar{fill:#5c4a22;stroke:#d9b86a}
.cc-box{fill:#1f2833;stroke:#8fb3dc}
.cc-block{fill:#23384f;stroke:#8fb3dc}
.cc-merge{fill:#3a3220;stroke:#d9b86a}
.cc-param{fill:#2e2718;stroke:#d9b86a}
.cc-opaque{fill:#262b31;stroke:#9aa6b2}
.cc-edge{stroke:#9aa6b2}
.cc-skip{stroke:#ff7b6e}
.cc-arrow{fill:#9aa6b2}
.cc-halo{stroke:#161b22}
}
@media print{.cc-bg{fill:#ffffff}}
"""


@dataclass(frozen=True)
class Drawing:
    """A network's picture: ``svg`` and ``dot`` text. Jupyter shows it as its SVG."""

    name: str
    svg: str
    dot: str

    def _repr_svg_(self) -> str:
        return self.svg

    def __str__(self) -> str:
        return self.svg


def draw(report: Report, depth: int | None = None) -> Drawing:
    """The drawing of ``report``, with block calls deeper than ``depth`` folded into one box."""
    report = _folded(report, depth)
    return Drawing(name=report.name, svg=svg(report), dot=dot(report))


def _folded(report: Report, depth: int | None) -> Report:
    if depth is None or report.depth == depth:
        return report
    from cnncalc.analysis.fold import fold

    return fold(report, depth)


# --- text shared by both pictures ----------------------------------------------------------

def shape_text(shape: Sequence[int]) -> str:
    """``6@28×28`` for maps, ``120`` for features: the lecture's way of writing a layer's size."""
    if len(shape) == 3:
        return f"{shape[0]}@{shape[1]}×{shape[2]}"
    return "×".join(str(s) for s in shape)


def _pair(value: Any) -> tuple[int, int] | None:
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, (list, tuple)):
        return (int(value[0]), int(value[1])) if len(value) == 2 else None
    return int(value), int(value)


def _size(pair: tuple[int, int]) -> str:
    return f"{pair[0]}" if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def _window(pair: tuple[int, int]) -> str:
    return f"{pair[0]}×{pair[1]}"


def operation(row: LayerRow, layer: Any) -> str:
    """What a row does to its input, in the lecture's words: ``conv 5×5``, ``max-pool 2×2 /2``."""
    if layer is None or row.layers > 1:
        return row.type
    kernel = _pair(getattr(layer, "kernel_size", None))
    stride = _pair(getattr(layer, "stride", None)) or kernel  # pooling's stride defaults to its window
    step = f" /{_size(stride)}" if stride and stride != (1, 1) else ""
    names = {"conv2d": "conv", "maxpool2d": "max-pool", "avgpool2d": "avg-pool",
             "convtranspose2d": "conv-T", "subsampling": "subsample"}
    if row.type in names and kernel is not None:
        return f"{names[row.type]} {_window(kernel)}{step}"
    if row.type in ("adaptiveavgpool2d", "adaptivemaxpool2d", "globalavgpool"):
        kind = "max" if "max" in row.type else "avg"
        return f"{kind}-pool → {shape_text(row.output_shape[1:])}" if len(row.output_shape) == 3 \
            else f"{kind}-pool"
    if row.type == "upsample":
        return f"upsample → {row.output_shape[1]}×{row.output_shape[2]}" \
            if len(row.output_shape) == 3 else "upsample"
    if row.type == "zeropad2d":
        return "zero-pad"
    if row.type == "linear":
        return "fc"
    if row.type == "opaque" and getattr(layer, "module", None):
        return f"opaque {str(layer.module).rpartition('.')[2]}"
    return row.type


def _label(text: str) -> str:
    return escape(printable(text), quote=False)


def _width(text: str, size: float = FONT) -> float:
    return len(text) * size * _CHAR


def _text(x: float, y: float, text: str, cls: str = "cc-t", anchor: str = "middle") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" class="{escape(cls)}" '
            f'text-anchor="{anchor}">{_label(text)}</text>')


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    width, height = math.ceil(width), math.ceil(height)
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(printable(title))}">',
        f"<title>{_label(title)}</title>",
        f"<style>{_STYLE}</style>",
        '<defs><marker id="cc-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path class="cc-arrow" d="M0,1 L10,5 L0,9 z"/>'
        "</marker></defs>",
        f'<rect class="cc-bg" x="0" y="0" width="{width}" height="{height}"/>',
        *body,
        "</svg>",
    ]) + "\n"


def _is_chain(rows: Sequence[LayerRow]) -> bool:
    before = "input"
    for row in rows:
        if tuple(row.inputs) != (before,):
            return False
        before = row.name
    return True


def svg(report: Report, depth: int | None = None) -> str:
    """The SVG text of the drawing: stacks for a chain, a layered graph for a network that branches."""
    report = _folded(report, depth)
    if _is_chain(report.rows):
        return _chain_svg(report)
    return _graph_svg(report)


def _layers_by_name(report: Report) -> dict[str, Any]:
    return {node.path: node.layer for node in report.graph.nodes} if report.graph is not None else {}


def _title(report: Report) -> str:
    return (f"{report.name}: {shape_text(report.input_shape)} → {shape_text(report.output_shape)}, "
            f"{report.totals.parameters:,} parameters")


# --- a chain: the lecture's stacks ---------------------------------------------------------

@dataclass
class _Item:
    """One stack of maps (shape [C, H, W]) or one bar (shape [F]) of a chain, and how it was made."""

    name: str
    shape: tuple[int, ...]
    op: str = ""  # the operation that made it from the item before
    kernel: tuple[int, int] | None = None  # that operation's window, drawn on the item before
    after: list[str] = field(default_factory=list)  # element-wise layers that follow it
    x: float = 0.0  # its left edge
    w: float = 0.0  # its drawn width (the column may be wider, for labels)
    h: float = 0.0  # its drawn height
    col: float = 0.0  # the column's width
    side: tuple[float, float] = (0.0, 0.0)  # a map's width and height
    maps: int = 0


def _chain_items(report: Report) -> list[_Item]:
    layers = _layers_by_name(report)
    items = [_Item("input", tuple(report.input_shape))]
    pending: list[str] = []  # flatten and friends, named with the next operation
    for row in report.rows:
        layer = layers.get(row.name)
        out = tuple(row.output_shape)
        last = items[-1]
        resamples = row.type in _RESAMPLING or row.layers > 1
        if len(out) == 3 and (resamples or out != last.shape):
            op = operation(row, layer)
            kernel = _pair(getattr(layer, "kernel_size", None)) if row.type in _RESAMPLING else None
            items.append(_Item(row.name, out, op=" → ".join([*pending, op]), kernel=kernel))
            pending = []
        elif len(out) == 1 and (row.parameters or row.neurons or row.layers > 1) and row.type != "flatten":
            items.append(_Item(row.name, out, op=" → ".join([*pending, operation(row, layer)])))
            pending = []
        elif row.type == "flatten" or (out != last.shape and len(out) != len(last.shape)):
            pending.append(f"{row.type} {shape_text(out)}")
        else:
            last.after.append(_SHORT.get(row.type, row.type))
        if row.activation and items[-1].name == row.name:
            items[-1].after.insert(0, row.activation)
    return items


def _chain_svg(report: Report) -> str:
    items = _chain_items(report)
    maps = [item for item in items if len(item.shape) == 3]
    sizes = [max(item.shape[1], item.shape[2]) for item in maps] or [1]
    biggest, smallest = max(sizes), max(1, min(sizes))
    root = biggest / smallest > 8
    top = 130.0  # px, the biggest map's side

    def side(n: int) -> float:
        scaled = top * (math.sqrt(n / biggest) if root else n / biggest)
        return max(8.0, scaled)

    step = 5.0  # px between the maps of a stack
    bar_w = 16.0
    for item in items:
        if len(item.shape) == 3:
            c, h, w = item.shape
            item.maps = min(c, MAX_MAPS)
            item.side = (side(w), side(h))
            item.w = item.side[0] + (item.maps - 1) * step
            item.h = item.side[1] + (item.maps - 1) * step
        else:
            features = item.shape[0] if item.shape else 1
            item.w = bar_w
            item.h = min(170.0, 24.0 + 34.0 * math.log10(max(features, 1)))
        labels = [shape_text(item.shape), item.name]
        item.col = max(item.w, *(_width(t) for t in labels)) + 8
    tallest = max(item.h for item in items)
    margin, head = 16.0, 34.0
    cy = head + 24 + tallest / 2  # the stacks' common centre line
    x = margin
    gaps: list[tuple[float, float]] = []
    for i, item in enumerate(items):
        if i:
            words = [item.op, " · ".join(item.after)]
            gap = max(56.0, *(_width(t, 10.5 if j else FONT) + 14 for j, t in enumerate(words)))
            gaps.append((x, x + gap))
            x += gap
        item.x = x + (item.col - item.w) / 2
        x += item.col
    width = x + margin
    names_y = cy + tallest / 2 + 20
    height = names_y + 52

    body = [_text(margin, 24, _title(report), "cc-t cc-h", "start")]
    for item in items:
        y0 = cy - item.h / 2
        centre = item.x + item.w / 2
        if len(item.shape) == 3:
            mw, mh = item.side
            for k in range(item.maps):
                cls = "cc-map cc-front" if k == item.maps - 1 else "cc-map"
                body.append(f'<rect class="{cls}" x="{item.x + k * step:.1f}" y="{y0 + k * step:.1f}" '
                            f'width="{mw:.1f}" height="{mh:.1f}"/>')
        else:
            body.append(f'<rect class="cc-bar" x="{item.x:.1f}" y="{y0:.1f}" width="{item.w:.1f}" '
                        f'height="{item.h:.1f}"/>')
        body.append(_text(centre, y0 - 8, shape_text(item.shape)))
        body.append(_text(centre, names_y, item.name, "cc-t cc-b"))
    for (left, right), before, item in zip(gaps, items, items[1:], strict=False):
        middle = (left + right) / 2
        body.extend(_connection(before, item, cy, step))
        body.append(_text(middle, names_y + 18, item.op))
        if item.after:
            body.append(_text(middle, names_y + 33, " · ".join(item.after), "cc-t cc-s"))
    return _svg(width, height, _title(report), body)


def _front(item: _Item, cy: float, step: float) -> tuple[float, float, float, float]:
    """The front map's (or bar's) x, y, width and height."""
    if len(item.shape) != 3:
        return item.x, cy - item.h / 2, item.w, item.h
    offset = (item.maps - 1) * step
    return item.x + offset, cy - item.h / 2 + offset, item.side[0], item.side[1]


def _connection(before: _Item, item: _Item, cy: float, step: float) -> list[str]:
    """The kernel window on ``before``'s front map and lines to the unit it feeds in ``item``;
    a fan of lines where a layer is fully connected."""
    bx, by, bw, bh = _front(before, cy, step)
    ix, iy, iw, ih = _front(item, cy, step)
    if len(before.shape) == 3 and len(item.shape) == 3 and item.kernel is not None:
        per_w, per_h = bw / before.shape[2], bh / before.shape[1]
        kw = min(bw, max(4.0, item.kernel[1] * per_w))
        kh = min(bh, max(4.0, item.kernel[0] * per_h))
        wx, wy = bx + bw * 0.62 - kw / 2, by + bh * 0.55 - kh / 2
        wx, wy = max(bx, min(wx, bx + bw - kw)), max(by, min(wy, by + bh - kh))
        ux = ix + iw * ((wx + kw / 2 - bx) / bw)
        uy = iy + ih * ((wy + kh / 2 - by) / bh)
        unit = max(2.5, min(iw / item.shape[2], 6.0))
        return [
            f'<rect class="cc-win" x="{wx:.1f}" y="{wy:.1f}" width="{kw:.1f}" height="{kh:.1f}"/>',
            f'<path class="cc-ray" d="M{wx + kw:.1f},{wy:.1f} L{ux:.1f},{uy:.1f} '
            f'M{wx + kw:.1f},{wy + kh:.1f} L{ux:.1f},{uy:.1f}"/>',
            f'<rect class="cc-unit" x="{ux - unit / 2:.1f}" y="{uy - unit / 2:.1f}" '
            f'width="{unit:.1f}" height="{unit:.1f}"/>',
        ]
    right = bx + bw
    return [f'<path class="cc-fan" d="M{right:.1f},{by:.1f} L{ix:.1f},{iy:.1f} '
            f'M{right:.1f},{by + bh:.1f} L{ix:.1f},{iy + ih:.1f}"/>']


# --- a network that branches: a layered graph ------------------------------------------------

@dataclass
class _Node:
    key: str
    lines: tuple[str, ...] = ()  # name, then the operation (empty for a dummy)
    kind: str = "box"  # box, block, merge (⊕ ⊗), concat, dummy
    mark: str = ""
    shape: tuple[int, ...] = ()
    rank: int = 0
    order: float = 0.0
    x: float = 0.0  # centre
    w: float = 0.0  # the node's own width
    reserve: float = 0.0  # width kept free beside it (a merge's name, on its right)
    preds: list[tuple[str, float]] = field(default_factory=list)  # (key, weight)
    succs: list[tuple[str, float]] = field(default_factory=list)


_BOX_H, _GAP_Y, _GAP_X, _MERGE_R = 36.0, 34.0, 22.0, 12.0


def _graph_nodes(report: Report) -> tuple[dict[str, _Node], list[list[str]], list[tuple[list[str], bool]]]:
    """The nodes (dummies included), their ranks, and each edge as the keys it runs through."""
    layers = _layers_by_name(report)
    nodes: dict[str, _Node] = {"input": _Node("input", ("input",), shape=tuple(report.input_shape),
                                              w=_width("input") + 18)}
    rows = {row.name: row for row in report.rows}
    for row in report.rows:
        layer = layers.get(row.name)
        node = _Node(row.name, shape=tuple(row.output_shape))
        if row.type in _MERGE_MARK and row.layers == 1:
            node.kind, node.mark, node.lines = "merge", _MERGE_MARK[row.type], (row.name,)
            node.w = 2 * _MERGE_R
            node.reserve = _width(row.name, 10.5) + 6
        elif row.type == "concat" and row.layers == 1:
            node.kind, node.lines = "concat", (row.name, "concat")
        else:
            detail = operation(row, layer)
            if row.activation:
                detail += f" + {row.activation}"
            if row.layers > 1:
                node.kind = "block"
                detail += f" ({row.layers} layers)"
            elif row.type in ("parameter", "opaque"):  # a learned tensor; a module not seen inside
                node.kind = row.type
                if row.type == "parameter":
                    detail = f"parameter {shape_text(row.output_shape)}"
            node.lines = (row.name, detail)
        if node.kind != "merge":
            node.w = max(_width(node.lines[0]), _width(node.lines[-1], 10.5)) + 18
        node.rank = 1 + max((nodes[i].rank for i in row.inputs if i in nodes), default=0)
        nodes[row.name] = node
    for row in report.rows:  # a parameter (it reads nothing) sits just above its first reader
        if not row.inputs and row.name in nodes:
            readers = [nodes[r.name].rank for r in report.rows if row.name in r.inputs and r.name in nodes]
            if readers:
                nodes[row.name].rank = max(1, min(readers) - 1)
    edges: list[tuple[list[str], bool]] = []
    for row in report.rows:
        sources = [source for source in dict.fromkeys(row.inputs) if source in nodes]
        # The spine runs through the input computed last (the deepest): a residual add's conv
        # path, a dense block's new features, U-Net's cropped skip beside its up-convolution.
        # The others arrive as skips, whatever order ``from`` lists them in.
        primary = max(sources, key=lambda source: nodes[source].rank, default=None)
        for source in sources:
            position = 0 if source == primary else 1
            weight = 1.0 if position == 0 else 0.02
            path = [source]
            for rank in range(nodes[source].rank + 1, nodes[row.name].rank):
                key = f"\0{source}\0{row.name}\0{rank}"
                nodes[key] = _Node(key, kind="dummy", rank=rank, w=6.0)
                path.append(key)
            path.append(row.name)
            for a, b in pairwise(path):
                nodes[a].succs.append((b, weight))
                nodes[b].preds.append((a, weight))
            skip = position > 0 or len(path) > 2
            edges.append((path, skip))
    del rows
    ranks: list[list[str]] = [[] for _ in range(max(n.rank for n in nodes.values()) + 1)]
    for key, node in nodes.items():
        ranks[node.rank].append(key)
    return nodes, ranks, edges


def _order(nodes: dict[str, _Node], ranks: list[list[str]]) -> None:
    """Barycentre sweeps, down and up, to reduce crossings; positions in ``node.order``."""
    for rank in ranks:
        for i, key in enumerate(rank):
            nodes[key].order = float(i)
    for sweep in range(8):
        down = sweep % 2 == 0
        sequence = ranks[1:] if down else ranks[-2::-1]
        for rank in sequence:
            def centre(key: str, down: bool = down) -> float:
                node = nodes[key]
                near = node.preds if down else node.succs
                if not near:
                    return node.order
                total = sum(w for _, w in near)
                return sum(nodes[k].order * w for k, w in near) / total
            rank.sort(key=lambda key: (centre(key), nodes[key].order))
            for i, key in enumerate(rank):
                nodes[key].order = float(i)


def _place(nodes: dict[str, _Node], ranks: list[list[str]]) -> None:
    """x for every node: each pulled towards its neighbours, never closer than the gap allows."""
    for rank in ranks:
        x = 0.0
        for key in rank:
            node = nodes[key]
            node.x = x + node.w / 2
            x += node.w + node.reserve + _GAP_X

    def separated(rank: list[str], wanted: list[float], leftmost_first: bool = False) -> list[float]:
        # the mean of a left-to-right and a right-to-left packing: both keep every gap, so does it
        # (or the left-to-right packing alone, which gives the leftmost node exactly what it wants)
        gaps = [(nodes[a].w + nodes[b].w) / 2 + nodes[a].reserve + _GAP_X for a, b in pairwise(rank)]
        left = list(wanted)
        for i in range(1, len(rank)):
            left[i] = max(left[i], left[i - 1] + gaps[i - 1])
        if leftmost_first:
            return left
        right = list(wanted)
        for i in range(len(rank) - 2, -1, -1):
            right[i] = min(right[i], right[i + 1] - gaps[i])
        return [(a + b) / 2 for a, b in zip(left, right, strict=True)]

    for sweep in range(12):
        down = sweep % 2 == 0
        for rank in (ranks[1:] if down else ranks[-2::-1]):
            wanted = []
            for key in rank:
                node = nodes[key]
                near = node.preds if down else node.succs
                if near:
                    total = sum(w for _, w in near)
                    wanted.append(sum(nodes[k].x * w for k, w in near) / total)
                else:
                    wanted.append(node.x)
            for key, x in zip(rank, separated(rank, wanted), strict=True):
                nodes[key].x = x
    # Last, straight spines: each node under its first input where the gaps allow (the leftmost
    # wins), and each skip's lane as close to the nodes on its left as they allow.
    for rank in ranks[1:]:
        wanted = []
        for key in rank:
            node = nodes[key]
            primary = [k for k, w in node.preds if w == 1.0]
            wanted.append(-math.inf if node.kind == "dummy" else nodes[primary[0]].x if primary else node.x)
        if wanted and wanted[0] == -math.inf:
            wanted[0] = nodes[rank[0]].x
        for key, x in zip(rank, separated(rank, wanted, leftmost_first=True), strict=True):
            nodes[key].x = x
    _straighten(nodes, ranks)


def _straighten(nodes: dict[str, _Node], ranks: list[list[str]]) -> None:
    """Each skip's lane at one x (its dummies' rightmost), where that runs into no node."""
    right_of: dict[str, str] = {a: b for rank in ranks for a, b in pairwise(rank)}
    lanes: dict[str, list[str]] = {}
    for key, node in nodes.items():
        if node.kind == "dummy":
            lanes.setdefault(key.rsplit("\0", 1)[0], []).append(key)
    for keys in lanes.values():
        x = max(nodes[k].x for k in keys)
        free = True
        for k in keys:
            neighbour = nodes.get(right_of.get(k, ""))
            if neighbour is not None and x + nodes[k].w / 2 + _GAP_X > neighbour.x - neighbour.w / 2:
                free = False
        if free:
            for k in keys:
                nodes[k].x = x


def _graph_svg(report: Report) -> str:
    nodes, ranks, edges = _graph_nodes(report)
    _order(nodes, ranks)
    _place(nodes, ranks)
    margin, head = 20.0, 44.0
    left = min(n.x - max(n.w / 2, 5 + _width(shape_text(n.shape), 10.5)) for n in nodes.values())
    right = max(n.x + n.w / 2 + n.reserve for n in nodes.values())
    shift = margin - left
    for node in nodes.values():
        node.x += shift
    title = _title(report)
    width = max(right + shift + margin, _width(title, 14) + 2 * margin)
    height = head + len(ranks) * (_BOX_H + _GAP_Y) + margin

    def top(node: _Node) -> float:
        return head + node.rank * (_BOX_H + _GAP_Y) + (_BOX_H / 2 - _MERGE_R if node.kind == "merge" else 0)

    def bottom(node: _Node) -> float:
        return top(node) + (2 * _MERGE_R if node.kind == "merge" else _BOX_H)

    body = [_text(margin, 26, title, "cc-t cc-h", "start")]
    labelled: set[str] = set()
    labels: list[str] = []
    for path, skip in edges:
        points = []
        for i, key in enumerate(path):
            node = nodes[key]
            if node.kind == "dummy":
                points += [(node.x, top(node) - 2), (node.x, top(node) + _BOX_H + 2)]
            elif i == 0:
                points.append((node.x, bottom(node)))
            else:
                points.append((node.x, top(node) - 1))
        d = f"M{points[0][0]:.1f},{points[0][1]:.1f}"
        for (x0, y0), (x1, y1) in pairwise(points):
            if x0 == x1:
                d += f" L{x1:.1f},{y1:.1f}"
            else:
                bend = (y1 - y0) / 2
                d += f" C{x0:.1f},{y0 + bend:.1f} {x1:.1f},{y1 - bend:.1f} {x1:.1f},{y1:.1f}"
        cls = "cc-edge cc-skip" if skip else "cc-edge"
        body.append(f'<path class="{cls}" d="{d}" marker-end="url(#cc-arrow)"/>')
        source = nodes[path[0]]
        if path[0] not in labelled:
            labelled.add(path[0])
            labels.append(_text(source.x - 5, bottom(source) + 13, shape_text(source.shape),
                                "cc-t cc-s cc-halo", "end"))
    for node in nodes.values():
        y = top(node)
        if node.kind == "dummy":
            continue
        if node.kind == "merge":
            cx, cyy = node.x, y + _MERGE_R
            body.append(f'<circle class="cc-merge" cx="{cx:.1f}" cy="{cyy:.1f}" r="{_MERGE_R:.1f}"/>')
            body.append(_text(cx, cyy + 5, node.mark, "cc-t cc-h"))
            body.append(_text(cx + _MERGE_R + 5, cyy + 4, node.lines[0], "cc-t cc-s cc-halo cc-name",
                              "start"))
            continue
        cls = {"block": "cc-block", "concat": "cc-merge", "parameter": "cc-param",
               "opaque": "cc-opaque"}.get(node.kind, "cc-box")
        body.append(f'<rect class="{cls}" x="{node.x - node.w / 2:.1f}" y="{y:.1f}" width="{node.w:.1f}" '
                    f'height="{_BOX_H:.1f}" rx="5"/>')
        if len(node.lines) == 1:
            body.append(_text(node.x, y + _BOX_H / 2 + 4, node.lines[0], "cc-t cc-b cc-name"))
        else:
            body.append(_text(node.x, y + 15, node.lines[0], "cc-t cc-b cc-name"))
            body.append(_text(node.x, y + 29, node.lines[1], "cc-t cc-s"))
    body += labels
    output = nodes[report.rows[-1].name] if report.rows else nodes["input"]
    body.append(_text(output.x - 5, bottom(output) + 13, shape_text(output.shape), "cc-t cc-s cc-halo",
                      "end"))
    return _svg(width, height + 16, title, body)


# --- DOT --------------------------------------------------------------------------------------

def _dot_string(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, every character printable."""
    return '"' + printable(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot(report: Report, depth: int | None = None) -> str:
    """The network as Graphviz DOT text (``dot -Tsvg``), one node per row, edges labelled with shapes."""
    report = _folded(report, depth)
    layers = _layers_by_name(report)
    shapes = {"input": tuple(report.input_shape),
              **{row.name: tuple(row.output_shape) for row in report.rows}}
    lines = [f"digraph {_dot_string(report.name)} {{",
             "  rankdir=TB;",
             '  node [shape=box, style=rounded, fontname="monospace", fontsize=11];',
             '  edge [fontname="monospace", fontsize=9];',
             f"  {_dot_string('input')} [label={_dot_string('input')}];"]
    for row in report.rows:
        if row.type in _MERGE_MARK and row.layers == 1:
            attributes = (f"label={_dot_string(_MERGE_MARK[row.type])}, shape=circle, "
                          f"tooltip={_dot_string(row.name)}")
        else:
            label = _dot_string(row.name)[:-1] + "\\n" + _dot_string(operation(row, layers.get(row.name)))[1:]
            attributes = f"label={label}"
        lines.append(f"  {_dot_string(row.name)} [{attributes}];")
    for row in report.rows:
        for source in dict.fromkeys(row.inputs):
            lines.append(f"  {_dot_string(source)} -> {_dot_string(row.name)} "
                         f"[label={_dot_string(shape_text(shapes.get(source, ())))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
