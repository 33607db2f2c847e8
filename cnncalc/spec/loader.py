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
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from cnncalc.errors import Issue, SpecError
from cnncalc.spec import bundled
from cnncalc.spec.models import (
    LAYER_MODELS,
    LAYER_TYPES,
    TYPE_ALIASES,
    InputShape,
    Spec,
    canonical_type,
    show,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "decode_yaml", "line_of", "load_spec", "parse_yaml",
           "read_yaml", "spec_from_data"]

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
            data = loader.construct_document(node) if node is not None else None
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
    if node is not None:
        _check_duplicate_keys(node, where)
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
    if "could not determine a constructor for the tag" in problem:
        tag = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        tag = tag.replace("tag:yaml.org,2002:", "!!")
        return f"tag {tag} is not allowed; a spec holds plain values (numbers, words, lists)"
    if "maximum nesting depth" in problem:  # libyaml's own bound (PyYAML >= 6.0.4), above ours
        return f"nested more than {MAX_DEPTH} levels deep; a spec needs a few"
    if "mapping values are not allowed" in problem:
        return ("invalid YAML: a ':' where none may be (is this key indented too far, or is a "
                "'-' or ':' missing above?)")
    return f"invalid YAML: {problem}"


def _check_events(text: str, where: str) -> None:
    """Walk the parser's events (iterative, in C) to bound depth and alias expansion."""
    depth = 0
    stack: list[list[Any]] = [[None, 0]]  # per open collection: anchor, expanded size
    anchors: dict[str, int] = {}
    aliased = False
    for event in yaml.parse(text, Loader=_Loader):
        size = 0
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise SpecError([Issue(f"nested more than {MAX_DEPTH} levels deep; a spec needs a few",
                                       line=_event_line(event))], where)
            stack.append([event.anchor, 1])
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
            anchor, size = stack.pop()
            if anchor:
                anchors[anchor] = size
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor:
                anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
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


def _check_duplicate_keys(root: yaml.Node, where: str) -> None:
    """Reject repeated keys (PyYAML silently keeps the last) and keys that are not words."""
    seen_nodes: set[int] = set()
    layers = _child(root, "layers")
    layer_of = {id(item): position for position, item in enumerate(getattr(layers, "value", []), 1)
                if isinstance(layers, yaml.SequenceNode)}
    todo: list[tuple[yaml.Node, int | None]] = [(root, None)]
    issues = []
    while todo:
        node, index = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        index = layer_of.get(id(node), index)
        if isinstance(node, yaml.MappingNode):
            name = _scalar(_child(node, "name")) if index is not None else None
            keys: dict[str, int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if not isinstance(key, yaml.ScalarNode) or key.tag != "tag:yaml.org,2002:str":
                    shown = key.value if isinstance(key, yaml.ScalarNode) else "a list or mapping"
                    issues.append(Issue(f"key {shown} is not a field name; keys are words such as "
                                        "kernel_size", line=line, layer=name, index=index))
                elif key.value in keys:
                    issues.append(Issue(f"{key.value} appears twice (first on line {keys[key.value]}); "
                                        "keep one", line=line, layer=name, index=index))
                else:
                    keys[key.value] = line
                todo.append((value, index))
        elif isinstance(node, yaml.SequenceNode):
            todo.extend((item, index) for item in node.value)
    if issues:
        raise SpecError(sorted(issues, key=lambda i: i.line or 0), where)


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
    layer_nodes = _child(root, "layers")
    for position, layer in enumerate(spec.layers):
        layer._line = _line(_child(layer_nodes, position))
    spec._source = source
    if spec.name is None and stem is not None:
        spec.name = stem
    return spec


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
    index: int | None  # 0-based layer position, for layer errors
    label: str  # how the owner is named in a message


def _where(loc: tuple[Any, ...], data: Mapping[str, Any]) -> _Where:
    if loc[:1] == ("layers",) and len(loc) > 1 and isinstance(loc[1], int):
        layer = data["layers"][loc[1]]
        kind = _layer_type(layer)
        rest = loc[2:]
        if rest and rest[0] == kind:
            rest = rest[1:]  # the discriminator tag pydantic adds
        return _Where(LAYER_MODELS.get(kind or ""), loc[:2], rest, loc[1], f"for {kind}")
    if loc[:1] == ("input",) and len(loc) > 1:
        return _Where(InputShape, ("input",), loc[1:], None, "in input")
    return _Where(Spec, (), loc, None, "at the top level")


def _issues(err: ValidationError, data: Mapping[str, Any], root: yaml.Node | None) -> list[Issue]:
    errors = err.errors(include_url=False)
    suggested = _suggested_fields(errors, data)
    issues = []
    for error in errors:
        where = _where(tuple(error["loc"]), data)
        field = [str(part) for part in where.field]
        if error["type"] == "missing" and (where.prefix, field[-1]) in suggested:
            continue  # the misspelt key's did-you-mean already says it
        index = where.index
        if error["type"] == "duplicate_name":
            index = error["ctx"]["index"] - 1
        layer = data["layers"][index] if index is not None else None
        name = layer.get("name") if isinstance(layer, Mapping) else None
        path = [*where.prefix, *where.field] if index == where.index else ["layers", index, "name"]
        issues.append(Issue(
            message=_message(error, where, layer, data, root),
            line=_line(_locate(root, path, key=error["type"] == "extra_forbidden")),
            layer=name if isinstance(name, str) else None,
            index=index + 1 if index is not None else None,
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
        line = _line(_locate(root, ["layers", first - 1]))
        at = f" (line {line})" if line else ""
        return f"name {ctx['name']} is already used by layer #{first}{at}; rename one"
    if kind in ("unknown_activation", "alias_conflict"):
        return str(error["msg"])
    if kind == "too_short" and where.field == ("layers",):
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
        quoted = kind in ("int_type", "float_type") and isinstance(given, str) and _is_number(given)
        return f"{field} {_PLAIN[kind]}; got {show(given)}" + (" (remove the quotes)" if quoted else "")
    text = str(error["msg"])
    if not field:
        return text
    return f"{field} {text}" if text.startswith(("must", "has ")) else f"{field}: {text}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unknown_type(written: Any) -> str:
    if not isinstance(written, str):
        return f"type must be text such as conv2d; got {show(written)}"
    key = canonical_type(written) if written else written
    candidates = list(LAYER_TYPES) + list(TYPE_ALIASES)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not close:
        return f"unknown layer type {written!r}; known types: {', '.join(LAYER_TYPES)}"
    match = close[0]
    named = f"{match!r} ({TYPE_ALIASES[match]})" if match in TYPE_ALIASES else repr(match)
    return f"unknown layer type {written!r}; did you mean {named}?"


def _accepted(model: type[BaseModel]) -> list[str]:
    """Every key a model accepts: field names and their aliases."""
    names = []
    for field_name, info in model.model_fields.items():
        names.append(field_name)
        choices = getattr(info.validation_alias, "choices", ())
        names.extend(str(c) for c in choices if c != field_name)
    return names


def _target(model: type[BaseModel], key: str) -> str | None:
    """The field a key (a field name or one of its aliases) fills."""
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
