"""Loading a spec: YAML text to a validated :class:`~cnncalc.spec.Spec`.

This module owns the YAML and every error mapping on the way in. The file is
untrusted: it is read with a size limit, parsed with the safe loader only,
and checked for nesting depth and alias expansion on the parser's event
stream *before* anything recursive (PyYAML's composer, pydantic) sees it.
Every pydantic error becomes an :class:`~cnncalc.errors.Issue` naming the
YAML line, the layer and what to do, chosen by the error's ``type``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cnncalc import bundled
from cnncalc.errors import Issue, SpecError
from cnncalc.spec import (
    FIELD_ALIASES,
    LAYER_MODELS,
    LAYER_TYPES,
    TYPE_ALIASES,
    Spec,
    accepted_fields,
    canonical_type,
)

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_VALUES", "load_spec", "read_yaml", "spec_from_data"]

MAX_BYTES = 16 * 1024 * 1024  # a 10,000-layer spec is well under 1 MiB
MAX_DEPTH = 32  # a spec needs four or five levels; composites add a few more
MAX_VALUES = 2_000_000  # scalars and collections after expanding aliases

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(source: str | Path | Mapping[str, Any]) -> Spec:
    """Load and validate a spec from a YAML file, a bundled name, or a mapping.

    ``source`` may be a path, the name of a bundled architecture (``"alexnet"``),
    or an already-parsed mapping. Raises :class:`SpecError` listing every
    problem found, each with its line where the YAML gives one.
    """
    if isinstance(source, Mapping):
        return spec_from_data(source)
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
    if len(raw) > MAX_BYTES:
        raise SpecError([Issue(f"larger than {MAX_BYTES // 2**20} MiB; a spec is a short text file")],
                        where)
    if b"\x00" in raw:
        raise SpecError([Issue("is a binary file, not YAML text")], where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise SpecError([Issue(f"is not UTF-8 text (byte {err.start}); save the spec as UTF-8")],
                        where) from None
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
        problem = err.problem or err.context or "invalid YAML"
        raise SpecError([Issue(f"invalid YAML: {problem}", line=line)], where) from None
    except yaml.YAMLError as err:
        raise SpecError([Issue(f"invalid YAML: {err}")], where) from None
    if node is not None:
        _check_duplicate_keys(node, where)
    return data, node


def _check_events(text: str, where: str) -> None:
    """Walk the parser's events (iterative, in C) to bound depth and alias expansion."""
    depth = 0
    stack: list[list[Any]] = [[None, 0]]  # per open collection: anchor, expanded size
    anchors: dict[str, int] = {}
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
        else:
            continue
        stack[-1][1] += size
        if stack[-1][1] > MAX_VALUES:
            raise SpecError([Issue(f"expands to more than {MAX_VALUES:,} values (through aliases?); "
                                   "a spec is far smaller", line=_event_line(event))], where)


def _event_line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark is not None else None


def _check_duplicate_keys(root: yaml.Node, where: str) -> None:
    """PyYAML keeps the last of two equal keys silently; in a spec that hides a typo."""
    seen_nodes: set[int] = set()
    todo = [root]
    issues = []
    while todo:
        node = todo.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    line = key.start_mark.line + 1
                    if key.value in keys:
                        issues.append(Issue(f"key {key.value!r} appears twice (first on line "
                                            f"{keys[key.value]}); keep one", line=line))
                    keys[key.value] = line
                todo.append(value)
        elif isinstance(node, yaml.SequenceNode):
            todo.extend(node.value)
    if issues:
        raise SpecError(sorted(issues, key=lambda i: i.line or 0), where)


def spec_from_data(data: Any, root: yaml.Node | None = None, source: str | None = None,
                   stem: str | None = None) -> Spec:
    """Validate parsed data as a spec, turning every error into a located issue."""
    if not isinstance(data, Mapping):
        got = "an empty file" if data is None else f"a {type(data).__name__}"
        raise SpecError([Issue(f"a spec is a mapping with input: and layers:; got {got}",
                               line=_line(root))], source)
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
    "finite_number": "must be a finite number",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}


def _issues(err: ValidationError, data: Mapping[str, Any], root: yaml.Node | None) -> list[Issue]:
    errors = err.errors(include_url=False)
    suggested = _suggested_fields(errors, data)
    issues = []
    for error in errors:
        loc = list(error["loc"])
        index = loc[1] if len(loc) > 1 and loc[0] == "layers" and isinstance(loc[1], int) else None
        if error["type"] == "missing" and index is not None and (index, loc[-1]) in suggested:
            continue  # the misspelt key's did-you-mean already says it
        layer_data = data["layers"][index] if index is not None else None
        if index is not None and loc[2:3] and loc[2] == _layer_type(layer_data):
            del loc[2]  # the discriminator tag pydantic adds
        if error["type"] == "duplicate_name":
            index = error["ctx"]["index"] - 1
            loc = ["layers", index, "name"]
            layer_data = data["layers"][index]
        field = [str(part) for part in loc[2 if index is not None else 0:] if isinstance(part, (str, int))]
        name = layer_data.get("name") if isinstance(layer_data, Mapping) else None
        issues.append(Issue(
            message=_message(error, field, layer_data),
            line=_line(_locate(root, loc, key=error["type"] == "extra_forbidden")),
            layer=name if isinstance(name, str) else None,
            index=index + 1 if index is not None else None,
        ))
    return sorted(issues, key=lambda i: (i.line or 0))


def _message(error: Any, field: list[str], layer: Any) -> str:
    kind, ctx = error["type"], error.get("ctx", {})
    where = ".".join(field)
    if kind == "union_tag_invalid":
        return _unknown_type(ctx["tag"])
    if kind == "union_tag_not_found":
        return "has no type; write one, e.g. type: conv2d"
    if kind in ("model_type", "model_attributes_type", "dict_type") and not field:
        return f"must be a mapping such as {{type: relu}}; got {_show(error['input'])}"
    if kind == "extra_forbidden":
        return _unknown_field(field[-1], _layer_type(layer))
    if kind == "missing":
        return f"{where} {_missing(field[-1], layer)}"
    if kind == "too_short" and field == ["layers"]:
        return "layers is empty; list at least one layer"
    if kind == "literal_error":
        return f"{where} must be one of {ctx['expected']}; got {_show(error['input'])}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound = {"greater_than_equal": "at least", "greater_than": "greater than",
                 "less_than_equal": "at most", "less_than": "less than"}[kind]
        value = next(iter(ctx.values()))
        return f"{where} must be {bound} {value}; got {_show(error['input'])}"
    if kind in _PLAIN:
        return f"{where} {_PLAIN[kind]}; got {_show(error['input'])}"
    text = str(error["msg"])
    if not where:
        return text
    return f"{where} {text}" if text.startswith("must") else f"{where}: {text}"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _unknown_type(tag: str) -> str:
    candidates = list(LAYER_TYPES) + list(TYPE_ALIASES)
    close = difflib.get_close_matches(tag, candidates, n=1, cutoff=0.6)
    hint = (f"did you mean {TYPE_ALIASES.get(close[0], close[0])!r}?" if close
            else f"known types: {', '.join(LAYER_TYPES)}")
    return f"unknown layer type {tag!r}; {hint}"


def _unknown_field(key: str, layer_type: str | None) -> str:
    if layer_type is None:
        return f"unknown field {key!r}"
    accepted = accepted_fields(layer_type)
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    if close:
        return f"unknown field {key!r} for {layer_type}; did you mean {close[0]!r}?"
    listed = [f for f in accepted if f != "type"]
    return f"unknown field {key!r} for {layer_type}; it takes: {', '.join(listed)}"


def _layer_type(layer: Any) -> str | None:
    """The canonical type of a layer as written, if it names a known type."""
    written = layer.get("type") if isinstance(layer, Mapping) else None
    kind = canonical_type(written) if isinstance(written, str) else None
    return kind if kind in LAYER_MODELS else None


def _missing(field: str, layer: Any) -> str:
    layer_type = _layer_type(layer)
    if layer_type is None:
        return "is required"
    aliases = [a for a in FIELD_ALIASES[layer_type] if _alias_target(layer_type, a) == field]
    also = f" (or {', '.join(aliases)})" if aliases else ""
    return f"is required{also}"


def _alias_target(layer_type: str, alias: str) -> str | None:
    for name, info in LAYER_MODELS[layer_type].model_fields.items():
        choices = getattr(info.validation_alias, "choices", ())
        if alias in choices:
            return name
    return None


def _suggested_fields(errors: list[Any], data: Mapping[str, Any]) -> set[tuple[int, str]]:
    """(layer index, field) pairs that a misspelt key's did-you-mean will name."""
    found = set()
    for error in errors:
        loc = error["loc"]
        if error["type"] != "extra_forbidden" or len(loc) < 4 or loc[0] != "layers":
            continue
        layer_type = str(loc[2])
        if layer_type not in LAYER_MODELS:
            continue
        close = difflib.get_close_matches(str(loc[-1]), accepted_fields(layer_type), n=1, cutoff=0.6)
        if close:
            target = close[0] if close[0] in LAYER_MODELS[layer_type].model_fields \
                else _alias_target(layer_type, close[0])
            if target:
                found.add((loc[1], target))
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


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None
