"""The operator's CLI, run as a process: clean one-line errors, all-or-nothing commands."""

from __future__ import annotations

import json
import subprocess

from tests.support import maskline


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The error a refused command printed: one line, status 1, no traceback."""
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr and "Exception" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _numbers(url: str, account: str) -> dict[str, str]:
    listed = json.loads(maskline("number", "list", "--account", account, database=url).stdout)
    return {n["number"]: n["status"] for n in listed}


def test_retiring_an_unknown_number_names_it_and_retires_nothing(database: str) -> None:
    url = database
    main = json.loads(maskline("account", "create", database=url).stdout)["auth_id"]
    maskline("number", "add", "+14155550100", "--account", main, database=url)

    alone = maskline("number", "retire", "+14155550199", "--account", main, database=url, check=False)
    message = _one_line_error(alone)
    assert "+14155550199" in message and main in message

    both = maskline(
        "number", "retire", "+14155550100", "+14155550199", "--account", main, database=url, check=False
    )
    message = _one_line_error(both)
    assert "+14155550199" in message and main in message and "+14155550100" not in message
    assert _numbers(url, main) == {"14155550100": "in_service"}  # neither was retired


def test_adding_another_accounts_number_names_it_and_adds_nothing(database: str) -> None:
    url = database
    first = json.loads(maskline("account", "create", database=url).stdout)["auth_id"]
    second = json.loads(maskline("account", "create", database=url).stdout)["auth_id"]
    maskline("number", "add", "+14155550100", "--account", first, database=url)

    refused = maskline(
        "number", "add", "+14155550101", "+14155550100", "--account", second, database=url, check=False
    )
    message = _one_line_error(refused)
    assert "+14155550100" in message and "another account" in message
    assert _numbers(url, second) == {}  # the first number was not added either
    assert _numbers(url, first) == {"14155550100": "in_service"}
