"""Folding an imported flat spec into blocks, so that it reads like one written by hand.

The importer's spec is flat: one entry per layer, named by its module path. Here the instances
of a submodule type used two times or more (ResNet's ``BasicBlock``) become calls of one block,
with a parameter for each field that differs between instances (``c``, ``stride``) and a
``when: $p`` flag for layers only some instances have (``downsample.0``). Folding goes from the
innermost submodules out: GoogLeNet's ``BasicConv2d`` becomes a block first, then each
``Inception`` is a block whose entries are calls of it (``{name: branch1, block: basic_conv2d,
c: $c}``), an argument that differs between the outer instances a parameter of the outer block
passed on. Numbered instances in a row (``layer1.0``, ``layer1.1``) become one call with
``repeat: n`` and ``first:`` for what instance 0 has of its own, at the top level and inside
blocks. Every layer keeps its name (a call named ``layer1`` with ``repeat`` makes
``layer1.0.conv1``, as the module path is), so the rows of the analysis are the same; the
importer checks the folded spec as it checks the flat one and keeps the flat spec where
anything does not fold exactly.

Nothing here imports torch: the model is described by plain data (which paths are instances of
which type, which paths hold numbered children).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

__all__ = ["fold"]

Entry = dict[str, Any]
_NOT_FIELDS = ("name", "type", "block", "from")
_PARAM_NAMES = {"out_channels": "c", "out_features": "n", "kernel_size": "k"}
# Not parameter names: the shape's names, and the keys of a call (a parameter is a call's key).
_RESERVED = {"input", "in_channels", "in_height", "in_width", "true", "false", "True", "False",
             "name", "type", "block", "from", "when", "repeat", "first"}


class _NoFold(Exception):
    """These instances do not fold into one block exactly."""


@dataclass(frozen=True)
class _Item:
    """One entry of the spec being folded: a layer (``type`` and its fields) or a call of a block
    made at an inner level (``block`` and every one of its arguments)."""

    name: str  # the module path
    entry: Entry  # without name and from
    sources: list[str]  # the paths it reads; "input" for the network's input


@dataclass(frozen=True)
class _Span:
    """An instance's items: ``items[start:end]``, reading the one item ``outside``."""

    start: int
    end: int
    outside: str


def _key(value: Any) -> str:
    return repr(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _kind(entry: Entry) -> str:
    return f"block {entry['block']}" if "block" in entry else str(entry["type"])


def _is_parameter(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("$") and not value.startswith("${")


def fold(spec: dict[str, Any], defaults: dict[str, dict[str, Any]], instances: dict[str, str],
         children: dict[str, list[str]]) -> dict[str, Any] | None:
    """``spec`` with blocks, or None where nothing folds. ``defaults`` maps each layer name to
    the defaults of its fields (those left out of the entry), ``instances`` each module path of
    a model's own submodule to its type name, ``children`` each container's path to the names
    of its children in order."""
    items: list[_Item] = []
    previous = "input"
    for entry in spec["layers"]:
        written = entry.get("from")
        if entry.get("type") == "parameter":  # it reads nothing
            sources: list[str] = []
        else:
            sources = [previous] if written is None else [written] if isinstance(written, str) \
                else list(written)
        items.append(_Item(entry["name"], {k: v for k, v in entry.items() if k not in ("name", "from")},
                           sources))
        previous = entry["name"]

    # Each instance's height: 0 where no other instance is inside it, else one more than the
    # highest inside. Folding goes up one height at a time, so that an outer instance's items
    # are already calls of the blocks of the instances inside it.
    inside = _prefixes(items)
    paths = [p for p in instances if p in inside]
    height = dict.fromkeys(paths, 0)
    for path in sorted(paths, key=lambda p: -p.count(".")):
        parts = path.split(".")
        for cut in range(1, len(parts)):
            outer = ".".join(parts[:cut])
            if outer in height:
                height[outer] = max(height[outer], height[path] + 1)
    blocks: dict[str, Any] = {}
    for level in range(max(height.values(), default=-1) + 1):
        inside = _prefixes(items)
        readers: dict[str, set[int]] = {}
        for i, item in enumerate(items):
            for source in item.sources:
                readers.setdefault(source, set()).add(i)
        spans: dict[str, _Span] = {}
        for path in paths:
            if height[path] == level and (span := _span(inside.get(path, []), items, readers)) is not None:
                spans[path] = span
        by_type: dict[str, list[str]] = {}
        for path in sorted(spans, key=lambda p: spans[p].start):
            by_type.setdefault(instances[path], []).append(path)
        made: dict[str, tuple[str, dict[str, Any]]] = {}  # instance path → its block and arguments
        for type_name, group_paths in by_type.items():
            relative = {p: _relative(p, spans[p], items) for p in group_paths}
            for group in _groups(group_paths, relative):
                _add_block(type_name, group, relative, defaults, blocks, made)
        if made:
            items = _replace(items, spans, made, blocks)
    if not blocks:
        return None

    for block in blocks.values():
        block["layers"] = _repeats(_strip(block["layers"], blocks), blocks, None)
    folded = {k: v for k, v in spec.items() if k != "layers"}
    folded["blocks"] = blocks
    folded["layers"] = _repeats(_strip(_entries(items), blocks), blocks, children)
    return folded


def _prefixes(items: list[_Item]) -> dict[str, list[int]]:
    """Each path that holds items (``layer1`` and ``layer1.0`` for ``layer1.0.conv1``): their
    indices."""
    found: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        parts = item.name.split(".")
        for cut in range(1, len(parts)):
            found.setdefault(".".join(parts[:cut]), []).append(i)
    return found


def _span(indices: list[int], items: list[_Item], readers: dict[str, set[int]]) -> _Span | None:
    """The items of one instance where they can become one call: in a row, reading one item
    outside, and read from outside at their last item only (the instance's output)."""
    if not indices or len(indices) != indices[-1] + 1 - indices[0]:
        return None
    start, end = indices[0], indices[-1] + 1
    names = {items[i].name for i in indices}
    outside = {s for i in indices for s in items[i].sources if s not in names}
    if len(outside) != 1:
        return None
    for i in indices[:-1]:
        if any(not start <= j < end for j in readers.get(items[i].name, ())):
            return None
    return _Span(start, end, outside.pop())


def _relative(path: str, span: _Span, items: list[_Item]) -> list[tuple[str, _Item, list[str]]]:
    """An instance's items: (name in the instance, item, sources in the instance)."""
    cut = len(path) + 1
    return [(items[i].name[cut:], items[i],
             ["input" if s == span.outside else s[cut:] for s in items[i].sources])
            for i in range(span.start, span.end)]


def _groups(paths: list[str], relative: dict[str, list[tuple[str, _Item, list[str]]]]) -> list[list[str]]:
    """The instances of one type in groups that can share a block: each instance's items (names
    and kinds) a subsequence of its group's longest; groups of one are left out."""
    def signature(path: str) -> list[tuple[str, str]]:
        return [(name, _kind(item.entry)) for name, item, _ in relative[path]]

    groups: list[tuple[list[tuple[str, str]], list[str]]] = []
    for path in sorted(paths, key=lambda p: -len(relative[p])):
        mine = signature(path)
        for longest, members in groups:
            it = iter(longest)
            if all(any(item == other for other in it) for item in mine):
                members.append(path)
                break
        else:
            groups.append((mine, [path]))
    order = {p: k for k, p in enumerate(paths)}
    return [sorted(members, key=order.__getitem__) for _, members in groups if len(members) > 1]


def _add_block(type_name: str, paths: list[str], relative: dict[str, list[tuple[str, _Item, list[str]]]],
               defaults: dict[str, dict[str, Any]], blocks: dict[str, Any],
               made: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """A block for the instances ``paths`` of one type, and their calls; nothing where they
    do not fold exactly."""
    try:
        block, values = _block([relative[p] for p in paths], defaults)
    except _NoFold:
        return
    block_name = base = _snake(type_name)
    n = 1
    while block_name in blocks:
        n += 1
        block_name = f"{base}{n}"
    blocks[block_name] = block
    for path, args in zip(paths, values, strict=True):
        made[path] = (block_name, args)


def _replace(items: list[_Item], spans: dict[str, _Span], made: dict[str, tuple[str, dict[str, Any]]],
             blocks: dict[str, Any]) -> list[_Item]:
    """``items`` with each instance in ``made`` one call, named by its path; what read the
    instance's last item reads the call."""
    starts = {spans[path].start: path for path in made}
    out: list[_Item] = []
    renamed: dict[str, str] = {}
    i = 0
    while i < len(items):
        path = starts.get(i)
        if path is None:
            item = items[i]
            out.append(_Item(item.name, item.entry, [renamed.get(s, s) for s in item.sources]))
            i += 1
            continue
        span = spans[path]
        block_name, args = made[path]
        params: dict[str, Any] = blocks[block_name].get("params", {})
        # Every argument written out (a value that no layer of this instance uses is the
        # default), so that calls compare as layers do when an outer block is made of them.
        full = {k: params[k] if args.get(k) is None else args[k] for k in params}
        out.append(_Item(path, {"block": block_name, **full}, [renamed.get(span.outside, span.outside)]))
        renamed[items[span.end - 1].name] = path
        i = span.end
    return out


def _entries(items: list[_Item]) -> list[Entry]:
    """The items as spec entries: ``from`` only where an item does not read the one before."""
    out: list[Entry] = []
    previous = "input"
    for item in items:
        entry: Entry = {"name": item.name}
        kind = "block" if "block" in item.entry else "type"
        entry[kind] = item.entry[kind]
        if item.sources and item.sources != [previous]:
            entry["from"] = item.sources[0] if len(item.sources) == 1 else list(item.sources)
        entry.update({k: v for k, v in item.entry.items() if k != kind})
        out.append(entry)
        previous = item.name
    return out


def _strip(entries: list[Entry], blocks: dict[str, Any]) -> list[Entry]:
    """Calls without the arguments that equal their block's defaults."""
    out: list[Entry] = []
    for entry in entries:
        if "block" in entry:
            params = blocks[entry["block"]].get("params", {})
            entry = {k: v for k, v in entry.items()
                     if k not in params or (v is not None and _key(v) != _key(params[k]))}
        out.append(entry)
    return out


def _block(instances: list[list[tuple[str, _Item, list[str]]]],
           defaults: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One block for all ``instances`` and each instance's parameter values (None: not used)."""
    base = max(instances, key=len)
    order = [name for name, _, _ in base]
    union = {name: (item.entry, srcs) for name, item, srcs in base}
    present: list[set[str]] = []
    for instance in instances:
        names = [name for name, _, _ in instance]
        it = iter(order)
        if not all(any(n == o for o in it) for n in names):  # a subsequence of the longest
            raise _NoFold
        present.append(set(names))
        for name, item, _ in instance:
            if _kind(item.entry) != _kind(union[name][0]):
                raise _NoFold

    def resolve(name: str, here: set[str]) -> str:
        while name != "input" and name not in here:
            name = union[name][1][0]
        return name

    def merge(entry: Entry) -> bool:
        return entry.get("type") in ("add", "mul")

    def exact() -> bool:
        """Every instance, its absent items followed back, reads and outputs what it does."""
        for instance, here in zip(instances, present, strict=True):
            if resolve(order[-1], here) != instance[-1][0]:
                return False
            for name, item, srcs in instance:
                read = [resolve(s, here) for s in union[name][1]]
                if read != srcs and (not merge(item.entry) or sorted(read) != sorted(srcs)):
                    return False
        return True

    if not exact():
        # A left-out merge stands for its first input: a sum that only some instances have
        # (MobileNetV2's residual) is written with the other term first, as x + y = y + x.
        for name in order:
            entry, srcs = union[name]
            if merge(entry) and len(srcs) == 2 and not all(name in h for h in present):
                union[name] = (entry, srcs[::-1])
        if not exact():
            raise _NoFold

    vectors: list[tuple[str, list[Any]]] = []  # parameter name, value per instance
    fields: dict[str, dict[str, Any]] = {}  # item → field → constant or ("$", parameter index)

    def parameter(hint: str, values: list[Any]) -> int:
        for k, (_, known) in enumerate(vectors):
            pairs = list(zip(known, values, strict=True))
            overlap = [(a, b) for a, b in pairs if a is not None and b is not None]
            if overlap and all(_key(a) == _key(b) for a, b in overlap):
                vectors[k] = (vectors[k][0], [a if a is not None else b for a, b in pairs])
                return k
        used = {n for n, _ in vectors} | _RESERVED
        name, n = hint, 1
        while name in used:
            n += 1
            name = f"{hint}{n}"
        vectors.append((name, values))
        return len(vectors) - 1

    partial: list[tuple[str, str, list[Any]]] = []
    for name in order:
        keys: list[str] = []
        for instance in instances:
            for other, item, _ in instance:
                if other == name:
                    keys += [k for k in item.entry if k not in _NOT_FIELDS and k not in keys]
        fields[name] = {}
        for key in keys:
            values: list[Any] = []
            for instance in instances:
                found = next((item for n, item, _ in instance if n == name), None)
                if found is None:
                    values.append(None)
                elif key in found.entry:
                    values.append(found.entry[key])
                elif key in defaults.get(found.name, {}):
                    values.append(defaults[found.name][key])
                else:
                    raise _NoFold
            defined = [v for v in values if v is not None]
            if len({_key(v) for v in defined}) == 1:
                fields[name][key] = defined[0]
                if len(defined) < len(values):  # an item only some have: a parameter where one fits
                    partial.append((name, key, values))
            else:
                fields[name][key] = ("$", parameter(_PARAM_NAMES.get(key, key), values))
    for name, key, values in partial:  # ResNet's downsample stride is the block's stride
        hint = _PARAM_NAMES.get(key, key)
        for k, (pname, known) in enumerate(vectors):
            pairs = [(a, b) for a, b in zip(known, values, strict=True) if a is not None and b is not None]
            if pname == hint and pairs and all(_key(a) == _key(b) for a, b in pairs):
                fields[name][key] = ("$", k)
                break

    flags: dict[str, int] = {}
    for name in order:
        pattern = tuple(name in here for here in present)
        if all(pattern):
            continue
        if _key(pattern) not in flags:
            # Named by the item's module (downsample, denselayer7), or by its type where that
            # is a number (Conv2dNormActivation's "2": relu).
            hint = re.sub(r"^[^A-Za-z]+", "", re.sub(r"\W", "_", name.split(".")[0]))
            if not hint:
                entry = union[name][0]
                hint = re.sub(r"^[^A-Za-z]+", "", str(entry.get("type") or entry["block"])) or "flag"
            flags[_key(pattern)] = parameter(hint, list(pattern))
        fields[name]["when"] = ("$", flags[_key(pattern)])

    params: dict[str, Any] = {}
    for pname, values in vectors:
        counted = Counter(_key(v) for v in values if v is not None)
        common = counted.most_common(1)[0][0]
        params[pname] = next(v for v in values if v is not None and _key(v) == common)
    block_layers: list[Entry] = []
    previous = "input"
    for name in order:
        entry, srcs = union[name]
        kind = "block" if "block" in entry else "type"
        entry_out: Entry = {"name": name, kind: entry[kind]}
        if srcs and srcs != [previous]:
            entry_out["from"] = srcs[0] if len(srcs) == 1 else srcs
        for key, value in fields[name].items():
            entry_out[key] = f"${vectors[value[1]][0]}" if isinstance(value, tuple) and value[:1] == ("$",) \
                else value
        block_layers.append(entry_out)
        previous = name
    block: dict[str, Any] = {}
    if params:
        block["params"] = params
    block["layers"] = block_layers
    values_per_instance = [{pname: values[j] for pname, values in vectors} for j in range(len(instances))]
    return block, values_per_instance


def _repeats(entries: list[Entry], blocks: dict[str, Any],
             children: dict[str, list[str]] | None) -> list[Entry]:
    """``entries`` with each run of calls ``C.0`` … ``C.(n-1)`` of one block, each reading the
    one before, as one call named C with ``repeat: n`` (and ``first:``). ``children``: the
    model's containers, for the top level (a run must be all of its container's children)."""
    out: list[Entry] = []
    renamed: dict[str, str] = {}
    i = 0
    while i < len(entries):
        call = _repeat_at(entries, i, blocks, children)
        if call is None:
            entry = entries[i]
            i += 1
        else:
            entry, n = call
            renamed[entries[i + n - 1]["name"]] = entry["name"]
            i += n
        written = entry.get("from")
        if isinstance(written, str):
            entry = {**entry, "from": renamed.get(written, written)}
        elif isinstance(written, list):
            entry = {**entry, "from": [renamed.get(w, w) for w in written]}
        out.append(entry)
    return out


def _repeat_at(entries: list[Entry], i: int, blocks: dict[str, Any],
               children: dict[str, list[str]] | None) -> tuple[Entry, int] | None:
    """The call with ``repeat`` that the calls from ``entries[i]`` on make, and how many they are;
    None where they make none."""
    head = entries[i]
    parent, _, last = head["name"].rpartition(".")
    if "block" not in head or not parent or last != "0" or "when" in head or "repeat" in head:
        return None
    members = [head]
    for after in entries[i + 1:]:
        if after["name"] != f"{parent}.{len(members)}" or after.get("block") != head["block"] \
                or "from" in after or "when" in after or "repeat" in after:
            break
        members.append(after)
    n = len(members)
    if n < 2 or any(e["name"] == parent or e["name"].startswith(parent + ".") for e in entries[i + n:]) \
            or any(e["name"] == parent or e["name"].startswith(parent + ".") for e in entries[:i]):
        return None
    numbered = [str(k) for k in range(n)]
    if children is not None and children.get(parent, numbered) != numbered:
        return None
    params: dict[str, Any] = blocks[head["block"]].get("params", {})

    def args(entry: Entry) -> dict[str, Any]:
        return {k: v for k, v in entry.items() if k in params}

    rest = args(members[1])
    if any(_key(args(m)) != _key(rest) for m in members[2:]):
        return None
    first: dict[str, Any] = {}
    for k in params:
        mine, theirs = args(head).get(k, params[k]), rest.get(k, params[k])
        if _key(mine) != _key(theirs):
            if _is_parameter(mine) and _is_parameter(theirs):
                return None  # two roles inside a block (Inception's 1×1 reduction, then its 3×3)
            first[k] = mine
    call: Entry = {"name": parent, "block": head["block"]}
    if "from" in head:
        call["from"] = head["from"]
    call["repeat"] = n
    call.update(rest)
    if first:
        call["first"] = first
    return call, n
