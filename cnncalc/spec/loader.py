"""Loading a spec: YAML text to a validated :class:`~cnncalc.spec.models.Spec`.

This module owns the YAML and every error mapping on the way in. The file is
untrusted: it is read with a size limit, parsed with the safe loader only,
and checked for nesting depth and alias expansion on the parser's event
stream *before* anything recursive (PyYAML's composer, pydantic) sees it.
Every pydantic error becomes an :class:`~cnncalc.errors.Issue` naming the
YAML line, the layer and what to do, chosen by the error's ``type``.
"""

from __future__ import annotations

import difflib
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from cnncalc.errors import Issue, SpecError
from cnncalc.spec import bundled
from cnncalc.spec.models import (
    KIND_OF_TYPE,
    LAYER_MODELS,
    LAYER_TYPES,
    TYPE_ALIASES,
    UNSUPPORTED_TYPES,
    Block,
    Call,
    InputShape,
    Layer,
    Spec,
    canonical_type,
    kind_of,
    show,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "decode_yaml", "layer_from_fields", "line_of", "load_spec",
           "parse_yaml", "read_yaml", "spec_from_data"]

MAX_BYTES = 16 * 1024 * 1024  # a 10,000-layer spec is well under 1 MiB
MAX_DEPTH = 32  # a spec needs four or five levels; composites add a few more
MAX_VALUES = 2_000_000  # scalars and collections after expanding aliases

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(source: str | Path | Mapping[str, Any]) -> Spec:
    """Load and validate a spec from a YAML file, a bundled name, or a mapping.

    ``source`` may be a path, the name of a bundled architecture (``"alexnet"``),
    ``"-"`` for standard input, or an already-parsed mapping. Raises
    :class:`SpecError` listing every problem found, each with its line where the
    YAML gives one.
    """
    if isinstance(source, Mapping):
        return spec_from_data(source)
    if isinstance(source, str) and not source.strip():
        # Path("") is the current folder; say what was given, not that "." is a folder
        raise SpecError([Issue("the SPEC argument is empty; give a YAML file, a bundled name such as "
                               "lenet5 (cnncalc list shows them all), or - for standard input")],
                        repr(source))
    if source == "-":
        data, root = decode_yaml(sys.stdin.buffer.read(MAX_BYTES + 1), "<stdin>")
        return spec_from_data(data, root, source="<stdin>")
    path = bundled.resolve(source)
    data, root = read_yaml(path)
    return spec_from_data(data, root, source=str(source), stem=path.stem)


def read_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Read a YAML file safely; return its data and the node tree (for line numbers)."""
    where = str(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise SpecError([Issue(f"no such file; bundled names are: {', '.join(bundled.names())}")],
                        where) from None
    except IsADirectoryError:
        raise SpecError([Issue("is a directory, not a spec file")], where) from None
    except OSError as err:
        raise SpecError([Issue(f"cannot read: {err.strerror}")], where) from None
    return decode_yaml(raw, where)


def decode_yaml(raw: bytes, where: str) -> tuple[Any, yaml.Node | None]:
    """Check raw bytes (size, binary, UTF-8) and parse them; for files and standard input alike."""
    if len(raw) > MAX_BYTES:
        raise SpecError([Issue(f"larger than {MAX_BYTES // 2**20} MiB; a spec is a short text file")],
                        where)
    if b"\x00" in raw:
        raise SpecError([Issue("is a binary file, not YAML text")], where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise SpecError([Issue(f"is not UTF-8 text (byte 0x{raw[err.start]:02X} at column {column}); "
                               "save the spec as UTF-8", line=line)], where) from None
    return parse_yaml(text, where)


def parse_yaml(text: str, where: str = "<spec>") -> tuple[Any, yaml.Node | None]:
    """Parse YAML text after bounding its depth and alias expansion."""
    try:
        _check_events(text, where)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _check_nodes(node, where)
            data = _build(node, loader, where) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        raise SpecError([Issue(_yaml_problem(err, text), line=line)], where) from None
    except yaml.YAMLError as err:
        raise SpecError([Issue(f"invalid YAML: {err}")], where) from None
    except ValueError:  # PyYAML's int() of a number longer than Python reads (4,300 digits)
        raise SpecError([Issue("a number in the file is thousands of digits long; a spec's numbers "
                               "are short")], where) from None
    return data, node


def _yaml_problem(err: yaml.MarkedYAMLError, text: str) -> str:
    """PyYAML's problem in words a spec author can act on."""
    problem = err.problem or err.context or "invalid YAML"
    mark = err.problem_mark
    at = text[mark.index] if mark is not None and 0 <= mark.index < len(text) else ""
    if "cannot start any token" in problem and at == "\t":
        return "invalid YAML: a tab in the indentation; YAML indents with spaces"
    if "expected a single document" in str(err.context) or "another document" in problem:
        return "invalid YAML: a second document starts here ('---'); a spec is one document"
    if "maximum nesting depth" in problem:  # libyaml's own bound (PyYAML >= 6.0.4), above ours
        return f"nested more than {MAX_DEPTH} levels deep; a spec needs a few"
    if "mapping values are not allowed" in problem:
        return ("invalid YAML: a ':' where none may be (is this key indented too far, or is a "
                "'-' or ':' missing above?)")
    return f"invalid YAML: {problem}"


def _check_events(text: str, where: str) -> None:
    """Walk the parser's events (iterative, in C) to bound depth and alias expansion.

    An alias inside the collection its anchor names (``layers: &a [*a]``) makes a value that
    contains itself; everything after the parser would recurse on it forever.
    """
    depth = 0
    stack: list[list[Any]] = [[None, 0]]  # per open collection: anchor, expanded size
    anchors: dict[str, int] = {}
    unfinished: dict[str, int | None] = {}  # anchors of open collections: the line of each
    aliased = False
    for event in yaml.parse(text, Loader=_Loader):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([Issue(f"nested more than {MAX_DEPTH} levels deep; a spec needs a few",
                                       line=_event_line(event))], where)
            stack.append([event.anchor, 1])
            if event.anchor:
                unfinished[event.anchor] = _event_line(event)
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, size = stack.pop()
            if anchor:
                anchors[anchor] = size
                unfinished.pop(anchor, None)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                anchors[event.anchor] = 1
                unfinished.pop(event.anchor, None)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor in unfinished:
                at, line = unfinished[event.anchor], _event_line(event)
                raise SpecError([Issue(
                    f"alias *{event.anchor} sits inside &{event.anchor}"
                    + (f" (line {at})" if at and at != line else "") + ", the value it repeats, "
                    "which would then hold itself without end; alias only a complete value",
                    line=line)], where)
            size = anchors.get(event.anchor or "", 1)
            aliased = True
        else:
            continue
        stack[-1][1] += size
        if stack[-1][1] > MAX_VALUES:
            how = " through its aliases" if aliased else ""
            raise SpecError([Issue(f"expands to more than {MAX_VALUES:,} values{how}; "
                                   "a spec is far smaller", line=_event_line(event))], where)


def _event_line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


# Tags whose values a spec can hold; PyYAML's safe loader also builds dates (from an unquoted
# 2024-01-01), sets, ordered maps, pairs and bytes, none of which is a spec's value.
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}"
                        for name in ("null", "bool", "int", "float", "str", "seq", "map"))
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_nodes(root: yaml.Node, where: str) -> None:
    """Check the node tree before anything is built from it.

    Every value must be plain (text, a number, true/false, null, a list or a mapping): a date
    that does not exist (2024-13-45) would otherwise fail deep inside PyYAML, and a set or a
    date would reach the models. Every key must be a word, given once: PyYAML silently keeps
    the last of a repeated key. A merge key (``<<: *base`` or ``<<: [*a, *b]``) is YAML's way to
    repeat a mapping with some keys overridden, so a key it brings in is no repetition.
    """
    seen_nodes: set[int] = set()
    layers = _child(root, "layers")
    layer_of = {id(item): position for position, item in enumerate(getattr(layers, "value", []), 1)
                if isinstance(layers, yaml.SequenceNode)}
    todo: list[tuple[yaml.Node, int | None, str | None]] = [(root, None, None)]
    issues = []
    while todo:
        node, index, name = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if id(node) in layer_of:
            index = layer_of[id(node)]
            named = _child(node, "name")
            name = _scalar(named) if named is not None and named.tag == "tag:yaml.org,2002:str" else None
        line = node.start_mark.line + 1
        if node.tag not in _PLAIN_TAGS:
            issues.append(Issue(_odd_tag(node), line=line, layer=name, index=index))
        elif isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                merge = isinstance(key, yaml.ScalarNode) and key.tag == _MERGE_TAG
                if not merge and (not isinstance(key, yaml.ScalarNode)
                                  or key.tag != "tag:yaml.org,2002:str"):
                    shown = key.value if isinstance(key, yaml.ScalarNode) else "a list or mapping"
                    issues.append(Issue(f"key {shown} is not a field name; keys are words such as "
                                        "kernel_size", line=line, layer=name, index=index))
                elif key.value in keys:
                    fix = "merge several with <<: [*a, *b]" if merge else "keep one"
                    issues.append(Issue(f"{key.value} appears twice (first on line {keys[key.value]}); "
                                        f"{fix}", line=line, layer=name, index=index))
                else:
                    keys[key.value] = line
                todo.append((value, index, name))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, index, name) for item in node.value)
    if issues:
        raise SpecError(sorted(issues, key=lambda i: i.line or 0), where)


def _build(node: yaml.Node, loader: Any, where: str) -> Any:
    """The Python value of a checked node tree (plain tags only, no recursion through aliases).

    Merge keys are resolved here, as the YAML merge-key spec says (keys written in the mapping
    win; of the mappings in ``<<: [*a, *b]`` the earlier wins), rather than by PyYAML, whose
    versions differ on it (6.0.4 lets a later mapping win once an anchor was merged before).
    """
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_object(node)
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, loader, where) for item in node.value]
    merged: dict[Any, Any] = {}
    own: dict[Any, Any] = {}
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.tag == _MERGE_TAG:
            sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for source in reversed(sources):  # the earlier mapping wins
                if not isinstance(source, yaml.MappingNode):
                    raise SpecError([Issue("<< merges a mapping (an anchor such as *base) or a list of "
                                           "them", line=source.start_mark.line + 1)], where)
                merged.update(_build(source, loader, where))
        else:
            own[_build(key, loader, where)] = _build(value, loader, where)
    return {**merged, **own}


def _odd_tag(node: yaml.Node) -> str:
    """What a value that is not plain is, and what to write instead."""
    implicit = (isinstance(node, yaml.ScalarNode) and not node.style  # plain: '' in C, None in Python
                and _yaml_reads(node.value) == node.tag)
    if implicit and node.tag == "tag:yaml.org,2002:timestamp":
        return (f"{node.value} reads as a date in YAML; a spec holds no dates (quote it, "
                f"'{node.value}', to keep it as text)")
    if implicit:
        return (f"{node.value} on its own is special in YAML 1.1, not text; quote it "
                f"('{node.value}') to keep it as text")
    tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
    return f"tag {tag} is not allowed; a spec holds plain values (numbers, words, lists, mappings)"


def _scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def spec_from_data(data: Any, root: yaml.Node | None = None, source: str | None = None,
                   stem: str | None = None) -> Spec:
    """Validate parsed data as a spec, turning every error into a located issue."""
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError([Issue(f"a spec is a mapping with input: and layers:; got {got}",
                               line=_line(root))], source)
    if data and "input" not in data and "layers" not in data:
        raise SpecError([Issue("is not a spec: it has neither input: nor layers: (an answers file? "
                               "in cnncalc check SPEC ANSWERS the spec comes first)", line=_line(root))],
                        source)
    try:
        spec = Spec.model_validate(data)
    except ValidationError as err:
        raise SpecError(_issues(err, data, root), source) from None
    _place(spec.layers, _child(root, "layers"))
    block_nodes = _child(root, "blocks")
    for name, block in spec.blocks.items():
        block_node = _child(block_nodes, name)
        block._line = _line(block_node)
        _place(block.layers, _child(block_node, "layers"))
    spec._source = source
    if spec.name is None and stem is not None:
        spec.name = stem
    return spec


def _place(entries: list[Any], nodes: yaml.Node | None) -> None:
    """Give each entry its YAML node and line."""
    for position, entry in enumerate(entries):
        node = _child(nodes, position)
        entry._line = _line(node)
        entry._node = node


_LAYER_ADAPTER: TypeAdapter[Any] | None = None


def layer_from_fields(fields: dict[str, Any], node: yaml.Node | None, line: int | None,
                      source: str | None, block: str | None = None) -> Any:
    """Validate one layer's fields once its ``$p`` and ``${...}`` values are resolved.

    Errors are located as a spec's are: the line of the field in the entry as written (``node``),
    the entry's name; ``block`` says which block's entry it is.
    """
    global _LAYER_ADAPTER
    model = None
    if isinstance(fields.get("type"), str):
        fields = {**fields, "type": canonical_type(fields["type"])}
        model = LAYER_MODELS.get(fields["type"])
    try:
        if model is not None:  # the type's own model: no union to build (0.2 s) or search
            return model.model_validate(fields)
        if _LAYER_ADAPTER is None:
            _LAYER_ADAPTER = TypeAdapter(Layer)
        return _LAYER_ADAPTER.validate_python(fields)
    except ValidationError as err:
        holder = yaml.MappingNode("tag:yaml.org,2002:map", [
            (yaml.ScalarNode("tag:yaml.org,2002:str", "layers"),
             yaml.SequenceNode("tag:yaml.org,2002:seq", [node] if node is not None else []))])
        data = {"layers": [fields]}
        tag = (fields["type"],) if model is not None else ()  # where the union puts it
        errors = [{**e, "loc": ("layers", 0, "layer", *tag, *e["loc"])}
                  for e in err.errors(include_url=False)]
        issues = [Issue(i.message, line=i.line if node is not None else line, layer=fields.get("name"),
                        block=block) for i in _issues_from(errors, data, holder)]
        raise SpecError(issues, source) from None


# --- pydantic errors to issues -------------------------------------------------

_PLAIN = {
    "missing": "is required",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}
_BOUNDS = {"greater_than_equal": "at least", "greater_than": "greater than",
           "less_than_equal": "at most", "less_than": "less than"}


@dataclass(frozen=True)
class _Where:
    """Where an error sits: the model owning the mapping, its path, and the field path inside."""

    owner: type[BaseModel] | None
    prefix: tuple[Any, ...]
    field: tuple[Any, ...]
    index: int | None  # 0-based position in its layers: list, for an entry's errors
    label: str  # how the owner is named in a message
    entries: tuple[Any, ...] = ("layers",)  # the path of the layers: list holding the entry
    block: str | None = None  # the block whose entry it is


_TAGS = ("layer", "call", "template")  # the entry kinds (cnncalc.spec.models.Entry)


def _where(loc: tuple[Any, ...], data: Mapping[str, Any]) -> _Where:
    if loc[:1] == ("layers",) and len(loc) > 1 and isinstance(loc[1], int):
        entries, index, rest, block = ("layers",), loc[1], loc[2:], None
    elif loc[:1] == ("blocks",) and len(loc) > 3 and loc[2] == "layers" and isinstance(loc[3], int):
        entries, index, rest, block = loc[:3], loc[3], loc[4:], str(loc[1])
    elif loc[:1] == ("blocks",) and len(loc) > 2:
        return _Where(Block, loc[:2], loc[2:], None, f"in block {loc[1]!r}", block=str(loc[1]))
    elif loc[:1] == ("input",) and len(loc) > 1:
        return _Where(InputShape, ("input",), loc[1:], None, "in input")
    else:
        return _Where(Spec, (), loc, None, "at the top level")
    tag = rest[0] if rest and rest[0] in _TAGS else None
    rest = rest[1:] if tag else rest
    if tag == "call":
        return _Where(Call, (*entries, index), rest, index, "in a call", entries, block)
    kind = _layer_type(_entry(data, entries, index))
    if rest and rest[0] == kind:
        rest = rest[1:]  # the discriminator tag pydantic adds
    return _Where(LAYER_MODELS.get(kind or ""), (*entries, index), rest, index, f"for {kind}", entries,
                  block)


def _entry(data: Mapping[str, Any], entries: tuple[Any, ...], index: int) -> Any:
    """The entry at ``index`` of the layers: list at path ``entries``, as written."""
    found: Any = data
    for part in entries:
        found = found.get(part) if isinstance(found, Mapping) else None
    return found[index] if isinstance(found, list) and 0 <= index < len(found) else None


def _issues(err: ValidationError, data: Mapping[str, Any], root: yaml.Node | None) -> list[Issue]:
    return _issues_from(err.errors(include_url=False), data, root)


def _issues_from(errors: list[Any], data: Mapping[str, Any], root: yaml.Node | None) -> list[Issue]:
    suggested = _suggested_fields(errors, data)
    issues = []
    for error in errors:
        where = _where(tuple(error["loc"]), data)
        field = [str(part) for part in where.field]
        if error["type"] == "missing" and field and (where.prefix, field[-1]) in suggested:
            continue  # the misspelt key's did-you-mean already says it
        index = where.index
        if error["type"] == "duplicate_name":
            index = error["ctx"]["index"] - 1
            if where.index is None:  # raised on the list itself: loc is the list's path
                where = _Where(where.owner, where.prefix, (), None, where.label, where.prefix or ("layers",),
                               where.block)
        layer = _entry(data, where.entries, index) if index is not None else None
        name = layer.get("name") if isinstance(layer, Mapping) else None
        path = [*where.prefix, *where.field] if index == where.index else [*where.entries, index, "name"]
        issues.append(Issue(
            message=_message(error, where, layer, data, root),
            line=_line(_locate(root, path, key=error["type"] == "extra_forbidden")),
            layer=str(name) if isinstance(name, (str, int)) and not isinstance(name, bool) else None,
            index=index + 1 if index is not None else None,
            block=where.block,
        ))
    return sorted(issues, key=lambda i: (i.line or 0))


def _message(error: Any, where: _Where, layer: Any, data: Mapping[str, Any],
             root: yaml.Node | None) -> str:
    kind, ctx, given = error["type"], error.get("ctx", {}), error["input"]
    field = ".".join(str(part) for part in where.field) or ("input" if where.prefix == ("input",)
                                                             else "")
    if kind == "union_tag_invalid":
        return _unknown_type(layer.get("type") if isinstance(layer, Mapping) else ctx["tag"])
    if kind == "union_tag_not_found":
        return "has no type; write one, e.g. type: conv2d"
    if kind in ("model_type", "model_attributes_type", "dict_type") and where.index is not None \
            and not where.field:
        return f"must be a mapping such as {{type: relu}}; got {show(given)}"
    if kind == "extra_forbidden":
        return _unknown_field(str(where.field[-1]), where, given)
    if kind == "missing":
        return f"{field} {_missing(str(where.field[-1]), where)}"
    if kind == "duplicate_name":
        first = ctx["first"]
        line = _line(_locate(root, [*where.entries, first - 1]))
        at = f" (line {line})" if line else ""
        return f"name {ctx['name']} is already used by layer #{first}{at}; rename one"
    if kind in ("unknown_activation", "alias_conflict"):
        return str(error["msg"])
    if kind == "too_short" and where.field[-1:] == ("layers",):
        return "layers is empty; list at least one layer"
    if kind == "string_too_short":
        return f"{field} is empty; give one or leave the key out"
    if given is None and kind in _PLAIN:
        return f"{field} has no value; give one or leave the key out"
    if kind == "literal_error":
        return f"{field} must be one of {ctx['expected']}; got {show(given)}"
    if kind in _BOUNDS:
        return f"{field} must be {_BOUNDS[kind]} {next(iter(ctx.values()))}; got {show(given)}"
    if kind in _PLAIN:
        hint = _number_hint(given, whole=kind == "int_type") if kind in ("int_type", "float_type") else ""
        return f"{field} {_PLAIN[kind]}; got {show(given)}{hint}"
    if kind == "not_whole":
        value = ctx["value"]
        return f"{field} must be a whole number; got {show(value)}{_number_hint(value, whole=True)}"
    text = str(error["msg"])
    if not field:
        return text
    return f"{field} {text}" if text.startswith(("must", "has ")) else f"{field}: {text}"


_RESOLVER = yaml.resolver.Resolver()


def _yaml_reads(text: str) -> str:
    """The tag YAML 1.1 gives ``text`` written unquoted (``tag:yaml.org,2002:int``, ``…:str``)."""
    tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return tag


def _number_hint(given: Any, whole: bool) -> str:
    """Why a number arrived as text, and what to write instead ('' when it is no number).

    A quoted number is text. So is an unquoted 1e9 or 1.5e3: YAML 1.1 reads a float only with a
    dot and a signed exponent (1.0e+9), so the number the author meant never reaches cnncalc.
    """
    if not isinstance(given, str):
        return ""
    text = given.strip()
    try:
        number = float(text)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    read_as = _yaml_reads(text)
    if read_as == "tag:yaml.org,2002:int" or (read_as == "tag:yaml.org,2002:float" and not whole):
        return " (remove the quotes)"
    if read_as == "tag:yaml.org,2002:float":
        return f" (remove the quotes and write a whole number, {int(number)})" if number.is_integer() else ""
    said = f" (YAML 1.1 reads {text} as text, not as a number"
    if whole:
        return said + (f"; write {int(number)})" if number.is_integer() else "; and it must be whole)")
    mantissa, _, exponent = text.lower().partition("e")
    written = (mantissa if "." in mantissa else mantissa + ".0") + "e" + (
        exponent if exponent[:1] in ("+", "-") else "+" + exponent)
    if exponent and _yaml_reads(written) == "tag:yaml.org,2002:float":
        return said + f"; write it with a dot and a signed exponent, {written})"
    return said + ")"


def _unknown_type(written: Any) -> str:
    """An unknown type: one cnncalc does not support yet, or a misspelling of a type of its kind."""
    if not isinstance(written, str):
        return f"type must be text such as conv2d; got {show(written)}"
    key = canonical_type(written) if written else written
    kind = kind_of(key)
    if key in UNSUPPORTED_TYPES:
        return f"cnncalc does not support {written!r} yet{_offer(kind)}"
    # only a type cnncalc has is worth suggesting, and only one of the kind the word gives away
    candidates = [name for name in (*LAYER_TYPES, *TYPE_ALIASES) if kind is None or kind_of(name) == kind]
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if close:
        match = close[0]
        named = f"{match!r} ({TYPE_ALIASES[match]})" if match in TYPE_ALIASES else repr(match)
        return f"unknown layer type {written!r}; did you mean {named}?"
    if kind is not None:
        return f"unknown layer type {written!r}{_offer(kind)}"
    return f"unknown layer type {written!r}; known types: {', '.join(LAYER_TYPES)}"


def _offer(kind: str | None) -> str:
    """What cnncalc has of a kind, for a message about a type it lacks."""
    if kind is None:
        return f"; known types: {', '.join(LAYER_TYPES)}"
    supported = [name for name in LAYER_TYPES if KIND_OF_TYPE.get(name) == kind]
    if supported:
        return f"; its {kind} type{' is' if len(supported) == 1 else 's are'} {', '.join(supported)}"
    if kind == "merge":
        return "; a spec is one chain of layers, each reading the one before"
    return f"; it has no {kind} layers"


def _accepted(model: type[BaseModel]) -> list[str]:
    """Every key a model accepts: field names and their aliases."""
    names = []
    for field_name, info in model.model_fields.items():
        if isinstance(info.validation_alias, str):  # `from`, which Python names from_
            names.append(info.validation_alias)
            continue
        names.append(field_name)
        choices = getattr(info.validation_alias, "choices", ())
        names.extend(str(c) for c in choices if c != field_name)
    return names


def _target(model: type[BaseModel], key: str) -> str | None:
    """The field a key (a field name or one of its aliases) fills."""
    for field_name, info in model.model_fields.items():
        if key == info.validation_alias:
            return field_name
    if key in model.model_fields:
        return key
    for field_name, info in model.model_fields.items():
        if key in getattr(info.validation_alias, "choices", ()):
            return field_name
    return None


def _suggestion(key: str, model: type[BaseModel]) -> str | None:
    close = difflib.get_close_matches(key, [k for k in _accepted(model) if k != "type"], n=1,
                                      cutoff=0.6)
    return close[0] if close else None


def _unknown_field(key: str, where: _Where, given: Any) -> str:
    model = where.owner
    if model is None:
        return f"unknown field {key!r}"
    if key == "activation" and where.index is not None:
        kind = where.label.removeprefix("for ")
        after = f"{{type: {given}}}" if isinstance(given, str) else "an activation layer"
        takers = [name for name, model in LAYER_MODELS.items() if "activation" in model.model_fields]
        which = " and ".join([", ".join(takers[:-1]), takers[-1]]) if len(takers) > 1 else takers[0]
        return (f"{kind} takes no activation (only {which} do); "
                f"add {after} after it")
    close = _suggestion(key, model)
    noun = "key" if model is Spec else "field"
    if close:
        return f"unknown {noun} {key!r} {where.label}; did you mean {close!r}?"
    listed = [k for k in _accepted(model) if k != "type"]
    return f"unknown {noun} {key!r} {where.label}; it takes: {', '.join(listed)}"


def _missing(field: str, where: _Where) -> str:
    model = where.owner
    if model is Spec and field == "input":
        return "is required, e.g. input: {channels: 3, height: 32, width: 32}"
    if model is None:
        return "is required"
    aliases = [a for a in _accepted(model) if a != field and _target(model, a) == field]
    also = f" (or {', '.join(aliases)})" if aliases else ""
    return f"is required{also}"


def _layer_type(layer: Any) -> str | None:
    """The canonical type of a layer as written, if it names a known type."""
    written = layer.get("type") if isinstance(layer, Mapping) else None
    kind = canonical_type(written) if isinstance(written, str) else None
    return kind if kind in LAYER_MODELS else None


def _suggested_fields(errors: list[Any], data: Mapping[str, Any]) -> set[tuple[tuple[Any, ...], str]]:
    """(owner path, field) pairs that a misspelt key's did-you-mean will name."""
    found = set()
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        where = _where(tuple(error["loc"]), data)
        if where.owner is None or len(where.field) != 1:
            continue
        close = _suggestion(str(where.field[0]), where.owner)
        target = _target(where.owner, close) if close else None
        if target:
            found.add((where.prefix, target))
    return found


# --- finding lines ---------------------------------------------------------------

def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    """The value node under ``key`` of a mapping node, or item ``key`` of a sequence node."""
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                found: yaml.Node = value_node
                return found
    elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


def _key_node(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node
    return None


def _locate(root: yaml.Node | None, loc: list[Any], key: bool = False) -> yaml.Node | None:
    """The deepest node along ``loc``; with ``key``, the key node of the last step."""
    node = root
    for depth, part in enumerate(loc):
        if key and depth == len(loc) - 1:
            return _key_node(node, part) or node
        child = _child(node, part)
        if child is None:
            return node
        node = child
    return node


def line_of(root: yaml.Node | None, path: list[Any], key: bool = False) -> int | None:
    """The 1-based YAML line of the value at ``path`` (or of its key), as near as the tree allows."""
    return _line(_locate(root, path, key=key))


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None
