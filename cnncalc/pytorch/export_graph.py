"""Export of a network that branches or uses blocks: one ``nn.Module`` class per block.

:func:`cnncalc.pytorch.export.to_torch` calls :func:`write` for a spec whose network is
more than a chain of plain layers. The file it writes has

- one class per block definition the network uses, and one for the network;
- module paths equal to the spec's path names (``layer2.0.downsample.0``): a call is a
  child module, a repeat an ``nn.Sequential`` of its instances, and a dotted name a child of
  a container (``downsample``) holding ``0`` and ``1``; so the ``state_dict`` keys are those
  of the spec's paths, as torchvision names its modules where the spec follows it;
- an ``__init__`` per class that takes what varies between the block's calls: the block's
  parameters and the channels of its input, as far as its layers use them. The spec's
  ``$p`` and ``${...}`` values become Python expressions (decimals and ``/`` exact, with
  ``fractions.Fraction``; ``make_divisible`` written into the file) and its ``when``
  conditions ``if`` statements;
- a ``forward`` that reads like the block's entries, in order, each skip visible.

Every expression written is checked here, at export time, against every call of its block:
evaluated with cnncalc's own evaluator, it must give the value the expanded network has.
What cannot be written so (a layer whose very type differs between calls, a size that
depends on the input's height) is passed in by the caller instead: the argument is then the
module itself (``conv1=nn.Conv2d(...)``), built by the caller, as cnncalc computed it.

Text generation only: torch is never imported.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncalc.analysis.walk import Report
from cnncalc.errors import CnncalcError
from cnncalc.graph import INPUT, SOURCES, Entry, Graph, Node
from cnncalc.pytorch import export_chain as base
from cnncalc.pytorch.bridge import INPLACE, NN_MODULE_ATTRIBUTES, is_flat, unique_names
from cnncalc.spec.expressions import EXPRESSION, PARAMETER, ExpressionError, evaluate, refers
from cnncalc.spec.models import LAYER_MODELS, Spec, canonical_type

__all__ = ["MERGE_SOURCE", "ExportUnsupported", "structured", "write"]

Shape = tuple[int, ...]
Expr = base.Expr
_Call = base._Call
_List = base._List

CALL_KEYS = frozenset({"block", "name", "from", "when", "repeat", "first"})
SENTINEL = 987_654_321  # an input size no layer has: where it shows, the argument is an input size
# Names the generated code uses itself: a parameter named so gets a trailing '_' in Python.
_RESERVED_NAMES = frozenset({"self", "input", "inputs", "x", "nn", "torch", "F", "math", "Fraction",
                             "OrderedDict", "make_divisible", *dir(builtins)})

MERGE_SOURCE = {
    "Add": '''class Add(nn.Module):
    """The sum of its inputs, broadcast as torch does (a residual connection)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out + x
        return out''',
    "Mul": '''class Mul(nn.Module):
    """The product of its inputs, broadcast as torch does (a squeeze-and-excitation gate)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        out = inputs[0]
        for x in inputs[1:]:
            out = out * x
        return out''',
    "Concat": '''class Concat(nn.Module):
    """Its inputs joined along the channels (the features, for flat inputs)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=1)''',
    "CenterCrop": '''class CenterCrop(nn.Module):
    """Its first input cut to the height and width of its second, centred (the original U-Net)."""

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        height, width = like.shape[-2:]
        top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
        return x[..., top:top + height, left:left + width]''',
}

MAKE_DIVISIBLE = '''def make_divisible(v: int | Fraction, d: int = 8) -> int:
    """The MobileNet/EfficientNet channel rule: v rounded to a multiple of d, never below 90 %."""
    rounded = max(d, math.floor(v + Fraction(d, 2)) // d * d)
    if rounded < Fraction(9, 10) * v:
        rounded += d
    return rounded'''


# The layer types whose output channels are not their (first) input's.
_RESHAPING = frozenset({"conv2d", "convtranspose2d", "linear", "rbf", "subsampling", "flatten", "concat"})


class ExportUnsupported(CnncalcError):
    """A spec this exporter cannot write as classes (the message says what and why)."""


def structured(report: Report) -> bool:
    """Whether the network is written as classes: it branches, or it calls blocks. A chain of
    plain layers keeps the single flat class it always had (as build keeps its Sequential)."""
    return not is_flat(report)


# --- values ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Instance:
    """One call of a block (or the network itself, path "")."""

    path: str
    params: Mapping[str, Any]
    input: str  # the graph path it reads
    shape: Shape  # that input's shape
    top: bool = False

    @property
    def prefix(self) -> str:
        return self.path + "." if self.path else ""

    def names(self) -> dict[str, Any]:
        names = dict(self.params)
        if not self.top:
            names["in_channels"] = self.shape[0]
            if len(self.shape) == 3:
                names["in_height"], names["in_width"] = self.shape[1], self.shape[2]
        return names


def _plain(value: Any) -> Any:
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def _resolve(value: Any, inst: _Instance) -> Any:
    """A written value with ``$p`` and ``"${...}"`` resolved, as expansion did."""
    if isinstance(value, str):
        expression = EXPRESSION.fullmatch(value)
        if expression:
            return _plain(evaluate(expression.group(1), inst.names()))
        parameter = PARAMETER.fullmatch(value)
        if parameter:
            return inst.params[parameter.group(1)]
        return value
    if isinstance(value, list):
        return [_resolve(item, inst) for item in value]
    return value


def _text(value: Any) -> str | None:
    """A written value as an expression of the spec's language: ``$c`` → ``c``, ``"${c * 2}"`` →
    ``(c * 2)``, a literal number or word as itself; None for anything else (a list)."""
    if isinstance(value, str):
        expression = EXPRESSION.fullmatch(value)
        if expression:
            return "(" + expression.group(1).strip() + ")"
        parameter = PARAMETER.fullmatch(value)
        if parameter:
            return parameter.group(1)
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return None


def _candidates(value: Any) -> list[str]:
    """The expressions a written field offers for the values it gave (each item of a list)."""
    if isinstance(value, list):
        return [t for item in value if refers(item) for t in _candidates(item)]
    text = _text(value) if refers(value) else None
    return [text] if text is not None else []


def _same(leaf: Any, value: Any) -> bool:
    """Whether a literal in generated code (``leaf``) is the value an expression gave."""
    if isinstance(leaf, bool) or isinstance(value, bool):
        return isinstance(leaf, bool) and isinstance(value, bool) and leaf == value
    if isinstance(leaf, str) or isinstance(value, str):
        return isinstance(leaf, str) and isinstance(value, str) and leaf == value
    if isinstance(leaf, float):
        return isinstance(value, (int, Fraction)) and Fraction(repr(leaf)) == value
    return isinstance(leaf, int) and isinstance(value, (int, Fraction)) and leaf == value


class _Python(ast.NodeTransformer):
    """The spec's expression as Python giving the same values: decimals as ``Fraction("0.1")``,
    ``a / b`` as ``Fraction(a, b)``, ``true``/``false`` as ``True``/``False``, parameters renamed
    where Python or the generated code takes their name."""

    def __init__(self, rename: Callable[[str], str], decimals: set[str]) -> None:
        self.rename = rename
        self.decimals = decimals  # parameters with decimal values: Fractions in the class
        self.exact = False  # whether the result may be a Fraction

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, float):
            self.exact = True
            return ast.Call(ast.Name("Fraction", ast.Load()), [ast.Constant(repr(node.value))], [])
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.op, ast.Div):
            self.exact = True
            return ast.Call(ast.Name("Fraction", ast.Load()), [node.left, node.right], [])
        return node

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in ("true", "True", "false", "False"):
            return ast.Constant(node.id in ("true", "True"))
        if node.id in self.decimals:
            self.exact = True
        return ast.Name(self.rename(node.id), ast.Load())

    def visit_Call(self, node: ast.Call) -> ast.AST:
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [ast.keyword(k.arg, self.visit(k.value)) for k in node.keywords]
        return node


class _Simpler(ast.NodeTransformer):
    """``a if true else b`` is ``a``, and ``a if c else a`` is ``a`` (channels through a layer that
    some calls leave out, where it keeps them)."""

    def visit_IfExp(self, node: ast.IfExp) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.test, ast.Constant) and isinstance(node.test.value, bool):
            return node.body if node.test.value else node.orelse
        if ast.dump(node.body) == ast.dump(node.orelse):
            return node.body
        return node


class _Fold(ast.NodeTransformer):
    """Whole numbers added in a row summed: ``in_channels + 32 + 32`` is ``in_channels + 64``
    (the channels of a dense block's sixth layer)."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, (ast.Add, ast.Sub)):
            return node
        terms: list[tuple[int, ast.expr]] = []
        here: ast.expr = node
        while isinstance(here, ast.BinOp) and isinstance(here.op, (ast.Add, ast.Sub)):
            terms.append((1 if isinstance(here.op, ast.Add) else -1, here.right))
            here = here.left
        terms.append((1, here))
        terms.reverse()
        whole = [sign * t.value for sign, t in terms if isinstance(t, ast.Constant) and type(t.value) is int]
        rest = [(sign, t) for sign, t in terms if not (isinstance(t, ast.Constant) and type(t.value) is int)]
        if (len(whole) < 2 and rest) or (rest and rest[0][0] < 0):
            return node
        total = sum(whole)
        if not rest:
            return ast.Constant(total)
        out = rest[0][1]
        for sign, t in rest[1:]:
            out = ast.BinOp(out, ast.Add() if sign > 0 else ast.Sub(), t)
        if total:
            out = ast.BinOp(out, ast.Add() if total > 0 else ast.Sub(), ast.Constant(abs(total)))
        return out


def _fold(text: str) -> str:
    """An expression of the spec's language with its constant sums folded and its needless
    conditionals gone (:class:`_Fold`, :class:`_Simpler`)."""
    return ast.unparse(_Simpler().visit(_Fold().visit(ast.parse(text.strip(), mode="eval"))))


_FUNCTIONS = frozenset({"min", "max", "abs", "int", "round", "make_divisible"})


def _names_in(text: str) -> set[str]:
    tree = ast.parse(text.strip(), mode="eval")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called
            and n.id not in ("true", "True", "false", "False")}


def _substitute(text: str, values: Mapping[str, str | None]) -> str | None:
    """``text`` with each name replaced by its expression; None where one has none."""
    tree = ast.parse(text.strip(), mode="eval")
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    missing = False

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            nonlocal missing
            if id(node) in called or node.id in ("true", "True", "false", "False"):
                return node
            replacement = values.get(node.id)
            if replacement is None:
                missing = True
                return node
            return ast.parse(replacement.strip(), mode="eval").body

    swapped = Swap().visit(tree)
    return None if missing else ast.unparse(swapped)


# --- one class per block definition ----------------------------------------------------------

@dataclass
class _Arg:
    python: str  # its name in Python
    kind: str  # "shape" (in_channels…), "size" (channels of a name read from outside), "param",
    # "module" (a layer built by the caller), "flag"
    spec: str = ""  # the spec's name (parameter or in_channels…)
    default: Any = None
    has_default: bool = False
    annotation: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # by instance path: module and flag args


@dataclass
class _Entry:
    """One entry of a block as written, and what each call made of it."""

    index: int
    entry: Entry
    name: str
    call: bool
    present: list[bool]  # per instance
    inputs: list[tuple[tuple[Any, ...], bool]] = field(default_factory=list)  # (target, implicit)
    cond: str | None = None  # None: always there; else the flag attribute
    attr: list[str] = field(default_factory=list)  # the module path, mangled per component
    var: str = ""
    unrolled: bool = False  # some entry reads one of its instances (``layer1.0``)
    read: set[int] = field(default_factory=set)  # those instances
    repeat: int | None = None

    @property
    def never(self) -> bool:
        return not any(self.present)


@dataclass
class _Choice:
    """An input that names different entries of the block in different calls."""

    attr: str  # the attribute holding the name read (set in __init__)
    options: dict[str, tuple[Any, ...]]  # by name: the target it stands for
    names: dict[str, str | None]  # by instance path: the name that call reads


@dataclass
class _Outside:
    """A name a block reads from outside it (``from: [$skip, up]``, a name of the caller's): an
    argument of the block's ``forward``, which its caller passes; its channels are an argument
    of ``__init__``."""

    python: str  # the argument of forward
    channels: str  # the argument of __init__ with its channels (a name of the spec's language)
    names: dict[str, str | None]  # by instance path: the name as that call resolves it
    paths: dict[str, str | None]  # by instance path: the graph path it names there


class _Class:
    """The class written for one block definition (``block`` None: the network itself)."""

    def __init__(self, writer: _Writer, block: str | None, name: str, entries: Sequence[Entry],
                 instances: list[_Instance]) -> None:
        self.writer = writer
        self.block = block
        self.name = name
        self.instances = instances
        self.top = block is None
        self.args: list[_Arg] = []
        self.used: set[str] = set()
        self.flags: dict[str, str] = {}  # condition text → flag attribute
        self.cache: dict[tuple[str, str], Any] = {}
        self.entries = self._entries(entries)
        self.renames = self._renames()
        self.decimals = {name for name in (self.instances[0].params if not self.top else {})
                         if any(isinstance(inst.params[name], float) for inst in self.instances)}
        self.outside: list[_Outside] = []
        self.choices: list[_Choice] = []
        self.choice_lines: list[str] = []  # __init__'s lines setting the choices' attributes
        self._resolve_inputs()
        self._attributes()
        self.flows: dict[tuple[tuple[Any, ...], frozenset[int]], str | None] = {}
        self.init_lines: list[str] = []
        self.forward_lines: list[str] = []
        self._write()

    # --- the entries and what they read -------------------------------------------------------

    def _entries(self, entries: Sequence[Entry]) -> list[_Entry]:
        names: list[str] | None = None
        for inst in self.instances:
            these = self._names(entries, inst)
            if names is not None and these != names:
                raise ExportUnsupported(f"block {self.block!r} names its entries differently from one "
                                        "call to another; export needs the same names in every call")
            names = these
        assert names is not None
        result = []
        for index, (entry, name) in enumerate(zip(entries, names, strict=True)):
            call = "block" in entry.data
            present = []
            for inst in self.instances:
                path = inst.prefix + name
                present.append(path in self.writer.graph.calls if call else path in self.writer.nodes)
            result.append(_Entry(index, entry, name, call, present))
        return result

    def _names(self, entries: Sequence[Entry], inst: _Instance) -> list[str]:
        """Each entry's name in one call: as written, or ``<type>_<n>`` as expansion names it."""
        names: list[str | None] = [None if e.data.get("name") is None else str(_resolve(e.data["name"], inst))
                                   for e in entries]
        taken = {n for n in names if n is not None}
        counts: dict[str, int] = {}
        for i, entry in enumerate(entries):
            if names[i] is not None:
                continue
            if "block" in entry.data:
                kind = str(_resolve(entry.data["block"], inst))
            else:
                written = _resolve(entry.data.get("type"), inst)
                kind = canonical_type(written) if isinstance(written, str) else "layer"
            counts[kind] = counts.get(kind, 0) + 1
            while f"{kind}_{counts[kind]}" in taken:
                counts[kind] += 1
            names[i] = f"{kind}_{counts[kind]}"
            taken.add(names[i])  # type: ignore[arg-type]
        return [str(n) for n in names]

    def _where(self) -> str:
        return f"block {self.block!r}" if self.block else "the network"

    def _find(self, text: str, before: int) -> tuple[Any, ...] | None:
        """What ``text`` names among the entries written before entry ``before``: the block's
        input, an entry, or one instance of a repeated call; None for a name from outside."""
        if text == INPUT:
            return ("input",)
        for e in self.entries[:before]:
            if e.name == text:
                return ("entry", e.index)
        head, _, rest = text.rpartition(".")
        for e in self.entries[:before]:
            if e.name == head and e.call and rest.isdigit() and "repeat" in e.entry.data:
                return ("instance", e.index, int(rest))
        if self.top or any(e.call and text.startswith(e.name + ".") for e in self.entries[:before]):
            raise ExportUnsupported(f"{self._where()}: from: {text!r} names a layer inside a call; "
                                    "export writes a call as one module that gives its output, so "
                                    "name the call's output, or make the layer the block's output")
        return None

    def _reference(self, texts: list[str | None], e: _Entry, hint: str, written: Any = None,
                   call_input: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """The target of one item of an entry's ``from``, given as each call resolves it (None
        where the call cannot tell: it leaves out what reads the name). One entry of the block in
        every call is that entry. A name from outside (or, in some calls, the block's input) is
        an argument of forward, which the caller passes; entries of the block that differ from
        call to call are chosen in forward by name (:meth:`_choice`). ``written``: the item as
        written; ``call_input``: what ``input`` means (for a name a called block reads: the call's
        input)."""
        found = [None if text is None else call_input if call_input is not None and text == INPUT
                 else self._find(text, e.index) for text in texts]
        known = {target for target, text in zip(found, texts, strict=True) if text is not None}
        if None in known and known <= {None, ("input",)}:
            return self._outside(texts, hint)
        if len(known) > 1:
            if None in known:
                shown = ", ".join(dict.fromkeys(repr(t) for t in texts if t is not None))
                raise ExportUnsupported(f"{self._where()}: entry {e.name!r} reads {shown} in different "
                                        "calls, entries of the block in some and names from outside it in "
                                        "others; export needs one or the other")
            return self._choice(e, texts, found, written)
        target = known.pop()
        assert target is not None
        if target[0] == "instance":
            called = self.entries[target[1]]
            called.unrolled = True
            called.read.add(target[2])
        return target

    def _choice(self, e: _Entry, texts: list[str | None], found: list[tuple[Any, ...] | None],
                written: Any) -> tuple[Any, ...]:
        """An input that names different entries of the block in different calls (``from: [$a,
        $b]``): forward picks it by name from those entries' values, the name an attribute set
        from the parameter (or an argument the caller gives)."""
        options: dict[str, tuple[Any, ...]] = {}
        for text, target in zip(texts, found, strict=True):
            if text is not None and target is not None:
                if target[0] == "instance":
                    called = self.entries[target[1]]
                    called.unrolled = True
                    called.read.add(target[2])
                options.setdefault(text, target)
        parameter = PARAMETER.fullmatch(written) if isinstance(written, str) else None
        taken = self.taken_names()
        if parameter and all(isinstance(inst.params.get(parameter.group(1)), str) for inst in self.instances):
            name = parameter.group(1)
            self.used.add(name)
            value = self.rename(name)
            attr = value
        else:
            attr = "reads_" + re.sub(r"\W", "_", e.name.split(".")[0]) if e.name.isascii() else "reads"
            arg = _Arg(self._fresh(attr), "flag", annotation="str", default=next(iter(options)),
                       has_default=True)
            arg.values = {inst.path: base._literal(text)
                          for inst, text in zip(self.instances, texts, strict=True) if text is not None}
            self.args.append(arg)
            value = arg.python
        while attr in taken:
            attr += "_"
        self.choices.append(_Choice(attr, options, {inst.path: text for inst, text in
                                                    zip(self.instances, texts, strict=True)}))
        self.choice_lines.append(f"self.{attr} = {value}")
        return ("choice", len(self.choices) - 1)

    def taken_names(self) -> set[str]:
        """Attributes of the class already used (modules, flags, choices) or nn.Module's own."""
        names = {e.name.split(".")[0] for e in self.entries} | set(self.flags.values())
        return names | {c.attr for c in self.choices} | NN_MODULE_ATTRIBUTES

    def _outside(self, texts: list[str | None], hint: str) -> tuple[Any, ...]:
        """The forward argument for a name read from outside (one per name, in the order read)."""
        names = {inst.path: text for inst, text in zip(self.instances, texts, strict=True)}
        for k, known in enumerate(self.outside):
            if known.names == names:
                return ("outside", k)
        taken = {o.python for o in self.outside}
        python = re.sub(r"\W", "_", hint) if hint.isascii() else "skip"
        if not python or python[0].isdigit():
            python = "skip_" + python
        while keyword.iskeyword(python) or python in _RESERVED_NAMES or python in taken:
            python += "_"
        taken_sizes = {o.channels for o in self.outside} | set(self.renames) | set(self.renames.values())
        channels = f"{python}_channels"
        while channels in taken_sizes or channels in ("in_channels", "in_height", "in_width"):
            channels += "_"
        calls = self.writer.graph.calls
        paths = {inst.path: None if text is None else inst.input if text == INPUT else
                 calls[inst.path].outside.get(text) for inst, text in zip(self.instances, texts, strict=True)}
        self.outside.append(_Outside(python, channels, names, paths))
        return ("outside", len(self.outside) - 1)

    def _is_source(self, e: _Entry) -> bool:
        """Whether an entry reads nothing (a parameter) in the calls that have it."""
        return not e.call and any(self.writer.nodes[inst.prefix + e.name].layer.type in SOURCES
                                  for inst, here in zip(self.instances, e.present, strict=True) if here)

    def _resolve_inputs(self) -> None:
        for e in self.entries:
            if self._is_source(e):
                e.inputs = []
            elif "from" not in e.entry.data:
                target = ("entry", e.index - 1) if e.index else ("input",)
                e.inputs = [(target, True)]
            else:
                written = e.entry.data["from"]
                per_call = []
                for inst in self.instances:
                    value = _resolve(written, inst)
                    per_call.append([str(v) for v in value] if isinstance(value, list) else [str(value)])
                if len({len(items) for items in per_call}) != 1:
                    raise ExportUnsupported(f"{self._where()}: entry {e.name!r} reads a different number "
                                            "of entries in different calls; export needs one count")
                items = written if isinstance(written, list) and len(written) == len(per_call[0]) else \
                    [written] * len(per_call[0])
                e.inputs = [(self._reference([texts[j] for texts in per_call], e,
                                             _hint(items[j], per_call[0][j]), items[j]), False)
                            for j in range(len(per_call[0]))]
            if e.call:
                e.inputs += [(target, False) for target in self._passed(e)]

    def _passed(self, e: _Entry) -> list[tuple[Any, ...]]:
        """What a call passes to its block's forward besides its input: the names the block reads
        from outside, each resolved here (an entry of this block, or outside this one too)."""
        calls = self.writer.graph.calls
        per_call: list[list[str | None] | None] = []  # per instance of this block
        for inst, here in zip(self.instances, e.present, strict=True):
            if not here:
                per_call.append(None)
                continue
            path = inst.prefix + e.name
            repeat = calls[path].repeat
            paths = [path] if repeat is None else [f"{path}.{k}" for k in range(repeat)]
            names: list[list[str | None]] = []
            for child_path in paths:
                child = self.writer.block_class_of(child_path)
                names.append([o.names[child_path] for o in child.outside])
            if any(n != names[0] for n in names[1:]):
                raise ExportUnsupported(f"{self._where()}: the instances of {e.name!r} read different names "
                                        "from outside their block; export needs the same in every instance")
            per_call.append(names[0])
        counts = {len(n) for n in per_call if n is not None}
        if not counts:  # left out in every call
            return []
        if len(counts) != 1:
            raise ExportUnsupported(f"{self._where()}: the calls of {e.name!r} read a different number of "
                                    "names from outside; export needs the same in every call")
        count = counts.pop()
        if not count:
            return []
        child = self.writer.block_class_of(next(inst.prefix + e.name for inst, here in
                                                zip(self.instances, e.present, strict=True) if here))
        return [self._reference([None if n is None else n[j] for n in per_call], e, child.outside[j].python,
                                call_input=e.inputs[0][0]) for j in range(count)]

    def value(self, target: tuple[Any, ...], implicit: bool = True) -> tuple[tuple[Any, ...], bool]:
        """What a reference stands for, followed back past entries left out in every call."""
        while target[0] == "entry" and self.entries[target[1]].never:
            first, first_implicit = self.entries[target[1]].inputs[0]
            target, implicit = first, implicit and first_implicit
        return target, implicit

    # --- module paths ---------------------------------------------------------------------------

    def _attributes(self) -> None:
        """Module paths: one component per part of the name, each mangled as bridge.build does."""
        tree: dict[tuple[str, ...], list[str]] = {}
        for e in self.entries:
            if e.never:
                continue
            parts = e.name.split(".")
            for depth in range(len(parts)):
                siblings = tree.setdefault(tuple(parts[:depth]), [])
                if parts[depth] not in siblings:
                    siblings.append(parts[depth])
        mangled = {parent: dict(zip(children, unique_names(children, NN_MODULE_ATTRIBUTES.__contains__),
                                    strict=True))
                   for parent, children in tree.items()}
        self.tree = {parent: [mangled[parent][c] for c in children] for parent, children in tree.items()}
        taken = set(mangled.get((), {}).values())
        for e in self.entries:
            if e.never:
                continue
            parts = e.name.split(".")
            e.attr = [mangled[tuple(parts[:d])][parts[d]] for d in range(len(parts))]
        self.taken_attributes = taken

    def access(self, attr: list[str]) -> str:
        text = "self"
        for depth, part in enumerate(attr):
            if _plain_attribute(part):
                text += "." + part
            elif part.isdigit() and depth and self._indexable(attr[:depth]):
                text += f"[{part}]"
            else:
                text = f"getattr({text}, {base._literal(part)})"
        return text

    def _indexable(self, container: list[str]) -> bool:
        """Whether ``container[i]`` is child "i": its children are 0 … n−1, always all there."""
        children = [e for e in self.entries if not e.never and e.attr[:len(container)] == container
                    and len(e.attr) > len(container)]
        names = [e.attr[len(container)] for e in children]
        return (sorted(set(names), key=int) == [str(i) for i in range(len(set(names)))]
                if all(n.isdigit() for n in names) else False) and all(all(e.present) for e in children)

    # --- expressions ----------------------------------------------------------------------------

    def evaluate(self, text: str, inst: _Instance) -> Any:
        key = (text, inst.path)
        if key not in self.cache:
            try:
                self.cache[key] = evaluate(text, self.names_of(inst))
            except ExpressionError:
                self.cache[key] = ExpressionError
        return self.cache[key]

    def names_of(self, inst: _Instance) -> dict[str, Any]:
        """The names an expression of this block may use in one call: the call's parameters, its
        input's sizes, and the channels of each name it reads from outside."""
        names = inst.names()
        for o in self.outside:
            path = o.paths.get(inst.path)
            if path is not None:
                names[o.channels] = self.writer.shape_of(path)[0]
        return names

    def rename(self, name: str) -> str:
        return self.renames.get(name, name)

    def _renames(self) -> dict[str, str]:
        if self.top:
            return {}
        block = self.writer.graph.blocks[self.block]  # type: ignore[index]
        renames = {}
        for name in block.params:
            python = name
            while keyword.iskeyword(python) or python in _RESERVED_NAMES:
                python += "_"
            renames[name] = python
        return renames

    def python(self, text: str, leaf: Any = None) -> str:
        """The expression ``text`` as Python, recording the names it uses; a whole number that an
        exact division may give as a Fraction is taken as ``int`` (``float`` for a decimal)."""
        self.used |= _names_in(text)
        converter = _Python(self.rename, self.decimals)
        tree = _Simpler().visit(converter.visit(ast.parse(text.strip(), mode="eval")))
        code = ast.unparse(tree)
        whole = isinstance(tree.body, ast.Call) and isinstance(tree.body.func, ast.Name) and \
            tree.body.func.id in ("int", "round", "make_divisible")
        uses = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.writer.helpers |= uses & {"Fraction", "make_divisible"}
        if converter.exact or "make_divisible" in uses:
            if isinstance(leaf, int) and not isinstance(leaf, bool) and not whole:
                code = f"int({code})"
            elif isinstance(leaf, float):
                code = f"float({code})"
        return code

    def pick(self, leaves: list[str], candidates: list[str]) -> str | None:
        """An expression giving, in every call, the literal that call's code has; None if none."""
        values = [ast.literal_eval(leaf) for leaf in leaves]
        if any(isinstance(v, tuple) and len(v) == 2 for v in values):  # 3 is (3, 3) for torch
            values = [(v, v) if isinstance(v, int) and not isinstance(v, bool) else v for v in values]
        if all(isinstance(v, tuple) for v in values) and len({len(v) for v in values}) == 1:
            items = [self.pick([repr(v[i]) for v in values], candidates) or
                     (repr(values[0][i]) if len({v[i] for v in values}) == 1 else None)
                     for i in range(len(values[0]))]
            if any(item is None for item in items):
                return None
            return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"  # type: ignore[arg-type]
        for text in candidates:
            if all(_same(v, self.evaluate(text, inst))
                   for v, inst in zip(values, self.instances, strict=True)):
                return self.python(text, values[0])
        return None

    def merge(self, exprs: list[Expr], marks: list[tuple[list[str], list[Expr]]]) -> Expr | None:
        """One constructor for every call. ``marks`` pairs the expressions a field (or the input's
        size) offers with the constructors written with that field set to a sentinel: where the
        sentinel shows, the literal is that field's, and its expression is written (``stride``,
        not ``2``) if it gives every call's literal. Elsewhere, where the calls' literals differ,
        any of the expressions that gives each call's is written; None if none does."""
        flat = [base._flat(e) for e in exprs]
        same = len(set(flat)) == 1
        if all(isinstance(e, str) for e in exprs):
            hits = [c for cands, marked in marks
                    if any(base._flat(m) != f for m, f in zip(marked, flat, strict=True)) for c in cands]
            rest = [c for cands, _ in marks for c in cands if c not in hits]
            try:
                if same:
                    return (self.pick([str(e) for e in exprs], hits) if hits else None) or exprs[0]
                return self.pick([str(e) for e in exprs], hits + rest)
            except (ValueError, SyntaxError):  # not a literal: a module passed in by name
                return exprs[0] if same else None
        lists = [e for e in exprs if isinstance(e, _List)]
        if len(lists) == len(exprs) and len({len(e.items) for e in lists}) == 1:
            items = []
            for i in range(len(lists[0].items)):
                item = self.merge([e.items[i] for e in lists],
                                  [(c, [m.items[i] if isinstance(m, _List) and _alike(m, e) else e.items[i]
                                        for m, e in zip(marked, lists, strict=True)]) for c, marked in marks])
                if not isinstance(item, str):
                    return None
                items.append(item)
            return _List(tuple(items))
        calls = [e for e in exprs if isinstance(e, _Call)]
        if len(calls) == len(exprs):
            if len({_structure(c) for c in calls}) != 1:
                return None

            def part(get: Callable[[_Call], Expr]) -> list[tuple[list[str], list[Expr]]]:
                return [(c, [get(m) if isinstance(m, _Call) and _alike(m, e) else get(e)
                             for m, e in zip(marked, calls, strict=True)]) for c, marked in marks]

            args = []
            for i in range(len(calls[0].args)):
                arg = self.merge([c.args[i] for c in calls], part(lambda c, i=i: c.args[i]))  # type: ignore[misc]
                if arg is None:
                    return None
                args.append(arg)
            kwargs = []
            for i, (key, _) in enumerate(calls[0].kwargs):
                value = self.merge([c.kwargs[i][1] for c in calls],
                                   part(lambda c, i=i: c.kwargs[i][1]))  # type: ignore[misc]
                if value is None:
                    return None
                kwargs.append((key, value))
            return _Call(calls[0].func, tuple(args), tuple(kwargs))
        return None

    # --- channels, as expressions, for the input sizes torch asks for ----------------------------

    def flow(self, target: tuple[Any, ...], plain: bool = False,
             within: frozenset[int] | None = None) -> str | None:
        """The channels (features) of a value, as an expression of the block's names, or None.
        ``within``: the calls it is for (indices into the instances; all if None), where an entry
        there in each of them is plainly there, and one left out in each plainly left out; else
        its ``when`` decides which channels. ``plain``: where the value's entry is there."""
        target, _ = self.value(target)
        if within is None:
            within = frozenset(range(len(self.instances)))
        if plain and target[0] == "entry":
            plainly = self._entry_flow(self.entries[target[1]], within)
            return None if plainly is None else _fold(plainly)
        key = (target, within)
        if key in self.flows:
            return self.flows[key]
        self.flows[key] = None  # no cycles: a reference is always to an earlier entry
        result: str | None
        if target[0] == "input":
            result = str(self.instances[0].shape[0]) if self.top else "in_channels"
        elif target[0] == "outside":
            result = self.outside[target[1]].channels
        elif target[0] == "choice":
            choice = self.choices[target[1]]
            flows = {self.flow(option, within=within) for text, option in choice.options.items()
                     if any(choice.names[self.instances[i].path] == text for i in within)}
            result = flows.pop() if len(flows) == 1 else None
        elif target[0] == "instance":
            result = self._call_flow(self.entries[target[1]], target[2] + 1, within)
        else:
            e = self.entries[target[1]]
            present = {e.present[i] for i in within}
            if present == {False}:
                result = self.flow(e.inputs[0][0], within=within)
            else:
                result = self._entry_flow(e, within)
                if result is not None and present == {True, False}:
                    before = self.flow(e.inputs[0][0], within=within)
                    condition = _text(e.entry.data.get("when"))
                    result = (f"({result} if {condition} else {before})"
                              if before is not None and condition is not None else None)
        result = None if result is None else _fold(result)
        self.flows[key] = result
        return result

    def _entry_flow(self, e: _Entry, within: frozenset[int]) -> str | None:
        if e.call:
            return self._call_flow(e, None, within)
        if not e.inputs:  # a parameter: its own shape, not channels that flow
            return None
        data = e.entry.data
        kind = data.get("type")
        kind = canonical_type(kind) if isinstance(kind, str) and not refers(kind) else None
        inputs = [self.flow(t, within=within) for t, _ in e.inputs]
        if kind is None:  # a type given as a parameter: an activation keeps the channels
            kinds = {self.writer.nodes[inst.prefix + e.name].layer.type
                     for inst, here in zip(self.instances, e.present, strict=True) if here}
            return None if kinds & _RESHAPING else inputs[0]
        if kind in ("conv2d", "convtranspose2d", "linear", "rbf"):
            keys = ("out_channels", "filters") if kind.startswith("conv") else ("out_features", "units")
            written = next((data[k] for k in keys if k in data), None)
            if written is None and e.entry.layer is not None:
                written = getattr(e.entry.layer, keys[0])
            return _text(written)
        if kind == "flatten":
            return None
        if kind == "concat":
            return None if any(f is None for f in inputs) else "(" + " + ".join(inputs) + ")"  # type: ignore[arg-type]
        return inputs[0]

    def _call_flow(self, e: _Entry, count: int | None, within: frozenset[int] | None = None) -> str | None:
        """A call's output channels: its block's, with the call's arguments put in."""
        child = self.writer.block_class(str(e.entry.data["block"])) if isinstance(
            e.entry.data.get("block"), str) and not refers(e.entry.data["block"]) else None
        if child is None:
            return None
        out = child.flow(child.output)
        if out is None:
            return None
        block = self.writer.graph.blocks[child.block]  # type: ignore[index]
        arguments = {k: v for k, v in e.entry.data.items() if k not in CALL_KEYS}
        first = e.entry.data.get("first") or {}
        times = count if count is not None else (self._repeat(e) or 1)
        channels = self.flow(e.inputs[0][0], within=within)
        passed = {o.channels: self.flow(target, within=within)
                  for o, (target, _) in zip(child.outside, e.inputs[1:], strict=True)}
        for k in range(times):
            values: dict[str, str | None] = {"in_channels": None if channels is None else f"({channels})"}
            values.update({name: None if flow is None else f"({flow})" for name, flow in passed.items()})
            for name, default in block.params.items():
                written = first[name] if k == 0 and name in first else arguments.get(name, default)
                values[name] = None if written is default and refers(default) else _text(written)
            channels = _substitute(out, values)
            if channels is None:
                return None
        return channels

    def _repeat(self, e: _Entry, needed: bool = False) -> int | None:
        """How many times a call repeats, the same in every call of the block; None where it
        differs (the caller then builds the repeat), an error where forward needs one count."""
        counts = {self.writer.graph.calls[inst.prefix + e.name].repeat for inst, here in
                  zip(self.instances, e.present, strict=True) if here}
        if len(counts) != 1 and not needed:
            return None
        if len(counts) != 1:
            raise ExportUnsupported(f"block {self.block!r}: {e.name!r} repeats a different number of "
                                    "times in different calls; export needs one count")
        return counts.pop()

    @property
    def output(self) -> tuple[Any, ...]:
        return ("entry", len(self.entries) - 1) if self.entries else ("input",)

    # --- constructors, per call, and as one for the class ----------------------------------------

    def _constructor(self, e: _Entry, inst: _Instance, sentinel: bool = False,
                     mark: str | None = None) -> Expr:
        """The entry's module in one call, as cnncalc computed it; ``sentinel`` puts SENTINEL for
        its input's channels, ``mark`` for that field (or the call's parameter)."""
        path = inst.prefix + e.name
        if e.call:
            child = self.writer.block_class_of(path)
            calls = self.writer.graph.calls
            if calls[path].repeat is None:
                return child.call_text(self.writer.instance(path), self.top, sentinel, mark)
            count = calls[path].repeat or 0
            return _Call("nn.Sequential", tuple(
                child.call_text(self.writer.instance(f"{path}.{k}"), self.top, sentinel and k == 0, mark)
                for k in range(count)))
        node = self.writer.nodes[path]
        shape = tuple(self.writer.rows[path].input_shape)
        if sentinel:
            shape = (SENTINEL, *shape[1:])
        layer = node.layer
        if mark is not None:
            value = getattr(layer, mark)
            layer = layer.model_copy(update={mark: (SENTINEL, SENTINEL) if isinstance(value, tuple)
                                             and len(value) == 2 else SENTINEL})
        base._KEEP.clear()
        base._KEEP.update(self._fields(e) if not self.top else set())
        try:
            return base._constructor(layer, shape)
        finally:
            base._KEEP.clear()

    def _fields(self, e: _Entry) -> dict[str, list[str]]:
        """The fields of a layer entry written as ``$p`` or ``"${...}"``, with their expressions."""
        kind = e.entry.data.get("type")
        model = LAYER_MODELS.get(canonical_type(kind)) if isinstance(kind, str) and not refers(kind) else None
        if model is None:
            return {}
        aliases = {alias: name for name, info in model.model_fields.items()
                   for alias in [name, *(str(c) for c in getattr(info.validation_alias, "choices", ()))]}
        return {aliases.get(k, k): _candidates(v) for k, v in e.entry.data.items()
                if k not in ("name", "from", "when", "type") and refers(v) and aliases.get(k, k) in aliases}

    def constructor(self, e: _Entry) -> Expr:
        """The entry's module, written once for every call of the block."""
        indices = [i for i, present in enumerate(e.present) if present]
        here = [self.instances[i] for i in indices]
        exprs = [self._constructor(e, inst) for inst in here]
        if self.top:
            return exprs[0]  # the network is built once: every value as cnncalc computed it
        within = frozenset(indices)
        sizes = [f for f in (self.flow(e.inputs[0][0], plain=True, within=within),
                             self.flow(e.inputs[0][0], within=within)) if f] if e.inputs else []
        if e.call:
            sizes += [f for k in range(1, (self._repeat(e) or 1) + 1) if (f := self._call_flow(e, k, within))]
        marks: list[tuple[list[str], list[Expr]]] = [(sizes, [self._constructor(e, i, sentinel=True)
                                                              for i in here])]
        if e.call:
            arguments = {k: v for k, v in e.entry.data.items() if k not in CALL_KEYS}
            first = e.entry.data.get("first") or {}
            for name in dict.fromkeys([*arguments, *first]):
                candidates = _candidates(arguments.get(name)) + _candidates(first.get(name))
                if candidates:
                    marks.append((candidates, [self._constructor(e, i, mark=name) for i in here]))
            child = self.writer.block_class_of(here[0].prefix + e.name)
            for o, (target, _) in zip(child.outside, e.inputs[1:], strict=True):
                passed = self.flow(target, within=within)  # the channels of what it reads from outside
                if passed is not None:
                    marks.append(([passed], [self._constructor(e, i, mark=o.channels) for i in here]))
        else:
            for name, candidates in self._fields(e).items():
                try:
                    marked = [self._constructor(e, i, mark=name) for i in here]
                except (TypeError, ValueError, KeyError, AttributeError):
                    continue  # a field the constructor computes with: no sentinel shows it
                marks.append((candidates, marked))
        saved = (set(self.used), set(self.writer.helpers))
        sub = self if len(here) == len(self.instances) else _Subset(self, indices)
        merged = sub.merge(exprs, marks)
        if merged is not None:
            return self._defaults_left_out(merged)
        self.used, self.writer.helpers = saved
        # Passed in by the caller: the module as cnncalc built it for that call.
        arg = _Arg(self._fresh(e.var if e.var != "x" else e.name), "module",
                   annotation="nn.Module | None", default=None, has_default=True)
        arg.values = {inst.path: self._defaults_left_out(expr)
                      for inst, expr in zip(here, exprs, strict=True)}
        self.args.append(arg)
        return arg.python

    def _defaults_left_out(self, expr: Expr) -> Expr:
        """A block's constructor without the parameters it is given at their default."""
        if isinstance(expr, _Call):
            child = next((c for c in self.writer.classes.values() if c.name == expr.func), None)
            defaults = {a.python: base._literal(a.default) for a in child.signature()
                        if a.kind == "param" and a.has_default} if child is not None else {}
            return _Call(expr.func, tuple(self._defaults_left_out(a) for a in expr.args),
                         tuple((k, self._defaults_left_out(v)) for k, v in expr.kwargs
                               if defaults.get(k) != v))
        return expr

    def condition(self, e: _Entry) -> str:
        """The flag attribute for an entry some calls leave out, set from its ``when``."""
        when = _text(e.entry.data.get("when"))
        if when is not None:
            key = when
            if key in self.flags:
                return self.flags[key]
            ok = all(self.evaluate(when, inst) is present
                     for inst, present in zip(self.instances, e.present, strict=True))
            if ok:
                flag = self._flag(e)
                self.flags[key] = flag
                self.init_lines.append(f"self.{flag} = {self.python(when)}")
                return flag
        flag = self._flag(e)
        arg = _Arg(self._fresh(flag), "flag", annotation="bool", default=False, has_default=True)
        arg.values = {inst.path: present for inst, present in zip(self.instances, e.present, strict=True)}
        self.args.append(arg)
        self.init_lines.append(f"self.{flag} = {arg.python}")
        self.flags[f"#{e.index}"] = flag
        return flag

    def _flag(self, e: _Entry) -> str:
        stem = re.sub(r"\W", "_", e.name.split(".")[0]).strip("_") or "entry"
        flag = f"use_{stem}".lower() if stem.isascii() else "use_entry"
        while flag in self.taken_attributes or flag in NN_MODULE_ATTRIBUTES or flag in self.flags.values():
            flag += "_"
        return flag

    def _fresh(self, name: str) -> str:
        python = re.sub(r"\W", "_", name) if name.isascii() else "module"
        if python[0].isdigit():
            python = "m" + python
        taken = {a.python for a in self.args} | set(self.renames.values()) | {"in_channels", "in_height",
                                                                              "in_width"}
        while keyword.iskeyword(python) or python in _RESERVED_NAMES or python in taken:
            python += "_"
        return python

    # --- the class ------------------------------------------------------------------------------

    def _variables(self) -> None:
        """Each value's variable in forward: ``x`` for a value the next entry alone reads, as the
        one before it; else a name after the entry (``bn2``)."""
        reads: dict[tuple[Any, ...], list[tuple[Any, bool]]] = {}
        for e in self.entries:
            if e.never:
                continue
            if not e.inputs and not e.call and not all(e.present):  # left out, the entry before stands in
                value, implicit = self.value(self._in_place_of(e), True)
                reads.setdefault(value, []).append((e.index, implicit))
            for target, implicit in e.inputs:
                if target[0] == "choice":  # each entry it may name is read by name
                    for option in self.choices[target[1]].options.values():
                        reads.setdefault(self.value(option)[0], []).append((e.index, False))
                    continue
                value, implicit = self.value(target, implicit)
                reads.setdefault(value, []).append((e.index, implicit))
        value, implicit = self.value(self.output)
        reads.setdefault(value, []).append(("return", implicit))
        self.reads = reads
        taken: set[str] = {o.python for o in self.outside}
        self.variables = taken
        for e in self.entries:
            if e.never:
                continue
            target = ("entry", e.index)
            readers = reads.get(target, [])
            if len(readers) == 1 and readers[0][1] and not e.unrolled:
                e.var = "x"
                continue
            e.var = self._variable(e.name, taken)

    @staticmethod
    def _variable(name: str, taken: set[str]) -> str:
        var = re.sub(r"\W", "_", name) if name.isascii() else "out"
        if var[0].isdigit():
            var = "out_" + var
        while keyword.iskeyword(var) or var in _RESERVED_NAMES or var in taken:
            var += "_"
        taken.add(var)
        return var

    def var(self, target: tuple[Any, ...]) -> str:
        target, _ = self.value(target)
        if target[0] == "input":
            return "input"
        if target[0] == "outside":
            name: str = self.outside[target[1]].python
            return name
        if target[0] == "choice":
            return f"inputs[self.{self.choices[target[1]].attr}]"
        e: _Entry = self.entries[target[1]]
        if target[0] == "instance" and (e.repeat is None or target[2] != e.repeat - 1):
            return f"{e.var}_{target[2]}"
        return e.var

    def _write(self) -> None:
        self._variables()
        groups: list[tuple[str | None, list[_Entry]]] = []
        for e in self.entries:
            if e.never:
                continue
            cond = None if all(e.present) else self.condition(e)
            e.cond = cond
            if groups and groups[-1][0] == cond:
                groups[-1][1].append(e)
            else:
                groups.append((cond, [e]))
        created: set[tuple[str, ...]] = set()
        for cond, members in groups:
            body: list[str] = []
            runs = self._runs(members)
            for run, sequential in runs:
                e = run[0]
                indent = 8 if cond is None else 12
                top = e.attr[:-1] if sequential else e.attr
                for depth in range(1, len(top)):
                    container = top[:depth]
                    if tuple(container) not in created and not self._is_entry(tuple(container)):
                        created.add(tuple(container))  # outside any `if`: later entries may use it
                        (body if cond is None else self.init_lines).append(
                            self._assign(container, "nn.Sequential()"))
                if sequential:
                    container = e.attr[:-1]
                    constructor: Expr = _Call("nn.Sequential", tuple(self.constructor(f) for f in run))
                    lines = base._layout(constructor, indent, *self._assign_parts(container))
                    body += [line[indent:] for line in lines]
                    continue
                lines = base._layout(self.constructor(e), indent, *self._assign_parts(e.attr))
                body += [line[indent:] for line in lines]
            if cond is None:
                self.init_lines += body
            else:
                self.init_lines += [f"if self.{cond}:", *("    " + line for line in body)]
            self._forward(cond, runs)
        self.forward_lines.append(f"return {self.var(self.output)}")

    def _runs(self, members: list[_Entry]) -> list[tuple[list[_Entry], bool]]:
        """The members, with each run of layers named ``C.0``, ``C.1``, … that is all of container C
        and a chain (each reads the one before, and nothing else does) taken as one
        ``nn.Sequential`` C, called once, as torchvision writes its ``downsample``."""
        runs: list[tuple[list[_Entry], bool]] = []
        i = 0
        while i < len(members):
            run = [members[i]]
            container = run[0].attr[:-1]
            if container and run[0].attr[-1] == "0" and not run[0].unrolled and len(run[0].inputs) == 1 \
                    and not self._copies(run[0]):
                for f in members[i + 1:]:
                    previous = run[-1]
                    if (f.unrolled or f.attr != [*container, str(len(run))] or len(f.inputs) != 1
                            or self.value(*f.inputs[0]) != (("entry", previous.index), True)
                            or previous.var != "x"):
                        break
                    run.append(f)
                under = [g for g in self.entries if not g.never and g.attr[:len(container)] == container]
                if len(under) == len(run) and not self._is_entry(tuple(container)):
                    last = run[-1]
                    if last.var != "x":  # the container's output, named after it
                        self.variables.discard(last.var)
                        last.var = self._variable(last.name.rsplit(".", 1)[0], self.variables)
                    runs.append((run, True))
                    i += len(run)
                    continue
                run = [members[i]]
            runs.append((run, False))
            i += 1
        return runs

    def _copies(self, e: _Entry) -> bool:
        """Whether a layer that writes into its input (``inplace: true``) must be given a copy, as
        build gives it one: where its input is also read elsewhere, is the block's (or the
        network's) input or a name from outside, or is a parameter. A copy never changes a value,
        so where this class cannot see every reader it copies."""
        if e.call or not e.inputs or not any(
                here and (layer := self.writer.nodes[inst.prefix + e.name].layer).type in INPLACE
                and getattr(layer, "inplace", False)
                for inst, here in zip(self.instances, e.present, strict=True)):
            return False
        target, _ = self.value(e.inputs[0][0])
        if target[0] != "entry":
            return True
        source = self.entries[target[1]]
        return source.call or not source.inputs or len(self.reads.get(target, [])) > 1

    def _is_entry(self, attr: tuple[str, ...]) -> bool:
        return any(tuple(e.attr) == attr for e in self.entries if not e.never)

    def _assign_parts(self, attr: list[str]) -> tuple[str, str]:
        owner = self.access(attr[:-1]) if len(attr) > 1 else "self"
        last = attr[-1]
        if _plain_attribute(last):
            return f"{owner}.{last} = ", ""
        return f"{owner}.add_module({base._literal(last)}, ", ")"

    def _assign(self, attr: list[str], value: str) -> str:
        prefix, suffix = self._assign_parts(attr)
        return prefix + value + suffix

    def _forward(self, cond: str | None, runs: list[tuple[list[_Entry], bool]]) -> None:
        then: list[str] = []
        members = [e for run, _ in runs for e in run]
        for run, sequential in runs:
            e = run[0]
            args = ", ".join(self.var(t) for t, _ in e.inputs)
            if self._copies(e):  # in place on a value read elsewhere: on a copy, as build does
                args = ", ".join([f"{self.var(e.inputs[0][0])}.clone()",
                                  *(self.var(t) for t, _ in e.inputs[1:])])
            chosen = [self.choices[t[1]] for t, _ in e.inputs if t[0] == "choice"]
            if chosen:  # the entries it may read, by name
                options = {text: option for c in chosen for text, option in c.options.items()}
                then.append("inputs = {" + ", ".join(f"{base._literal(text)}: {self.var(option)}"
                                                     for text, option in options.items()) + "}")
            if sequential:
                then.append(self._comment(f"{run[-1].var} = {self.access(e.attr[:-1])}({args})", run[-1]))
                continue
            module = self.access(e.attr)
            extra = "".join(", " + self.var(t) for t, _ in e.inputs[1:]) if e.call else ""
            if e.call and e.unrolled:  # the instances read elsewhere, then the rest
                e.repeat = self._repeat(e)
                source, start = self.var(e.inputs[0][0]), 0
                for k in sorted(e.read):
                    var = self.var(("instance", e.index, k))
                    part = f"[{k}]" if k == start else f"[{start}:{k + 1}]"
                    then += self._apply(var, module + part, source, extra, k == start, e, k)
                    source, start = var, k + 1
                if e.repeat is None or start < e.repeat:
                    single = start == (e.repeat or 0) - 1
                    part = f"[{start}]" if single else f"[{start}:]"
                    then += self._apply(e.var, module + part, source, extra, single, e)
                continue
            if extra and "repeat" in e.entry.data:  # a Sequential passes on one value only
                then += self._apply(e.var, module, self.var(e.inputs[0][0]), extra, False, e)
                continue
            if not e.inputs and not e.call:  # a parameter is read, not called
                if ("entry", e.index) in self.reads:
                    then.append(self._comment(f"{e.var} = {module}", e))
            elif ("entry", e.index) in self.reads:
                then.append(self._comment(f"{e.var} = {module}({args})", e))
            else:  # nothing reads its output, but it is part of the network
                then.append(self._comment(f"{module}({args})", e))
        if cond is None:
            self.forward_lines += then
            return
        otherwise = []
        indices = {e.index for e in members}
        for e in members:
            outside = [r for r, _ in self.reads.get(("entry", e.index), []) if r not in indices]
            if not outside:
                continue
            target = self._in_place_of(e)
            while target[0] == "entry" and target[1] in indices:
                target = self._in_place_of(self.entries[target[1]])
            source = self.var(target)
            if source != e.var:
                otherwise.append(f"{e.var} = {source}")
        self.forward_lines += [f"if self.{cond}:", *("    " + line for line in then)]
        if otherwise:
            self.forward_lines += ["else:", *("    " + line for line in otherwise)]

    @staticmethod
    def _in_place_of(e: _Entry) -> tuple[Any, ...]:
        """What a reference to ``e`` means where it is left out: its first input, or for a
        parameter (which reads nothing) the entry before it, as expansion has it."""
        if e.inputs:
            return tuple(e.inputs[0][0])
        return ("entry", e.index - 1) if e.index else ("input",)

    def _apply(self, out: str, module: str, source: str, extra: str, single: bool, e: _Entry,
               k: int | None = None) -> list[str]:
        """``out = module(source)``; for a repeat whose instances read names from outside (``extra``),
        which a Sequential cannot pass on, a loop over the instances."""
        if single or not extra:
            return [self._comment(f"{out} = {module}({source}{extra})", e, k)]
        block = self._variable("block", self.variables)
        lines = [] if out == source else [f"{out} = {source}"]
        return [*lines, f"for {block} in {module}:",
                "    " + self._comment(f"{out} = {block}({out}{extra})", e, k)]

    def _comment(self, line: str, e: _Entry, k: int | None = None) -> str:
        """At the top level, the value's shape after the line, as the flat class has it."""
        if not self.top:
            return line
        inst = self.instances[0]
        path = inst.prefix + e.name + ("" if k is None else f".{k}")
        node = self.writer.nodes.get(path)
        shape = (base.row_shape(self.writer.rows[path], node.layer) if node is not None
                 else base._shape(self.writer.shape_of(path)))
        return f"{line.ljust(max(len(line) + 2, 40))}# {shape}"

    # --- how a caller builds it ------------------------------------------------------------------

    def signature(self) -> list[_Arg]:
        """The arguments of __init__: the input's sizes and parameters the class uses, then
        what the callers build (modules, flags)."""
        shapes = [_Arg(n, "shape", n, annotation="int") for n in ("in_channels", "in_height", "in_width")
                  if n in self.used]
        shapes += [_Arg(o.channels, "size", o.channels, annotation="int") for o in self.outside
                   if o.channels in self.used]
        params = []
        if not self.top:
            block = self.writer.graph.blocks[self.block]  # type: ignore[index]
            for name, default in block.params.items():
                if name not in self.used:
                    continue
                values = [inst.params[name] for inst in self.instances]
                params.append(_Arg(self.rename(name), "param", name, default=default,
                                   has_default=not refers(default), annotation=_annotation(values)))
        required = [a for a in params if not a.has_default]
        optional = [a for a in params if a.has_default]
        return [*shapes, *required, *optional, *self.args]

    def call_text(self, inst: _Instance, omit_defaults: bool, sentinel: bool = False,
                  mark: str | None = None) -> Expr:
        args: list[Expr] = []
        kwargs: list[tuple[str, Expr]] = []
        names = self.names_of(inst)
        for arg in self.signature():
            if arg.kind == "shape":
                value = names.get(arg.spec, 0)  # 0: a name that call leaves unread
                args.append(str(SENTINEL if sentinel and arg.spec == "in_channels" else value))
            elif arg.kind == "size":  # by name: the channels of what the block reads from outside
                kwargs.append((arg.python, str(SENTINEL if arg.spec == mark else names.get(arg.spec, 0))))
            elif arg.kind == "param":
                value = SENTINEL if arg.spec == mark else inst.params[arg.spec]
                if (omit_defaults and arg.has_default and value == arg.default
                        and type(value) is type(arg.default)):
                    continue
                kwargs.append((arg.python, base._literal(value)))
            else:
                value = arg.values.get(inst.path)
                if value is None or value is False:
                    continue
                kwargs.append((arg.python, value if not isinstance(value, bool) else "True"))
        return _Call(self.name, tuple(args), tuple(kwargs))

    def source(self, docstring: list[str]) -> str:
        arguments = ["self"]
        for arg in self.signature():
            text = arg.python + (f": {arg.annotation}" if arg.annotation else "")
            if arg.has_default:
                text += (" = " if arg.annotation else "=") + base._literal(arg.default)
            arguments.append(text)
        head = f"    def __init__({', '.join(arguments)}) -> None:"
        if len(head) > base.WIDTH:
            head = "    def __init__(\n" + "".join(f"        {a},\n" for a in arguments) + "    ) -> None:"
        lines = [f"class {self.name}(nn.Module):", *docstring, "", head, "        super().__init__()"]
        exact = [a.python for a in self.signature() if a.kind == "param" and a.spec in self.decimals]
        if exact:
            self.writer.helpers.add("Fraction")
            lines += [f"        {name} = Fraction(str({name}))  # the exact decimal, as the spec's"
                      for name in exact]
        lines += ["        " + line for line in [*self.choice_lines, *self.init_lines]]
        inputs = "".join(f", {o.python}: torch.Tensor" for o in self.outside)
        lines += ["", f"    def forward(self, input: torch.Tensor{inputs}) -> torch.Tensor:"]
        lines += ["        " + line for line in self.forward_lines]
        return "\n".join(lines)


class _Subset(_Class):
    """A class's view on the calls that have one entry (the others leave it out)."""

    def __init__(self, owner: _Class, indices: list[int]) -> None:
        self.__dict__.update(owner.__dict__)
        self.owner = owner
        self.instances = [owner.instances[i] for i in indices]

    def python(self, text: str, leaf: Any = None) -> str:
        code = _Class.python(self, text, leaf)
        self.owner.used |= self.used
        return code


def _structure(call: _Call) -> tuple[str, int, tuple[str, ...]]:
    return (call.func, len(call.args), tuple(key for key, _ in call.kwargs))


def _alike(one: Expr, other: Expr) -> bool:
    """Whether two constructors have the same arguments, so that their parts correspond."""
    if isinstance(one, _Call) and isinstance(other, _Call):
        return _structure(one) == _structure(other)
    if isinstance(one, _List) and isinstance(other, _List):
        return len(one.items) == len(other.items)
    return isinstance(one, str) and isinstance(other, str)


def _annotation(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    if all(isinstance(v, str) for v in values):
        return "str"
    return ""


def _hint(written: Any, text: str) -> str:
    """The name for a forward argument: the parameter's for ``$skip``, else the name read."""
    parameter = PARAMETER.fullmatch(written) if isinstance(written, str) else None
    return parameter.group(1) if parameter else text


def _plain_attribute(attribute: str) -> bool:
    return base._plain(attribute)


# --- the file ----------------------------------------------------------------------------------

class _Writer:
    def __init__(self, spec: Spec, report: Report, class_name: str) -> None:
        assert report.graph is not None
        self.spec = spec
        self.report = report
        self.graph: Graph = report.graph
        self.nodes: dict[str, Node] = {node.path: node for node in self.graph.nodes}
        self.rows = {row.name: row for row in report.rows}
        self.class_name = class_name
        self.helpers: set[str] = set()
        self.classes: dict[str, _Class] = {}
        self.order: list[str] = []
        self.instances: dict[str, list[_Instance]] = {}
        for path, call in self.graph.calls.items():
            if call.repeat is None:
                assert call.input is not None
                self.instances.setdefault(call.block, []).append(
                    _Instance(path, call.params, call.input, self.graph.shapes[call.input]))
        self.by_path = {inst.path: inst for insts in self.instances.values() for inst in insts}
        self.class_names = self._class_names()
        top = _Instance("", {}, INPUT, self.graph.input_shape, top=True)
        self.main = _Class(self, None, class_name, self.graph.entries, [top])

    def _class_names(self) -> dict[str, str]:
        taken = {self.class_name, *base._TAKEN}
        names = {}
        for block in self.instances:
            name = base.default_class_name(block)
            while name in taken:
                name += "Block"
            taken.add(name)
            names[block] = name
        return names

    def instance(self, path: str) -> _Instance:
        return self.by_path[path]

    def block_class(self, block: str) -> _Class | None:
        if block not in self.instances:
            return None
        if block not in self.classes:
            cls = _Class(self, block, self.class_names[block], self.graph.blocks[block].entries,
                         self.instances[block])
            self.classes[block] = cls
            self.order.append(block)
        return self.classes[block]

    def block_class_of(self, path: str) -> _Class:
        call = self.graph.calls[path]
        cls = self.block_class(call.block)
        assert cls is not None
        return cls

    def shape_of(self, path: str) -> Shape:
        """The shape of what a path outputs: a layer's, or a call's output."""
        if path in self.graph.shapes:
            return self.graph.shapes[path]
        call = self.graph.calls[path]
        if call.repeat is not None:
            return self.shape_of(f"{path}.{call.repeat - 1}")
        cls = self.block_class_of(path)
        return self.graph.shapes[self.output_path(cls, self.instance(path))]

    def output_path(self, cls: _Class, inst: _Instance) -> str:
        target: tuple[Any, ...] = cls.output
        while True:
            if target[0] == "input":
                return inst.input
            if target[0] == "outside":
                path: str | None = cls.outside[target[1]].paths[inst.path]
                assert path is not None  # the call's output is the name it reads
                return path
            if target[0] == "choice":
                choice = cls.choices[target[1]]
                text = choice.names[inst.path]
                assert text is not None
                target = choice.options[text]
                continue
            e: _Entry = cls.entries[target[1]]
            here = e.present[cls.instances.index(inst)]
            if not here:
                target = e.inputs[0][0]
                continue
            path = inst.prefix + e.name
            if not e.call:
                return path
            if target[0] == "instance":
                path += f".{target[2]}"
            elif self.graph.calls[path].repeat is not None:
                path += f".{(self.graph.calls[path].repeat or 1) - 1}"
            return self.output_path(self.block_class_of(path), self.instance(path))

    def source(self) -> str:
        main_doc = base._class_docstring(self.spec, self.report, [row.name for row in self.report.rows])
        classes = [self.classes[b] for b in self.order]
        code = "\n".join(c.source([]) for c in [*classes, self.main])
        merges = [name for name in MERGE_SOURCE if re.search(rf"\b{name}\(\)", code)]
        custom = [base._custom_source(name) for name in base._CUSTOM if re.search(rf"\b{name}\(", code)]
        parts = [_module_docstring(self.report, self.class_name) + "\n\n" + self._imports(
            "\n".join([code, *custom]))]
        parts += custom  # LeNet-5's own modules, as the chain's export copies them
        if "make_divisible" in self.helpers:
            parts.append(MAKE_DIVISIBLE)
        parts += [MERGE_SOURCE[name] for name in merges]
        parts += [c.source(self._block_docstring(c)) for c in classes]
        parts.append(self.main.source(main_doc))
        return "\n\n\n".join(parts) + "\n"

    def _imports(self, code: str) -> str:
        stdlib = []
        if "make_divisible" in self.helpers or re.search(r"\bmath\.", code):
            stdlib.append("import math")
        if re.search(r"\bOrderedDict\(", code):
            stdlib.append("from collections import OrderedDict")
        if "Fraction" in self.helpers or "make_divisible" in self.helpers:
            stdlib.append("from fractions import Fraction")
        functional = "import torch.nn.functional as F\n" if re.search(r"\bF\.", code) else ""
        third = "import torch\n" + functional + "from torch import nn"
        return "\n".join(stdlib) + "\n\n" + third if stdlib else third

    def _block_docstring(self, cls: _Class) -> list[str]:
        assert cls.block is not None
        block = self.graph.blocks[cls.block]
        where = f" (line {block.line})" if block.line else ""
        calls = [inst.path for inst in cls.instances]
        shown = ", ".join(calls[:3]) + (f" and {len(calls) - 3} more" if len(calls) > 3 else "")
        params = ", ".join(f"{k} = {v}" for k, v in block.params.items())
        lines = textwrap.wrap(f'"""Block {base._escape(cls.block)}{where} of the spec, called as '
                              f'{base._escape(shown)}.', base.WIDTH - 4)
        if params:
            lines += ["", *textwrap.wrap(f"Parameters (defaults): {base._escape(params)}.", base.WIDTH - 4)]
        lines.append('"""')
        return ["    " + line if line else "" for line in lines]


def _module_docstring(report: Report, class_name: str) -> str:
    return base._module_docstring(report, class_name)


def write(spec: Spec, report: Report, class_name: str) -> str:
    """The file for a network that branches or calls blocks (see the module's docstring)."""
    try:
        return _Writer(spec, report, class_name).source()
    except ExportUnsupported as err:
        raise ExportUnsupported(f"{spec.source or '<spec>'}: cannot export: {err}") from None
