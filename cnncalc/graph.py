"""The expanded network: a spec's blocks, repeats, ``when`` and values unrolled into plain layers.

The spec is what the user wrote (contract §1b): entries that are layers or calls
of blocks, fields that may be ``$p`` or ``"${expr}"``, references by name. This
module expands it, in the order written, into a :class:`Graph`: one
:class:`Node` per layer, named by its path (``layer2.0.conv1``), with every
field resolved and the paths of the nodes it reads. A chain is the graph whose
every node reads the one before.

Expansion needs shapes: an expression may read ``in_channels``, the channels of
its block's input. So the expander is given two functions and calls them as it
goes: ``make_layer`` turns a layer's resolved fields into a validated layer
(the spec models), and ``infer`` gives a node's output shape from its input
shapes (the analysis). This module itself knows neither pydantic nor any
layer's arithmetic, and never imports torch.

Errors are :class:`~cnncalc.errors.SpecError` issues that name the entry's line
and path and, inside a call, the call that expanded it. The work is bounded:
at most ``MAX_LAYERS`` nodes, calls nested at most ``MAX_NESTING`` deep, and at
most ``MAX_STEPS`` entries visited (left-out ones included).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from cnncalc.errors import Issue, ShapeError, SpecError
from cnncalc.spec.expressions import EXPRESSION, PARAMETER, ExpressionError, evaluate, refers, whole

__all__ = ["INPUT", "MAX_LAYERS", "MAX_NESTING", "MAX_STEPS", "SOURCES", "BlockDef", "Call", "Entry", "Graph",
           "Node",
           "expand", "expand_spec"]

INPUT = "input"  # the name of the network's (or the innermost block's) input
MAX_LAYERS = 20_000  # after expansion; ResNet-1001 has about 3,000
MAX_NESTING = 32  # calls inside calls
MAX_STEPS = 10 * MAX_LAYERS  # entries visited, left-out ones included (a repeat of a false `when`)
MAX_REPEAT = MAX_LAYERS

Shape = tuple[int, ...]
SOURCES = frozenset({"parameter"})  # layer types that read nothing: their value is their own
CALL_KEYS = frozenset({"block", "name", "from", "when", "repeat", "first"})


@dataclass(frozen=True)
class Entry:
    """One entry of a ``layers:`` list as written: its mapping and where it stands.

    ``layer`` is the entry already validated, for a layer whose fields hold no values to resolve;
    ``data`` then holds only what expansion reads (name, type, from, when).
    """

    data: Mapping[str, Any]
    line: int | None = None
    node: Any = None  # the YAML node, for the loader's field lines; opaque here
    layer: Any = None


@dataclass(frozen=True)
class BlockDef:
    """A reusable sub-network: parameters with their defaults, and its entries."""

    name: str
    params: Mapping[str, Any]
    entries: tuple[Entry, ...]
    line: int | None = None


@dataclass(frozen=True)
class Node:
    """One layer of the expanded network."""

    path: str  # its name: the calls' names and its own, joined by '.'
    layer: Any  # the validated layer (a spec model), every field resolved
    inputs: tuple[str, ...]  # the paths of the nodes it reads; INPUT for the network's input; none
    # for a source (a parameter)
    entry: Entry  # the entry it was expanded from
    calls: tuple[str, ...] = ()  # the paths of the calls around it, outermost first (a repeat's
    # instances sit in the repeat: layer1, layer1.0)

    @property
    def line(self) -> int | None:
        return self.entry.line


@dataclass(frozen=True)
class Call:
    """A call of a block as expanded: a repeat (``layer1``), one of its instances (``layer1.0``),
    or a call without repeat."""

    block: str
    line: int | None
    repeat: int | None = None  # for a repeat: how many instances
    # What export writes a block's calls from (not part of a call's identity):
    entry: Entry | None = field(default=None, compare=False)  # the call as written
    params: Mapping[str, Any] = field(default_factory=dict, compare=False)  # an instance's values
    input: str | None = field(default=None, compare=False)  # the path an instance reads
    # the names its entries (or calls inside it) read from outside it, and the paths they name
    outside: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass
class Graph:
    """The network after expansion: its nodes in the order written, and each one's shape."""

    input_shape: Shape
    nodes: list[Node]
    shapes: dict[str, Shape]  # by path, INPUT included
    output: str  # the path whose output is the network's (INPUT if every layer was left out)
    calls: dict[str, Call] = field(default_factory=dict)  # by path, the repeats and their instances
    entries: tuple[Entry, ...] = ()  # the top level's entries as written
    blocks: Mapping[str, BlockDef] = field(default_factory=dict)  # the block definitions, by name

    @property
    def is_chain(self) -> bool:
        """Whether every node reads just the one before it (a network of §1)."""
        before = INPUT
        for node in self.nodes:
            if node.inputs != (before,):
                return False
            before = node.path
        return True


MakeLayer = Callable[[dict[str, Any] | None, Entry, str], Any]
Infer = Callable[["Node", Sequence[Shape]], Shape]


def expand(entries: Sequence[Entry], blocks: Mapping[str, BlockDef], input_shape: Shape,
           make_layer: MakeLayer, infer: Infer, source: str | None = None,
           kind_of: Callable[[Any], str] = str) -> Graph:
    """Expand the top-level ``entries`` into a :class:`Graph`.

    ``make_layer(fields, entry, path)`` validates a layer's resolved fields (``None`` for an entry
    already validated) and raises :class:`SpecError` when they are wrong; ``infer(node,
    input_shapes)`` gives a node's output shape or raises :class:`ShapeError`.
    ``kind_of(type)`` names a layer type as default names use it (``conv2d`` for
    ``conv``). Raises :class:`SpecError` for any problem, located.
    """
    expander = _Expander(blocks, make_layer, infer, source, kind_of)
    expander.shapes[INPUT] = input_shape
    top = _Scope(parent=None, prefix="", input_ref=INPUT, input_shape=None, params={}, block=None,
                 calls=())
    output = expander.run(entries, top)
    return Graph(input_shape=input_shape, nodes=expander.nodes, shapes=expander.shapes, output=output,
                 calls=expander.calls, entries=tuple(entries), blocks=blocks)


def expand_spec(spec: Any, infer: Infer) -> Graph:
    """Expand a loaded :class:`~cnncalc.spec.models.Spec` (its layers and blocks as written)."""
    from cnncalc.spec.loader import layer_from_fields
    from cnncalc.spec.models import Call, Template, canonical_type

    def entry_of(written: Any) -> Entry:
        if isinstance(written, (Call, Template)):
            return Entry(written.written, written.line, written.node)
        data = {"name": written.name, "type": written.type, "from": written.from_, "when": written.when}
        return Entry({k: v for k, v in data.items() if v is not None}, written.line, written.node, written)

    def make_layer(fields: dict[str, Any] | None, entry: Entry, path: str) -> Any:
        layer = entry.layer if fields is None else layer_from_fields(fields, entry.node, entry.line,
                                                                     spec.source)
        return layer if layer.name == path else layer.model_copy(update={"name": path})

    blocks = {name: BlockDef(name, block.params, tuple(entry_of(e) for e in block.layers), block.line)
              for name, block in spec.blocks.items()}
    return expand([entry_of(e) for e in spec.layers], blocks, spec.input.shape, make_layer, infer,
                  source=spec.source, kind_of=canonical_type)


@dataclass
class _Ref:
    """What a name in a scope stands for: an output, and for a call, the names inside it."""

    path: str
    inside: dict[str, _Ref] | None = None


@dataclass
class _Scope:
    """One block instance being expanded (or the top level)."""

    parent: _Scope | None
    prefix: str  # "layer2.0." (empty at the top level)
    input_ref: str
    input_shape: Shape | None  # None at the top level: in_channels & co. are not defined there
    params: dict[str, Any]
    block: str | None
    calls: tuple[str, ...]
    names: dict[str, _Ref] = field(default_factory=dict)  # entries expanded so far
    later: set[str] = field(default_factory=set)  # entries of this scope not yet reached
    call_line: int | None = None

    def expression_names(self) -> dict[str, Any]:
        names = dict(self.params)
        if self.input_shape is not None:
            names["in_channels"] = self.input_shape[0]
            if len(self.input_shape) == 3:
                names["in_height"], names["in_width"] = self.input_shape[1], self.input_shape[2]
        return names


class _Expander:
    def __init__(self, blocks: Mapping[str, BlockDef], make_layer: MakeLayer, infer: Infer,
                 source: str | None, kind_of: Callable[[Any], str]) -> None:
        self.blocks = blocks
        self.make_layer = make_layer
        self.infer = infer
        self.source = source
        self.kind_of = kind_of
        self.nodes: list[Node] = []
        self.shapes: dict[str, Shape] = {}
        self.calls: dict[str, Call] = {}
        self.steps = 0

    # --- errors ---------------------------------------------------------------------------------

    def fail(self, message: str, entry: Entry | None, scope: _Scope, path: str | None = None) -> SpecError:
        where = self._context(scope)
        if path is None and entry is not None and isinstance(entry.data.get("name"), (str, int)) \
                and not refers(entry.data["name"]):
            path = scope.prefix + str(entry.data["name"])  # the entry, named as written
        return SpecError([Issue(message + where, line=entry.line if entry else None, layer=path)],
                         self.source)

    @staticmethod
    def _context(scope: _Scope) -> str:
        if scope.block is None:
            return ""
        call = scope.prefix.rstrip(".")
        line = f", line {scope.call_line}" if scope.call_line else ""
        return f" (in block {scope.block!r}, called as {call}{line})"

    def _with_context(self, err: SpecError, scope: _Scope, path: str) -> SpecError:
        where = self._context(scope)
        if not where and all(i.layer is not None for i in err.issues):
            return err
        issues = [Issue(i.message + where, line=i.line, layer=path if i.layer is None else i.layer,
                        index=i.index) for i in err.issues]
        return type(err)(issues, err.source or self.source)

    # --- the walk -------------------------------------------------------------------------------

    def run(self, entries: Sequence[Entry], scope: _Scope) -> str:
        """Expand one scope's entries; return the path of its output."""
        named = self._names(entries, scope)
        scope.later = {name for name, _ in named}
        last = scope.input_ref
        for (name, entry) in named:
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise self.fail(f"the spec expands to more than {MAX_STEPS:,} entries; "
                                f"at most {MAX_LAYERS:,} layers are allowed", entry, scope,
                                scope.prefix + name)
            scope.later.discard(name)
            if "block" in entry.data:
                ref = self._call(name, entry, scope, last)
            else:
                ref = self._layer(name, entry, scope, last)
            scope.names[name] = ref
            if ref.path:  # a source left out (a parameter whose when is false) changes nothing
                last = ref.path
        return last

    def _names(self, entries: Sequence[Entry], scope: _Scope) -> list[tuple[str, Entry]]:
        """Each entry's name in its scope: as written, or ``<type>_<n>``; unique whatever ``when`` says."""
        written: dict[str, Entry] = {}
        for entry in entries:
            name = entry.data.get("name")
            if name is None:
                continue
            name = self._name_value(name, entry, scope)
            if name in written:
                first = written[name].line
                at = f" (line {first})" if first else ""
                raise self.fail(f"name {name!r} is already used in this scope{at}; names must be unique",
                                entry, scope, scope.prefix + name)
            written[name] = entry
        counts: dict[str, int] = {}
        named = []
        for entry in entries:
            name = entry.data.get("name")
            if name is not None:
                named.append((self._name_value(name, entry, scope), entry))
                continue
            kind = self._kind(entry, scope)
            counts[kind] = counts.get(kind, 0) + 1
            while f"{kind}_{counts[kind]}" in written:
                counts[kind] += 1
            default = f"{kind}_{counts[kind]}"
            written[default] = entry
            named.append((default, entry))
        return named

    def _name_value(self, name: Any, entry: Entry, scope: _Scope) -> str:
        value = self.value(name, entry, scope, "name")
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.fail(f"name must be text such as conv1; got {value!r}", entry, scope)
        text = str(value)
        if not text or len(text) > 200:
            raise self.fail("name must be 1 to 200 characters long", entry, scope)
        if text == INPUT:
            raise self.fail(f"name {INPUT!r} is reserved: it names the block's (or network's) input; "
                            "choose another", entry, scope)
        if text.startswith(".") or text.endswith(".") or ".." in text:
            raise self.fail(f"name {text!r} has an empty part between dots; write names such as "
                            "downsample.0", entry, scope)
        return text

    def _kind(self, entry: Entry, scope: _Scope) -> str:
        if "block" in entry.data:
            return str(self.value(entry.data["block"], entry, scope, "block"))
        written = entry.data.get("type")
        value = self.value(written, entry, scope, "type") if written is not None else None
        return self.kind_of(value) if isinstance(value, str) else "layer"

    # --- values -----------------------------------------------------------------------------------

    def value(self, value: Any, entry: Entry, scope: _Scope, key: str) -> Any:
        """A field's value with ``$p`` and ``"${expr}"`` resolved (in lists too)."""
        if isinstance(value, str):
            expression = EXPRESSION.fullmatch(value)
            if expression:
                try:
                    result = evaluate(expression.group(1), scope.expression_names())
                except ExpressionError as err:
                    raise self.fail(f"{key}: the expression {value!r} {err}", entry, scope) from None
                return _plain(result)
            parameter = PARAMETER.fullmatch(value)
            if parameter:
                name = parameter.group(1)
                if name not in scope.params:
                    known = ", ".join(sorted(scope.params)) or "none"
                    where = "at the top level, where there are none" if scope.block is None else \
                        f"of block {scope.block!r} ({known})"
                    raise self.fail(f"{key}: ${name} is not a parameter {where}", entry, scope)
                return scope.params[name]
            return value
        if isinstance(value, list):
            return [self.value(item, entry, scope, key) for item in value]
        return value

    def _truth(self, value: Any, entry: Entry, scope: _Scope) -> bool:
        resolved = self.value(value, entry, scope, "when")
        if not isinstance(resolved, bool):
            raise self.fail(f"when must be true, false or \"${{...}}\" giving one; got {resolved!r}",
                            entry, scope)
        return resolved

    def _count(self, value: Any, entry: Entry, scope: _Scope) -> int:
        resolved = self.value(value, entry, scope, "repeat")
        count = whole(resolved) if isinstance(resolved, (int, Fraction)) else None
        if count is None or not 1 <= count <= MAX_REPEAT:
            raise self.fail(f"repeat must be a whole number from 1 to {MAX_REPEAT:,}; got {resolved!r}",
                            entry, scope)
        return count

    # --- references -------------------------------------------------------------------------------

    def reference(self, name: Any, entry: Entry, scope: _Scope, path: str | None = None) -> str:
        """The path of the node an entry's ``from`` names (followed back past left-out entries)."""
        resolved = self.value(name, entry, scope, "from")
        if isinstance(resolved, bool) or not isinstance(resolved, (str, int)):
            raise self.fail(f"from must name an earlier entry (or a list of them); got {resolved!r}",
                            entry, scope, path)
        text = str(resolved)
        if text == INPUT:
            return scope.input_ref
        here: _Scope | None = scope
        while here is not None:
            if text in here.later or _first_part_in(text, here.later):
                raise self.fail(f"from: {text!r} is written later in this scope; a layer can read only "
                                "entries written before it", entry, scope, path)
            found = _lookup(text, here.names)
            if found is not None:
                for inner in _chain(scope):  # each instance the name reaches in from outside
                    if inner is here:
                        break
                    self.calls[inner.prefix[:-1]].outside[text] = found.path
                return found.path
            here = here.parent
        visible = sorted({n for s in _chain(scope) for n in s.names} | {INPUT})
        close = difflib.get_close_matches(text, visible, n=1, cutoff=0.6)
        hint = (f"; did you mean {close[0]!r}?" if close
                else f"; the names here are: {', '.join(visible[:12])}")
        raise self.fail(f"from: no entry named {text!r} before this one{hint}", entry, scope, path)

    def _inputs(self, entry: Entry, scope: _Scope, last: str, path: str) -> tuple[str, ...]:
        if "from" not in entry.data:
            return (last,)
        written = self.value(entry.data["from"], entry, scope, "from")
        if isinstance(written, list):
            if not written:
                raise self.fail("from is an empty list; name one entry or several", entry, scope, path)
            return tuple(self.reference(item, entry, scope, path) for item in written)
        return (self.reference(written, entry, scope, path),)

    # --- entries ----------------------------------------------------------------------------------

    def _layer(self, name: str, entry: Entry, scope: _Scope, last: str) -> _Ref:
        path = scope.prefix + name
        if self._kind(entry, scope) in SOURCES:
            if "from" in entry.data:
                raise self.fail(f"a {self._kind(entry, scope)} reads nothing; leave out from (the layers "
                                "that use it name it in theirs)", entry, scope, path)
            inputs: tuple[str, ...] = ()
        else:
            inputs = self._inputs(entry, scope, last, path)
        if "when" in entry.data and not self._truth(entry.data["when"], entry, scope):
            # left out: a reference to it means its (first) input; a source has none
            return _Ref(inputs[0] if inputs else "")
        if "" in inputs:  # it names a left-out source
            raise self.fail(f"from: {entry.data['from']!r} names an entry that is left out here (its when is "
                            "false) and reads nothing, so there is nothing to read in its place; leave out "
                            "this entry too", entry, scope, path)
        if len(self.nodes) >= MAX_LAYERS:
            raise self.fail(f"the spec expands to more than {MAX_LAYERS:,} layers", entry, scope, path)
        fields = None if entry.layer is not None else {
            key: self.value(value, entry, scope, str(key)) for key, value in entry.data.items()
            if key not in ("name", "from", "when")}
        try:
            node = Node(path=path, layer=self.make_layer(fields, entry, path), inputs=inputs, entry=entry,
                        calls=scope.calls)
            shape = self.infer(node, [self.shapes[i] for i in inputs])
        except SpecError as err:
            raise self._with_context(err, scope, path) from None
        self.nodes.append(node)
        self.shapes[path] = shape
        return _Ref(path)

    def _call(self, name: str, entry: Entry, scope: _Scope, last: str) -> _Ref:
        path = scope.prefix + name
        inputs = self._inputs(entry, scope, last, path)
        if len(inputs) != 1:
            raise self.fail("a call reads one entry; name one in from", entry, scope, path)
        if "when" in entry.data and not self._truth(entry.data["when"], entry, scope):
            return _Ref(inputs[0])
        block_name = self.value(entry.data["block"], entry, scope, "block")
        block = self.blocks.get(block_name) if isinstance(block_name, str) else None
        if block is None:
            known = sorted(self.blocks)
            close = difflib.get_close_matches(str(block_name), known, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else \
                ("the blocks are: " + ", ".join(known) if known else "the spec defines none under blocks:")
            raise self.fail(f"no block named {block_name!r}; {hint}", entry, scope, path)
        chain = [s.block for s in _chain(scope) if s.block is not None]
        if block.name in chain:
            loop = " → ".join([*reversed(chain[:chain.index(block.name) + 1]), block.name])
            raise self.fail(f"block {block.name!r} calls itself ({loop}); a block cannot contain itself",
                            entry, scope, path)
        if sum(1 for s in _chain(scope) if s.block is not None) >= MAX_NESTING:
            raise self.fail(f"calls are nested more than {MAX_NESTING} deep", entry, scope, path)
        arguments = {key: value for key, value in entry.data.items() if key not in CALL_KEYS}
        first = entry.data.get("first", {})
        if not isinstance(first, Mapping):
            raise self.fail("first must be a mapping of parameters, e.g. first: {stride: 2}", entry, scope,
                            path)
        for key in [*arguments, *first]:
            if key not in block.params:
                listed = ", ".join(block.params) or "none"
                matches = difflib.get_close_matches(str(key), list(block.params), n=1, cutoff=0.6)
                hint = f"did you mean {matches[0]!r}? " if matches else ""
                raise self.fail(f"block {block.name!r} has no parameter {key!r}; {hint}its parameters: "
                                f"{listed}", entry, scope, path)
        given = {key: self.value(value, entry, scope, str(key)) for key, value in arguments.items()}
        given_first = {key: self.value(value, entry, scope, f"first.{key}") for key, value in first.items()}
        repeat = "repeat" in entry.data
        count = self._count(entry.data["repeat"], entry, scope) if repeat else 1
        source = inputs[0]
        inside: dict[str, _Ref] = {}
        around = (*scope.calls, path) if repeat else scope.calls
        if repeat:
            self.calls[path] = Call(block.name, entry.line, count, entry)
        for k in range(count):
            instance = f"{path}.{k}" if repeat else path
            params = {**block.params, **given, **(given_first if k == 0 else {})}
            inner = _Scope(parent=scope, prefix=instance + ".", input_ref=source,
                           input_shape=self.shapes[source], params={}, block=block.name,
                           calls=(*around, instance), call_line=entry.line)
            inner.params = self._parameters(params, block, entry, inner)
            self.calls[instance] = Call(block.name, entry.line, entry=entry, params=dict(inner.params),
                                        input=source)
            out = self.run(block.entries, inner)
            if repeat:
                inside[str(k)] = _Ref(out, inner.names)
            else:
                inside = inner.names
            source = out
        return _Ref(source, inside)

    def _parameters(self, params: dict[str, Any], block: BlockDef, entry: Entry, inner: _Scope) -> dict[
            str, Any]:
        """Parameter values for one instance: literal ones first, then defaults written as
        expressions or ``$q``, evaluated in the block with the literal ones known."""
        literal = {k: v for k, v in params.items() if not refers(v)}
        inner.params = dict(literal)
        for key, value in params.items():
            if key not in literal:
                inner.params[key] = self.value(value, entry, inner, f"parameter {key}")
        return inner.params


def _plain(value: Any) -> Any:
    """An expression's result as YAML would have given it: int, float, bool or text."""
    if isinstance(value, Fraction):
        return int(value) if value.denominator == 1 else float(value)
    return value


def _chain(scope: _Scope) -> Iterator[_Scope]:
    here: _Scope | None = scope
    while here is not None:
        yield here
        here = here.parent


def _first_part_in(text: str, names: set[str]) -> bool:
    """Whether a dotted reference starts with one of ``names`` (``enc1.conv2`` with enc1 later)."""
    return any(text.startswith(name + ".") for name in names)


def _lookup(text: str, names: Mapping[str, _Ref]) -> _Ref | None:
    """``text`` among ``names``: a whole name (which may hold dots), or a path into a call."""
    if text in names:
        return names[text]
    parts = text.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head, rest = ".".join(parts[:cut]), ".".join(parts[cut:])
        ref = names.get(head)
        if ref is not None and ref.inside is not None:
            found = _lookup(rest, ref.inside)
            if found is not None:
                return found
    return None


def shape_error(message: str, path: str, entry: Entry, source: str | None) -> ShapeError:
    """A :class:`ShapeError` for ``infer`` implementations: the node cannot apply to its inputs."""
    return ShapeError([Issue(message, line=entry.line, layer=path)], source)
