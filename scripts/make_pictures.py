"""Write the README's pictures and the sample report: ``python scripts/make_pictures.py``.

docs/lenet5.svg (a chain, the lecture's stacks), docs/resnet18.svg (a network that branches, from
architectures/resnet18.yaml) and docs/sample-report.html (ResNet-18's HTML report, its blocks folded at
depth 2 to begin with). tests/test_draw.py regenerates them and fails when one is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnncalc import analyze  # noqa: E402  (after the path is set, so the checkout's cnncalc is used)
from cnncalc.render.draw import svg  # noqa: E402
from cnncalc.render.html import report_html  # noqa: E402

DOCS = ROOT / "docs"


def pictures() -> dict[str, str]:
    """Each file's name under docs/ and its text."""
    resnet = analyze("resnet18")
    return {
        "lenet5.svg": svg(analyze("lenet5")),
        "resnet18.svg": svg(resnet),
        "sample-report.html": report_html(resnet, depth=2),
    }


def main() -> None:
    for name, text in pictures().items():
        (DOCS / name).write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote docs/{name} ({len(text.encode()):,} bytes)")


if __name__ == "__main__":
    main()
