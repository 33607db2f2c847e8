"""A spec mapping as YAML that reads like one written by hand: one line per layer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["spec_yaml"]


def spec_yaml(spec: Mapping[str, Any], header: str = "") -> str:
    """``spec`` as YAML: its name, description and input first, then each layer (and each block's
    layers) as one flow mapping per line, keys in the order given. ``header`` is written above
    as comments."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in spec.items():
        if key == "layers":
            lines.append("layers:")
            lines += [f"  - {_flow(layer)}" for layer in value]
        elif key == "blocks":
            lines.append("blocks:")
            for name, block in value.items():
                lines.append(f"  {_flow(name)}:")
                if "params" in block:
                    lines.append(f"    params: {_flow(block['params'])}")
                lines.append("    layers:")
                lines += [f"      - {_flow(layer)}" for layer in block["layers"]]
        else:
            lines.append(f"{_flow(key)}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def _flow(value: Any) -> str:
    text: str = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=float("inf"),
                               allow_unicode=True)
    return text.removesuffix("\n...\n").strip()
