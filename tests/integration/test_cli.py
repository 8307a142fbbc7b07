"""The operator's CLI, run as a process: clean one-line errors, all-or-nothing commands."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import httpx

from tests.support import ServerProcess, maskline


def _one_line_error(done: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The error a refused command printed: one line, ``status`` (2: a malformed command line),
    no traceback."""
    assert done.returncode == status, done
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


def test_replacing_a_number_moves_its_live_sessions(database: str) -> None:
    url = database
    made = json.loads(maskline("account", "create", database=url).stdout)
    main = made["auth_id"]
    maskline("number", "add", "+14155550100", "+14155550101", "--account", main, database=url)
    server = ServerProcess(url)  # the embedded database serves one process: stopped before the command
    try:
        with httpx.Client(base_url=server.url, auth=(main, made["auth_token"]), trust_env=False) as http:
            body = {"first_party": "+14155550111", "second_party": "+14155550122"}
            created = http.post(f"/v1/Account/{main}/Masking/Session/", json=body)
            assert created.json()["virtual_number"] == "+14155550100"
    finally:
        server.stop()
    done = maskline("number", "replace", "+14155550100", "--account", main, database=url)
    assert json.loads(done.stdout) == [
        {"number": "+14155550100", "sessions_moved": 1, "sessions_not_moved": []}
    ]
    listed = json.loads(maskline("number", "list", "--account", main, database=url).stdout)
    assert {n["number"]: (n["status"], n["live_session_count"]) for n in listed} == {
        "14155550100": ("retired", 0),
        "14155550101": ("in_service", 1),
    }
    unknown = maskline("number", "replace", "+14155550199", "--account", main, database=url, check=False)
    assert "+14155550199" in _one_line_error(unknown)


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


def test_a_first_start_under_systemd_keeps_the_token_out_of_the_journal(tmp_path: Path) -> None:
    """Under systemd, standard output is the journal: no token is printed there, so no account
    is made; the server says how to make one."""
    url = f"sqlite:///{tmp_path / 'maskline.db'}"
    server = ServerProcess(url, "--database", url, journal=True)
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    printed = server.stop()
    assert "auth_token" not in printed and "Created" not in printed
    assert f"maskline account create --database {url}" in printed
    assert json.loads(maskline("account", "list", database=url).stdout) == []
    # Started from a terminal (or anything but the journal), it makes the account as before.
    again = ServerProcess(url, "--database", url)
    assert "auth_token" in again.stop()


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
        "number": ("add", "list", "retire", "replace", "health"),
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


def test_every_mistake_is_one_line_that_names_what_is_wrong(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'maskline.db'}"

    def create(*options: str) -> str:
        return str(json.loads(maskline("account", "create", *options, database=url).stdout)["auth_id"])

    main, other = create(), create()
    sub, others_sub = create("--parent", main), create("--parent", other)
    unknown = "MA" + "Q" * 18
    maskline("number", "add", "+14155550100", "--account", main, database=url)
    bad_trace = tmp_path / "bad.jsonl"
    bad_trace.write_text("{not json\n")
    garbage = tmp_path / "garbage.db"
    garbage.write_text("not a database " * 100)
    missing = tmp_path / "missing"
    carrier = ("carrier", "set", "--carrier", "plivo", "--auth-token", "t0ken")
    mistakes: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        (("account", "create", "--auth-id", "bad"), 1, ("auth_id bad",)),
        (("account", "create", "--auth-id", main), 1, (main, "already exists")),
        (("account", "create", "--parent", unknown), 1, (unknown, "does not exist")),
        (("account", "create", "--parent", sub), 1, (sub, "not a main account")),
        (("account", "rotate-token", "--account", unknown), 1, (unknown,)),
        (("number", "add", "hello", "--account", main), 1, ("hello", "not a valid phone number")),
        (("number", "add", "+14155550101", "--account", unknown), 1, (unknown, "does not exist")),
        (
            ("number", "add", "+14155550101", "--account", main, "--subaccount", others_sub),
            1,
            (others_sub, main),
        ),
        (
            ("number", "add", "+14155550101", "--account", sub),
            1,
            (sub, f"--account {main} --subaccount {sub}"),
        ),
        (("number", "retire", "+14155550100", "--account", sub), 1, (sub, "subaccount")),
        (("number", "add", "+14155550101", "--account", main, "--country", "XX"), 1, ("country XX",)),
        (("number", "list", "--account", unknown), 1, (unknown,)),
        (("number", "health", "--account", unknown), 1, (unknown,)),
        (("number", "health", "--account", main, "--days", "0"), 2, ("'0'", "from 1 to 90")),
        ((*carrier, "--account", main, "--public-url", "not a url"), 1, ("public_url",)),
        ((*carrier, "--account", unknown, "--public-url", "https://mask.example.com"), 1, (unknown,)),
        (("pool", "plan", "--account", unknown), 1, (unknown,)),
        (("pool", "plan", "--account", main, "--days", "0"), 2, ("--days", "'0'", "1 or more")),
        (("pool", "plan", "--trace", str(missing)), 1, (f"{missing}: No such file or directory",)),
        (("pool", "plan", "--trace", str(bad_trace)), 1, (f"{bad_trace}, line 1",)),
        (("sim", "--workload", "trap-3", "--cooloff", "-5"), 2, ("--cooloff", "'-5'")),
        (("sim", "--workload", "trap-3", "--seeds", "0"), 2, ("--seeds", "'0'")),
        (("sim", "--workload", "trap-3", "--write-trace", str(missing / "t.jsonl")), 1, (str(missing),)),
        (("serve", "--port", "99999"), 2, ("--port", "'99999'", "from 1 to 65535")),
        (("serve", "--workers", "0"), 2, ("--workers", "'0'")),
        (("backup", str(garbage)), 1, (str(garbage), "exists")),
        (("backup", str(missing / "copy.db")), 1, (str(missing), "no folder")),
        (("nosuchcommand",), 2, ("nosuchcommand",)),
        (("account", "list", "--database", "mysql://db/maskline"), 1, ("mysql://db/maskline", "unsupported")),
        (("account", "list", "--database", f"sqlite:///{garbage}"), 1, (str(garbage), "not a database")),
    ]
    unreachable = "postgresql://maskline:s3cret@127.0.0.1:1/maskline"
    for command in (("account", "list"), ("db", "upgrade"), ("serve",)):
        shown = "postgresql://maskline:PASSWORD@127.0.0.1:1/maskline"
        mistakes.append(((*command, "--database", unreachable), 1, (f"cannot use the database {shown}",)))
    for command, status, named in mistakes:
        message = _one_line_error(maskline(*command, database=url, check=False), status)
        assert message.startswith("maskline: ") and "s3cret" not in message, (command, message)
        assert all(part in message for part in named), (command, message)
    assert _numbers(url, main) == {"14155550100": "in_service"}  # no mistake changed anything
