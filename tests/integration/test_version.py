"""The version an operator sees: ``maskline --version`` and ``GET /healthz`` say the installed one."""

from __future__ import annotations

import re
from importlib.metadata import version as installed

import maskline
from tests.support import maskline as run


def test_the_command_line_says_the_installed_version() -> None:
    result = run("--version", database="sqlite:///unused.db")
    assert result.stdout == f"maskline {installed('maskline')}\n"
    assert re.fullmatch(r"maskline \d+\.\d+\.\d+\n", result.stdout)


def test_the_installed_version_is_the_source_tree_s() -> None:
    assert maskline.version() == installed("maskline") == maskline.__version__
