"""The Markdown tables the simulator and the planner print: readable in a terminal, and
pasted as they are into documents."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate


def markdown(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> str:
    """A pipe table of ``rows`` (cells already formatted) under ``columns``, each a (heading,
    alignment: "left" or "right") pair; numbers are right-aligned by their column, never
    re-read as numbers."""
    return tabulate(
        [list(row) for row in rows],
        headers=[heading for heading, _ in columns],
        tablefmt="pipe",
        colalign=[align for _, align in columns],
        disable_numparse=True,
    )
