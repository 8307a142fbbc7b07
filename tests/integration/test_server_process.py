"""The real server process: concurrency, first start, and the operator's CLI."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import httpx

from tests.databases import query, sessions_without_holds
from tests.support import ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "C" * 18, "concurrency-token"


def test_parallel_creates_never_share_a_number_within_a_party(database: str) -> None:
    url = database
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=url)
    parties = [f"+1415201{i:04d}" for i in range(8)]
    pairs = list(itertools.combinations(parties, 2))
    bodies = [{"first_party": a, "second_party": b} for a, b in itertools.islice(itertools.cycle(pairs), 200)]
    delta = max(Counter(p for body in bodies for p in body.values()).values())
    pool = [f"+1628556{i:04d}" for i in range(2 * delta - 1)]  # exactly what the guarantee needs
    maskline("number", "add", *pool, "--account", AUTH_ID, database=url)
    # 200 creates of 8 parties at once wait for each other's locks, on 10 connections: on a busy
    # machine the last wait longer than the 5 s a request waits for a connection by default,
    # and are answered 503 by design. This test is about the races, so it lets them all wait.
    server = ServerProcess(url, env={"MASKLINE_DB_TIMEOUT": "60"})
    try:

        async def storm() -> list[httpx.Response]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(
                base_url=server.url, auth=(AUTH_ID, TOKEN), limits=limits, timeout=60, trust_env=False
            ) as client:
                return await asyncio.gather(
                    *(client.post(f"/v1/Account/{AUTH_ID}/Masking/Session/", json=b) for b in bodies)
                )

        responses = asyncio.run(storm())
    finally:
        server.stop()
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 200}, [r.json() for r in responses if r.status_code != 201][:3]

    rows = query(url, "SELECT first_party, second_party, virtual_number FROM sessions")
    unheld = sessions_without_holds(url, time.time())
    assert len(rows) == statuses[201] == 200
    per_party = Counter((party, number) for first, second, number in rows for party in (first, second))
    assert max(per_party.values()) == 1  # no party twice on one number
    assert unheld == []  # and each holds its number for both parties


def test_first_start_creates_an_account_and_says_what_next(database: str) -> None:
    url = database
    server = ServerProcess(url)
    output = server.stop()
    assert "auth_id" in output and "auth_token" in output and "maskline number add" in output
    auth_id = output.split("auth_id")[1].split()[0]
    assert maskline("number", "list", "--account", auth_id, database=url).stdout.strip() == "[]"
    second = ServerProcess(url)  # not on a database that has an account
    assert "auth_token" not in second.stop()


def test_cli_account_and_number_commands(database: str) -> None:
    url = database
    created = json.loads(maskline("account", "create", database=url).stdout)
    main = created["auth_id"]
    assert main.startswith("MA") and len(main) == 20 and len(created["auth_token"]) >= 32
    sub = json.loads(maskline("account", "create", "--parent", main, database=url).stdout)["auth_id"]
    assert sub.startswith("SA") and len(sub) == 20

    added = json.loads(
        maskline("number", "add", "+14155550100", "14155550101", "--account", main, database=url).stdout
    )
    assert [n["number"] for n in added] == ["14155550100", "14155550101"]
    assert added[0]["country"] == "US" and added[0]["status"] == "in_service"
    moved = json.loads(
        maskline(
            "number",
            "add",
            "+14155550101",
            "--account",
            main,
            "--subaccount",
            sub,
            "--country",
            "ca",
            database=url,
        ).stdout
    )
    assert moved[0]["subaccount"] == sub and moved[0]["country"] == "CA"
    maskline("number", "retire", "+14155550100", "--account", main, database=url)
    listed = {
        n["number"]: n for n in json.loads(maskline("number", "list", "--account", main, database=url).stdout)
    }
    assert listed["14155550100"]["status"] == "retired"
    assert (
        json.loads(maskline("number", "list", "--account", sub, database=url).stdout)[0]["number"]
        == "14155550101"
    )

    other = json.loads(maskline("account", "create", database=url).stdout)["auth_id"]
    refused = maskline("number", "add", "+14155550100", "--account", other, database=url, check=False)
    assert refused.returncode != 0
    assert "Number +14155550100 already belongs to another account." in refused.stderr
    bad = maskline("number", "add", "12", "--account", main, database=url, check=False)
    assert bad.returncode != 0 and "is not a valid phone number" in bad.stderr
    taken = maskline("account", "create", "--auth-id", main, database=url, check=False)
    assert taken.returncode != 0 and "already exists" in taken.stderr
    nested = maskline("account", "create", "--parent", sub, database=url, check=False)
    assert nested.returncode != 0 and "is not a main account" in nested.stderr


def test_cli_honours_the_database_flag_over_the_environment(tmp_path: Path) -> None:
    flagged = tmp_path / "flag.db"
    out = maskline(
        "account", "create", "--database", f"sqlite:///{flagged}", database=f"sqlite:///{tmp_path}/env.db"
    )
    assert json.loads(out.stdout)["auth_id"]
    assert flagged.exists() and not (tmp_path / "env.db").exists()
