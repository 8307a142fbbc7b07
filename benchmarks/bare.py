"""The bare baseline that benchmarks/api.py compares maskline with (decisions/stack.md §6).

The least a create and a get can do on maskline's stack: Starlette on uvicorn (uvloop, httptools,
one worker, no access log), msgspec for JSON, an lru_cached phonenumbers normaliser like
maskline's, and stdlib sqlite3 (WAL, synchronous=NORMAL) called inline on the event loop.

    POST /rows       {"first_party", "second_party", "session_expiry"} -> 201 and the row
    GET  /rows/{id}  -> 200 and the row, 404 if unknown

Run: .venv/bin/python benchmarks/bare.py --port 8001 --database /tmp/bare.db [--server granian]
(the same app on granian: uvloop, HTTP/1, one worker, no access log).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from functools import lru_cache
from pathlib import Path

import msgspec
import phonenumbers
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


class CreateBody(msgspec.Struct):
    first_party: str
    second_party: str
    session_expiry: int = 1800


class Row(msgspec.Struct):
    id: str
    first_party: str
    second_party: str
    session_expiry: int
    created_at: int


_decode = msgspec.json.Decoder(CreateBody).decode
_encode = msgspec.json.Encoder().encode


@lru_cache(maxsize=65536)
def to_e164(raw: str) -> str | None:
    text = raw if raw.startswith("+") else "+" + raw
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _json(body: object, status: int) -> Response:
    return Response(_encode(body), status, media_type="application/json")


def create_app(path: str) -> Starlette:
    holder: dict[str, sqlite3.Connection] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        db.execute(
            "CREATE TABLE IF NOT EXISTS rows (id TEXT PRIMARY KEY, first_party TEXT NOT NULL,"
            " second_party TEXT NOT NULL, session_expiry INTEGER NOT NULL, created_at INTEGER NOT NULL)"
        )
        holder["db"] = db
        try:
            yield
        finally:
            db.close()

    async def create(request: Request) -> Response:
        try:
            body = _decode(await request.body())
        except msgspec.DecodeError as error:
            return _json({"error": str(error)}, 400)
        first, second = to_e164(body.first_party), to_e164(body.second_party)
        if first is None or second is None:
            return _json({"error": "invalid phone number"}, 400)
        if not 60 <= body.session_expiry <= 86400:
            return _json({"error": "session_expiry out of range"}, 400)
        row = Row(str(uuid.uuid4()), first, second, body.session_expiry, int(time.time()))
        holder["db"].execute(
            "INSERT INTO rows (id, first_party, second_party, session_expiry, created_at) VALUES (?,?,?,?,?)",
            (row.id, row.first_party, row.second_party, row.session_expiry, row.created_at),
        )
        return _json(row, 201)

    async def get(request: Request) -> Response:
        found = (
            holder["db"]
            .execute(
                "SELECT id, first_party, second_party, session_expiry, created_at FROM rows WHERE id = ?",
                (request.path_params["id"],),
            )
            .fetchone()
        )
        if found is None:
            return _json({"error": "not found"}, 404)
        return _json(Row(*found), 200)

    routes = [
        Route("/rows", create, methods=["POST"]),
        Route("/rows/{id}", get, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def from_env() -> Starlette:
    """The app on the database named by $BARE_DATABASE (for servers that import a factory)."""
    return create_app(os.environ["BARE_DATABASE"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--database", required=True, help="SQLite file")
    parser.add_argument("--server", choices=("uvicorn", "granian"), default="uvicorn")
    args = parser.parse_args()
    if args.server == "granian":
        # granian imports the app by name, in a process of its own: same loop, HTTP/1 only.
        os.environ["BARE_DATABASE"] = args.database
        from granian.constants import HTTPModes, Interfaces, Loops
        from granian.server import Server

        Server(
            "bare:from_env",
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            factory=True,
            workers=1,
            loop=Loops.uvloop,
            http=HTTPModes.http1,
            websockets=False,
            log_access=False,
            working_dir=Path(__file__).resolve().parent,
        ).serve()
        return
    uvicorn.run(
        create_app(args.database),
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
