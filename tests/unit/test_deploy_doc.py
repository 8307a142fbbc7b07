"""Every ``maskline`` command ``docs/deploy.md`` tells an operator to run is one the CLI has, with
options it knows: the deployment guide cannot drift from the command line unnoticed."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from maskline.cli import _parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
# `maskline` where a shell would run it: at the start, after `&&` or `exec`, after `sudo -u maskline`.
_COMMAND = re.compile(
    r"(?:^|&&\s*|\bexec\s+|\bsudo -u maskline\s+)(?:/opt/maskline/\.venv/bin/)?"
    r"maskline((?:[ \t]+[^\s;&|#`]+)*)"
)


def commands(text: str) -> list[str]:
    """The arguments of each ``maskline`` run in the code blocks and code spans of ``text``; a
    span names a command in prose, so only its command words count (``--help`` is appended).

    >>> commands("```sh\\nsudo -u maskline maskline db upgrade   # once\\n```\\nsee `maskline number add`")
    ['db upgrade', 'number add --help']
    """
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
    spans = re.findall(r"(?<!`)`([^`\n]+)`(?!`)", re.sub(r"```.*?```", "", text, flags=re.S))
    found = []
    lines = [line for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    for chunk, suffix in [(line, "") for line in lines] + [(span, " --help") for span in spans]:
        chunk = re.sub(r"\$+\([^)]*\)", "X", chunk)  # a command substitution is one word
        found += [match.group(1).strip() + suffix for match in _COMMAND.finditer(chunk.strip())]
    return [each for each in found if each.strip() not in ("", "--help") and '"$@"' not in each]


def refusal(arguments: str) -> str | None:
    """Why the CLI refuses ``arguments``, or None when it takes them."""
    try:
        _parser().parse_args(shlex.split(arguments.replace("'", "")))
    except SystemExit as exit:
        return None if exit.code == 0 else f"maskline {arguments}"
    return None


def test_the_guide_runs_the_cli_at_all() -> None:
    found = commands(DOC.read_text(encoding="utf-8"))
    named = {" ".join(arguments.split()[:2]) for arguments in found}
    assert {"account create", "number add", "db upgrade", "backup --force", "pool plan"} <= named, named
    assert any(arguments.startswith("carrier set") for arguments in found)


def test_every_command_of_the_guide_is_one_the_cli_has(capsys: pytest.CaptureFixture[str]) -> None:
    refused = [r for r in map(refusal, commands(DOC.read_text(encoding="utf-8"))) if r]
    assert refused == []
    # The same check refuses a command or an option the CLI does not have.
    assert refusal("db migrate") == "maskline db migrate"
    assert refusal("backup --compress FILE") == "maskline backup --compress FILE"
    capsys.readouterr()
