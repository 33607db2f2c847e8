"""The user-facing errors of cnncalc.

Every user mistake becomes one of these before it reaches the CLI, which maps
them to a message on standard error and exit status 2. Bugs are not caught
and keep their tracebacks.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.text import plural, printable

__all__ = ["CnncalcError", "Issue", "ShapeError", "SpecError", "TorchMissingError"]


class CnncalcError(Exception):
    """Base class of the errors a user can cause; the CLI exits 2 on them."""

    def messages(self) -> list[str]:
        return [str(self)]


@dataclass(frozen=True)
class Issue:
    """One problem in a spec, located as precisely as the loader could."""

    message: str
    line: int | None = None  # 1-based line in the YAML file
    layer: str | None = None  # the layer's name
    index: int | None = None  # the layer's 1-based position in its ``layers`` list (or the network)
    block: str | None = None  # the block whose ``layers`` list holds it, for an entry of a block

    def format(self, source: str | None) -> str:
        """``FILE:LINE: layer NAME (#i): message``, leaving out what is unknown; one line, however
        the file or layer is named (see :func:`cnncalc.text.printable`). A layer of the expanded
        network is named by its path (``layer2.0.conv1``); an entry of a block as written says
        which block (``layer conv1 (#1 of block 'basic')``)."""
        where = source or "<spec>"
        if self.line is not None:
            where += f":{self.line}"
        of = f" of block {self.block!r}" if self.block is not None else ""
        if self.index is not None:
            who = f"layer {self.layer} (#{self.index}{of})" if self.layer else f"layer #{self.index}{of}"
            return printable(f"{where}: {who}: {self.message}")
        if self.layer is not None:
            return printable(f"{where}: layer {self.layer}: {self.message}")
        return printable(f"{where}: {self.message}")


class SpecError(CnncalcError):
    """A spec (or a file) that cannot be loaded: one or more issues."""

    def __init__(self, issues: list[Issue], source: str | None = None) -> None:
        self.issues = issues
        self.source = source
        super().__init__("\n".join(self.messages()))

    #: at most this many problems are shown; a file with thousands says how many more
    SHOWN = 50

    def messages(self) -> list[str]:
        shown = [issue.format(self.source) for issue in self.issues[:self.SHOWN]]
        if len(self.issues) > self.SHOWN:
            more = len(self.issues) - self.SHOWN
            where = self.source or "<spec>"
            shown.append(printable(f"{where}: … and {plural(more, 'more problem')} not shown"))
        return shown


class ShapeError(SpecError):
    """A layer that cannot apply to the shape that reaches it."""


class TorchMissingError(CnncalcError):
    """A command needs torch and it is not installed."""

    def __init__(self) -> None:
        super().__init__('this command needs PyTorch: pip install "cnncalc[torch]"')
