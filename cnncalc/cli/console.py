"""Printing rich renderables the same way in every command.

On a terminal, rich decides the width and colours. When the output is piped or
redirected (and COLUMNS is not set), every command lays out for 160 columns,
so a saved report or formula is not broken mid-expression, and the padding rich
adds to the end of lines is stripped, so notes and diffs stay clean. A string
is never read as rich markup or emoji codes: renderables carry names and other
user text, and "[/]" or ":smile:" is shown as written (see cnncalc.text).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

__all__ = ["PIPED_WIDTH", "print_renderable"]

PIPED_WIDTH = 160


def print_renderable(renderable: Any, width: int | None = None, soft_wrap: bool = False) -> None:
    """Print to standard output: live on a terminal, or as clean text when piped."""
    from rich.console import Console

    terminal = sys.stdout.isatty()
    if terminal:
        Console(width=width, highlight=False, markup=False, emoji=False,
                soft_wrap=soft_wrap).print(renderable)
        return
    console = Console(width=width or (None if "COLUMNS" in os.environ else PIPED_WIDTH), highlight=False,
                      markup=False, emoji=False, soft_wrap=soft_wrap, color_system=None, force_terminal=False)
    with console.capture() as captured:
        console.print(renderable)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))
