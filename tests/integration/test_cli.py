"""The operator's CLI, run as a process: clean one-line errors, all-or-nothing commands."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import httpx

from tests.support import ServerProcess, maskline


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


def test_first_start_next_steps_repeat_the_database_and_address(tmp_path: Path) -> None:
    """The printed next steps work as printed: with the server's --database and port."""
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    server = ServerProcess(f"sqlite:///{tmp_path / 'unused.db'}", "--database", url)
    printed = server.stop()
    steps = printed.split("Next steps:\n", 1)[1].split("\n\n", 1)[0]
    add, curl = (shlex.split(c) for c in steps.replace("\\\n", " ").splitlines() if c.strip())
    assert add[0] == ".venv/bin/maskline" and add[add.index("--database") + 1] == url
    assert curl[-1].startswith(f"{server.url}/v1/Account/")
    account = add[add.index("--account") + 1]
    maskline(*add[1:], database=f"sqlite:///{tmp_path / 'unused.db'}")  # the --database it says
    assert _numbers(url, account) == {add[3].lstrip("+"): "in_service"}


def test_next_steps_never_print_a_database_password() -> None:
    from maskline.cli import _database_option
    from maskline.config import DEFAULT_DATABASE_URL

    assert _database_option(DEFAULT_DATABASE_URL) == ""
    assert _database_option("postgresql://maskline:s3cret@db:5432/maskline") == (
        " --database postgresql://maskline:PASSWORD@db:5432/maskline"
    )


def test_account_list_shows_no_tokens(database: str) -> None:
    url = database
    main = json.loads(maskline("account", "create", "--auth-token", "main-token-1", database=url).stdout)
    sub = json.loads(maskline("account", "create", "--parent", main["auth_id"], database=url).stdout)
    printed = maskline("account", "list", database=url).stdout
    assert "main-token-1" not in printed and sub["auth_token"] not in printed and "pbkdf2" not in printed
    listed = {a["auth_id"]: a for a in json.loads(printed)}
    assert set(listed) == {main["auth_id"], sub["auth_id"]}
    assert listed[main["auth_id"]]["parent"] is None
    assert listed[sub["auth_id"]]["parent"] == main["auth_id"]
    assert all(set(a) == {"auth_id", "parent", "created"} for a in listed.values())
    assert listed[main["auth_id"]]["created"].endswith("+00:00")


def test_a_rotated_token_stops_working_at_once_on_a_running_server(database: str) -> None:
    url = database
    auth_id, old = "MA" + "R" * 18, "the-old-token"
    maskline("account", "create", "--auth-id", auth_id, "--auth-token", old, database=url)
    server = ServerProcess(url)
    try:
        path = f"{server.url}/v1/Account/{auth_id}/Masking/Session/"
        with httpx.Client(trust_env=False, timeout=10) as client:
            assert client.get(path, auth=(auth_id, old)).status_code == 200  # now known to the server
            rotated = json.loads(
                maskline("account", "rotate-token", "--account", auth_id, database=url).stdout
            )
            new = rotated["auth_token"]
            assert rotated["auth_id"] == auth_id and new != old and len(new) >= 32
            assert client.get(path, auth=(auth_id, old)).status_code == 401
            assert client.get(path, auth=(auth_id, new)).status_code == 200
            assert client.get(path, auth=(auth_id, old)).status_code == 401
    finally:
        server.stop()
    unknown = maskline("account", "rotate-token", "--account", "MA" + "Q" * 18, database=url, check=False)
    assert "MA" + "Q" * 18 in _one_line_error(unknown)


def test_help_is_plain_text_and_lists_every_command() -> None:
    top = maskline("--help", database="sqlite:///unused.db").stdout
    assert "``" not in top and ":class:" not in top
    commands = ("serve", "db", "account", "number", "carrier", "pool", "sim", "purge")
    assert all(f"\n    {name} " in top or f"\n    {name}\n" in top for name in commands), top
    for group, actions in {
        "account": ("create", "list", "rotate-token"),
        "number": ("add", "list", "retire"),
        "db": ("upgrade",),
        "pool": ("plan",),
        "carrier": ("set",),
    }.items():
        text = maskline(group, "--help", database="sqlite:///unused.db").stdout
        assert "``" not in text and all(action in text for action in actions), text


def test_a_database_in_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'maskline.db'}"
    for command in (("account", "list"), ("db", "upgrade"), ("number", "list", "--account", "MA" + "A" * 18)):
        message = _one_line_error(maskline(*command, database=url, check=False))
        assert str(tmp_path / "missing") in message
    assert not (tmp_path / "missing").exists()
