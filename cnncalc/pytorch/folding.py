"""Folding an imported flat spec into blocks, so that it reads like one written by hand.

The importer's spec is flat: one entry per layer, named by its module path. Here the instances
of a submodule type used two times or more (ResNet's ``BasicBlock``) become calls of one block,
with a parameter for each field that differs between instances (``c``, ``stride``) and a
``when: $p`` flag for layers only some instances have (``downsample.0``); the instances of a
``Sequential`` named ``0`` … ``n-1`` (``layer1.0``, ``layer1.1``) become one call with
``repeat: n`` and ``first:`` for what instance 0 has of its own. Every layer keeps its name (a
call named ``layer1`` with ``repeat`` makes ``layer1.0.conv1``, as the module path is), so the
rows of the analysis are the same; the importer checks the folded spec as it checks the flat
one and keeps the flat spec where anything does not fold exactly.

Nothing here imports torch: the model is described by plain data (which paths are instances of
which type, which paths hold numbered children).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

__all__ = ["fold"]

Entry = dict[str, Any]
_NOT_FIELDS = ("name", "type", "from")
_PARAM_NAMES = {"out_channels": "c", "out_features": "n", "kernel_size": "k"}


class _NoFold(Exception):
    """These instances do not fold into one block exactly."""


def _key(value: Any) -> str:
    return repr(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def fold(spec: dict[str, Any], defaults: dict[str, dict[str, Any]], instances: dict[str, str],
         children: dict[str, list[str]]) -> dict[str, Any] | None:
    """``spec`` with blocks, or None where nothing folds. ``defaults`` maps each layer name to
    the defaults of its fields (those left out of the entry), ``instances`` each module path of
    a model's own submodule to its type name, ``children`` each container's path to the names
    of its children in order."""
    layers: list[Entry] = spec["layers"]
    names = [entry["name"] for entry in layers]
    sources: list[list[str]] = []
    for i, entry in enumerate(layers):
        written = entry.get("from")
        previous = names[i - 1] if i else "input"
        if entry["type"] == "parameter":  # it reads nothing
            sources.append([])
            continue
        sources.append([previous] if written is None else [written] if isinstance(written, str)
                       else list(written))
    runs: dict[str, tuple[int, int]] = {}
    for path in instances:
        inside = [i for i, n in enumerate(names) if n.startswith(path + ".")]
        if inside and inside == list(range(inside[0], inside[-1] + 1)):
            runs[path] = (inside[0], inside[-1] + 1)
    outermost = {p: r for p, r in runs.items()
                 if not any(p.startswith(q + ".") for q in runs if q != p)}
    by_type: dict[str, list[str]] = {}
    for path in sorted(outermost, key=lambda p: outermost[p][0]):
        by_type.setdefault(instances[path], []).append(path)
    blocks: dict[str, Any] = {}
    calls: dict[str, tuple[str, dict[str, Any]]] = {}  # instance path → block, its parameter values
    taken: set[str] = set()
    for type_name, paths in by_type.items():
        for group in _groups(paths, outermost, layers, sources):
            _add_block(type_name, group, outermost, layers, sources, defaults, blocks, calls, taken)
    if not blocks:
        return None

    out: list[Entry] = []
    renamed: dict[str, str] = {}  # the last layer of a call → the call's name
    i = 0
    while i < len(layers):
        at = next((p for p in calls if outermost[p][0] == i), None)
        if at is None:
            entry = dict(layers[i])
            written = entry.get("from")
            if isinstance(written, str):
                entry["from"] = renamed.get(written, written)
            elif isinstance(written, list):
                entry["from"] = [renamed.get(w, w) for w in written]
            out.append(entry)
            i += 1
            continue
        path = at
        block_name, args = calls[path]
        params = blocks[block_name].get("params", {})
        repeated = _repeat(path, calls, outermost, children, names, sources)
        start = outermost[path][0]
        outside = _outside(path, outermost[path], sources)
        call: Entry = {"name": path, "block": block_name}
        previous = names[start - 1] if start else "input"
        if outside != previous:
            call["from"] = renamed.get(outside, outside)
        if repeated is None:
            call.update({k: v for k, v in args.items() if v is not None and v != params[k]})
            end = outermost[path][1]
        else:
            parent, members = repeated
            call["name"] = parent
            rest: dict[str, Any] = {}
            for member in members[1:]:
                for k, v in calls[member][1].items():
                    if v is not None:
                        rest.setdefault(k, v)
            call["repeat"] = len(members)
            call.update({k: v for k, v in rest.items() if v != params[k]})
            first = {k: v for k, v in args.items() if v is not None and v != rest.get(k, params[k])}
            if first:
                call["first"] = first
            end = outermost[members[-1]][1]
            path = parent
        renamed[names[end - 1]] = path
        out.append(call)
        i = end
    folded = {k: v for k, v in spec.items() if k != "layers"}
    folded["blocks"] = blocks
    folded["layers"] = out
    return folded


def _groups(paths: list[str], runs: dict[str, tuple[int, int]], layers: list[Entry],
            sources: list[list[str]]) -> list[list[str]]:
    """The instances of one type in groups that can share a block: each instance's layers (names
    and types) a subsequence of its group's longest; groups of one are left out."""
    def signature(path: str) -> list[tuple[str, str]]:
        cut = len(path) + 1
        return [(layers[i]["name"][cut:], layers[i]["type"]) for i in range(*runs[path])]

    groups: list[tuple[list[tuple[str, str]], list[str]]] = []
    for path in sorted(paths, key=lambda p: -(runs[p][1] - runs[p][0])):
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


def _add_block(type_name: str, paths: list[str], runs: dict[str, tuple[int, int]], layers: list[Entry],
               sources: list[list[str]], defaults: dict[str, dict[str, Any]], blocks: dict[str, Any],
               calls: dict[str, tuple[str, dict[str, Any]]], taken: set[str]) -> None:
    """A block for the instances ``paths`` of one type, and their calls; nothing where they
    do not fold exactly."""
    try:
        block, values = _block([_relative(p, runs[p], layers, sources) for p in paths], defaults)
    except _NoFold:
        return
    block_name = base = _snake(type_name)
    n = 1
    while block_name in taken:
        n += 1
        block_name = f"{base}{n}"
    taken.add(block_name)
    blocks[block_name] = block
    for path, args in zip(paths, values, strict=True):
        calls[path] = (block_name, args)


def _outside(path: str, run: tuple[int, int], sources: list[list[str]]) -> str:
    """The one layer outside the instance that its layers read (its input)."""
    found = {s for i in range(*run) for s in sources[i] if not s.startswith(path + ".")}
    if len(found) != 1:
        raise _NoFold
    return found.pop()


def _relative(path: str, run: tuple[int, int], layers: list[Entry],
              sources: list[list[str]]) -> list[tuple[str, Entry, list[str]]]:
    """An instance's layers: (name in the instance, entry, sources in the instance)."""
    outside = _outside(path, run, sources)
    cut = len(path) + 1
    return [(layers[i]["name"][cut:], layers[i],
             ["input" if s == outside else s[cut:] for s in sources[i]]) for i in range(*run)]


def _block(instances: list[list[tuple[str, Entry, list[str]]]],
           defaults: dict[str, dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One block for all ``instances`` and each instance's parameter values (None: not used)."""
    base = max(instances, key=len)
    order = [name for name, _, _ in base]
    union = {name: (entry, srcs) for name, entry, srcs in base}
    present: list[set[str]] = []
    for instance in instances:
        names = [name for name, _, _ in instance]
        it = iter(order)
        if not all(any(n == o for o in it) for n in names):  # a subsequence of the longest
            raise _NoFold
        present.append(set(names))
        for name, entry, _ in instance:
            if entry["type"] != union[name][0]["type"]:
                raise _NoFold

    def resolve(name: str, here: set[str]) -> str:
        while name != "input" and name not in here:
            name = union[name][1][0]
        return name

    def exact() -> bool:
        """Every instance, its absent layers followed back, reads and outputs what it does."""
        for instance, here in zip(instances, present, strict=True):
            if resolve(order[-1], here) != instance[-1][0]:
                return False
            for name, entry, srcs in instance:
                read = [resolve(s, here) for s in union[name][1]]
                if read != srcs and (entry["type"] not in ("add", "mul") or sorted(read) != sorted(srcs)):
                    return False
        return True

    if not exact():
        # A left-out merge stands for its first input: a sum that only some instances have
        # (MobileNetV2's residual) is written with the other term first, as x + y = y + x.
        for name in order:
            entry, srcs = union[name]
            if entry["type"] in ("add", "mul") and len(srcs) == 2 and not all(name in h for h in present):
                union[name] = (entry, srcs[::-1])
        if not exact():
            raise _NoFold

    vectors: list[tuple[str, list[Any]]] = []  # parameter name, value per instance
    fields: dict[str, dict[str, Any]] = {}  # layer → field → constant or ("$", parameter index)

    def parameter(hint: str, values: list[Any]) -> int:
        for k, (_, known) in enumerate(vectors):
            pairs = list(zip(known, values, strict=True))
            overlap = [(a, b) for a, b in pairs if a is not None and b is not None]
            if overlap and all(_key(a) == _key(b) for a, b in overlap):
                vectors[k] = (vectors[k][0], [a if a is not None else b for a, b in pairs])
                return k
        used = {n for n, _ in vectors} | {"input", "in_channels", "in_height", "in_width"}
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
            for other, entry, _ in instance:
                if other == name:
                    keys += [k for k in entry if k not in _NOT_FIELDS and k not in keys]
        fields[name] = {}
        for key in keys:
            values: list[Any] = []
            for instance in instances:
                found = next((e for n, e, _ in instance if n == name), None)
                if found is None:
                    values.append(None)
                elif key in found:
                    values.append(found[key])
                elif key in defaults.get(found["name"], {}):
                    values.append(defaults[found["name"]][key])
                else:
                    raise _NoFold
            defined = [v for v in values if v is not None]
            if len({_key(v) for v in defined}) == 1:
                fields[name][key] = defined[0]
                if len(defined) < len(values):  # a layer only some have: a parameter where one fits
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
            flags[_key(pattern)] = parameter(re.sub(r"\W", "_", name.split(".")[0]), list(pattern))
        fields[name]["when"] = ("$", flags[_key(pattern)])

    params: dict[str, Any] = {}
    for pname, values in vectors:
        counted = Counter(_key(v) for v in values if v is not None)
        common = counted.most_common(1)[0][0]
        params[pname] = next(v for v in values if v is not None and _key(v) == common)
    block_layers: list[Entry] = []
    previous = "input"
    for name in order:
        entry_out: Entry = {"name": name, "type": union[name][0]["type"]}
        srcs = union[name][1]
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


def _repeat(path: str, calls: dict[str, tuple[str, dict[str, Any]]], runs: dict[str, tuple[int, int]],
            children: dict[str, list[str]], names: list[str],
            sources: list[list[str]]) -> tuple[str, list[str]] | None:
    """The container and its instances where ``path`` is instance 0 of a run of instances of one
    block, numbered 0 … n-1, each reading the one before: one call with ``repeat``."""
    parent, _, last = path.rpartition(".")
    if not parent or last != "0" or children.get(parent) != [str(k) for k in range(len(children[parent]))]:
        return None
    members = [f"{parent}.{k}" for k in range(len(children[parent]))]
    if len(members) < 2 or any(m not in calls or calls[m][0] != calls[path][0] for m in members):
        return None
    for before, after in itertools.pairwise(members):
        reads = _outside(after, runs[after], sources)
        if runs[before][1] != runs[after][0] or reads != names[runs[before][1] - 1]:
            return None
    if sum(1 for n in names if n.startswith(parent + ".")) != runs[members[-1]][1] - runs[path][0]:
        return None
    rest: dict[str, Any] = {}
    for member in members[1:]:
        for k, v in calls[member][1].items():
            if v is not None and _key(rest.setdefault(k, v)) != _key(v):
                return None
    return parent, members
