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

An instance may read more than one name from outside it where a layer of it reads only names
from outside: torchvision's ``_DenseLayer`` joins the list of every earlier feature map itself
(``torch.cat(inputs, 1)``). That layer reads a list parameter, ``from: $inputs``, and each call
passes its list, written in the caller's names (``inputs: [input, denselayer1, denselayer2]``);
the call reads the first of them (its ``from``), so ``input`` inside the block is the same map.

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
    sources: list[str]  # the paths it reads; "input" for the network's input; for a call, its
    # input, then the items of its list arguments (``refs``)
    refs: tuple[tuple[str, int], ...] = ()  # a call's list arguments: parameter, number of items


@dataclass(frozen=True)
class _Span:
    """An instance's items: ``items[start:end]``, reading the item ``outside`` (the call's input)
    and, through list arguments, the items ``extra``."""

    start: int
    end: int
    outside: str
    extra: tuple[str, ...] = ()


_EXTRA = "\x00"  # before a path read from outside an instance besides its input (in its relative names)
_LIST_HINT = "inputs"  # a list argument's name


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
                _add_block(type_name, group, relative, {p: spans[p].outside for p in group}, defaults,
                           blocks, made)
        if made:
            items = _replace(items, spans, made, blocks)
    if not blocks:
        return None

    for block in blocks.values():
        block["layers"] = _repeats(_strip(block["layers"], blocks), blocks, None)
    folded = {k: v for k, v in spec.items() if k != "layers"}
    folded["blocks"] = blocks
    folded["layers"] = _repeats(_strip(_entries(items), blocks), blocks, children)
    if any(_shadowed(entry, blocks) for entry in [*folded["layers"], *(e for b in blocks.values()
                                                                        for e in b["layers"])]):
        return None
    return folded


def _shadowed(entry: Entry, blocks: dict[str, Any]) -> bool:
    """Whether a call's list argument names what its block's own entries would name instead (a
    name is looked up inside the call first)."""
    if "block" not in entry:
        return False
    block = blocks[entry["block"]]
    own = [str(layer["name"]) for layer in block["layers"]]
    return any(name == mine or str(name).startswith(mine + ".")
               for key in _list_params(block) for name in entry.get(key, []) for mine in own)


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
    """The items of one instance where they can become one call: in a row, read from outside at
    their last item only (the instance's output), reading one item outside (the call's input:
    the first read) or more where every item that reads another reads only from outside (a
    layer, which then reads a list argument)."""
    if not indices or len(indices) != indices[-1] + 1 - indices[0]:
        return None
    start, end = indices[0], indices[-1] + 1
    names = {items[i].name for i in indices}
    outside = list(dict.fromkeys(s for i in indices for s in items[i].sources if s not in names))
    if not outside:
        return None
    for i in indices[:-1]:
        if any(not start <= j < end for j in readers.get(items[i].name, ())):
            return None
    extra = tuple(outside[1:])
    for i in indices:
        item = items[i]
        if any(s in extra for s in item.sources) and (
                "block" in item.entry or any(s in names for s in item.sources)):
            return None
    if "input" in extra:  # inside the call, input is its own input: the network's would be unnamed
        return None
    return _Span(start, end, outside[0], extra)


def _relative(path: str, span: _Span, items: list[_Item]) -> list[tuple[str, _Item, list[str]]]:
    """An instance's items: (name in the instance, item, sources in the instance); a path read
    besides the input is ``_EXTRA`` + path."""
    cut = len(path) + 1

    def relative(source: str) -> str:
        if source == span.outside:
            return "input"
        return _EXTRA + source if source in span.extra else source[cut:]

    return [(items[i].name[cut:], items[i], [relative(s) for s in items[i].sources])
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
               inputs: dict[str, str], defaults: dict[str, dict[str, Any]], blocks: dict[str, Any],
               made: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """A block for the instances ``paths`` of one type (each reading ``inputs[path]``), and their
    calls; nothing where they do not fold exactly."""
    try:
        block, values = _block([relative[p] for p in paths], defaults)
    except _NoFold:
        return
    for path, args in zip(paths, values, strict=True):
        call = {"block": "", **{k: [inputs[path] if n == "input" else n.removeprefix(_EXTRA)
                                    for n in args.get(k) or []] for k in _list_params(block)}}
        if _shadowed(call, {"": block}):
            return
    block_name = base = _snake(type_name.rpartition(".")[2])  # a class made in a function: its own name
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
            out.append(_Item(item.name, item.entry, [renamed.get(s, s) for s in item.sources], item.refs))
            i += 1
            continue
        span = spans[path]
        block_name, args = made[path]
        params: dict[str, Any] = blocks[block_name].get("params", {})
        lists = _list_params(blocks[block_name])
        # Every argument written out (a value that no layer of this instance uses is the
        # default), so that calls compare as layers do when an outer block is made of them.
        # A list argument is the paths it names, among the sources; left out where not used.
        full = {k: params[k] if args.get(k) is None else args[k] for k in params if k not in lists}
        sources = [span.outside]
        refs: list[tuple[str, int]] = []
        for k in lists:
            named = [span.outside if n == "input" else n.removeprefix(_EXTRA) for n in args.get(k) or []]
            sources += named
            refs.append((k, len(named)))
        out.append(_Item(path, {"block": block_name, **full}, [renamed.get(s, s) for s in sources],
                         tuple(refs)))
        renamed[items[span.end - 1].name] = path
        i = span.end
    return out


def _entries(items: list[_Item]) -> list[Entry]:
    """The items as spec entries: ``from`` only where an item does not read the one before."""
    out: list[Entry] = []
    previous = "input"
    for item in items:
        out.append(_entry(item.name, item.entry, item.sources, item.refs, previous))
        previous = item.name
    return out


def _entry(name: str, entry: Entry, sources: list[str], refs: tuple[tuple[str, int], ...],
           previous: str) -> Entry:
    """One item as a spec entry: name, type or block, ``from`` where it does not read
    ``previous``, its fields, and a call's list arguments."""
    kind = "block" if "block" in entry else "type"
    out: Entry = {"name": name, kind: entry[kind]}
    reads = sources[:1] if kind == "block" else sources
    if reads and reads != [previous]:
        out["from"] = reads[0] if len(reads) == 1 else list(reads)
    at = 1
    for param, count in refs:
        if count:
            out[param] = list(sources[at:at + count])
        at += count
    out.update({k: v for k, v in entry.items() if k != kind})
    return out


def _list_params(block: dict[str, Any]) -> list[str]:
    """The parameters of ``block`` that are lists of names a layer reads (``from: $inputs``)."""
    return [k for k in block.get("params", {})
            if any(layer.get("from") == f"${k}" for layer in block["layers"])]


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
    layouts = {name: item.refs for name, item, _ in base}
    present: list[set[str]] = []
    for instance in instances:
        names = [name for name, _, _ in instance]
        it = iter(order)
        if not all(any(n == o for o in it) for n in names):  # a subsequence of the longest
            raise _NoFold
        present.append(set(names))
        for name, item, srcs in instance:
            if _kind(item.entry) != _kind(union[name][0]) or item.refs != layouts[name]:
                raise _NoFold
            if item.refs and "input" in srcs[1:] and srcs[0] != "input":
                raise _NoFold  # a list naming this block's input, passed to a call that reads another

    # A layer that reads from outside besides the input reads a list argument, which each call
    # passes; every item of it from outside (the block's input or another). Left out, it stands
    # for its first input: the list's default, [input].
    reading = [[(name, srcs) for name, _, srcs in instance] for instance in instances]
    listed = [name for name in order
              if any(n == name and any(s.startswith(_EXTRA) for s in srcs) for pairs in reading
                     for n, srcs in pairs)]
    for pairs in reading:
        for name, srcs in pairs:
            if name in listed and any(s != "input" and not s.startswith(_EXTRA) for s in srcs):
                raise _NoFold
    for name in listed:
        union[name] = (union[name][0], ["input"])

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
                if name in listed:  # it reads its list argument: srcs exactly
                    continue
                read = [resolve(s, here) for s in union[name][1]]
                if read != srcs and (not merge(item.entry) or sorted(read) != sorted(srcs)):
                    return False
        return True

    if not exact():
        # A left-out merge stands for its first input: a sum that only some instances have
        # (MobileNetV2's residual) is written with the other term first, as x + y = y + x.
        for name in order:
            entry, srcs = union[name]
            if merge(entry) and len(srcs) == 2 and not all(name in h for h in present) and name not in listed:
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
    lists: dict[str, str] = {}  # listed item → its parameter
    for name in listed:
        pname, n = _LIST_HINT, 1
        while pname in params or pname in _RESERVED:
            n += 1
            pname = f"{_LIST_HINT}{n}"
        params[pname] = ["input"]
        lists[name] = pname
        vectors.append((pname, [next((list(srcs) for n, srcs in pairs if n == name), None)
                                 for pairs in reading]))
    block_layers: list[Entry] = []
    previous = "input"
    for name in order:
        entry, srcs = union[name]
        written = {key: f"${vectors[value[1]][0]}" if isinstance(value, tuple) and value[:1] == ("$",)
                   else value for key, value in fields[name].items()}
        entry_out = _entry(name, {k: entry[k] for k in ("block", "type") if k in entry} | written,
                           srcs, layouts[name], previous)
        if name in lists:
            entry_out = {"name": name, "type": entry["type"], "from": f"${lists[name]}",
                         **{k: v for k, v in entry_out.items() if k not in ("name", "type", "from")}}
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
        lists = _list_params(blocks[entry["block"]]) if "block" in entry else []
        for key in ("from", *lists):
            written = entry.get(key)
            if isinstance(written, str):
                entry = {**entry, key: renamed.get(written, written)}
            elif isinstance(written, list):
                entry = {**entry, key: [renamed.get(w, w) for w in written]}
        out.append(entry)
    return out


def _repeat_at(entries: list[Entry], i: int, blocks: dict[str, Any],
               children: dict[str, list[str]] | None) -> tuple[Entry, int] | None:
    """The call with ``repeat`` that the calls from ``entries[i]`` on make, and how many they are;
    None where they make none."""
    head = entries[i]
    parent, _, last = head["name"].rpartition(".")
    if "block" not in head or not parent or last != "0" or "when" in head or "repeat" in head \
            or any(k in head for k in _list_params(blocks[head["block"]])):
        return None
    members = [head]
    for after in entries[i + 1:]:
        if after["name"] != f"{parent}.{len(members)}" or after.get("block") != head["block"] \
                or "from" in after or "when" in after or "repeat" in after \
                or any(k in after for k in _list_params(blocks[head["block"]])):
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
