"""Operator commands: serve, db upgrade, backup, account create/list/rotate-token, number
add/list/retire/replace/health, carrier set, pool plan, purge and sim."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.util
import json
import os
import shlex
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import msgspec

from maskline import version
from maskline.config import DEFAULT_DATABASE_URL, Config, ConfigError
from maskline.domain import errors
from maskline.domain.allocation import CooloffScope
from maskline.domain.calls import WEBHOOK_CARRIERS, CarrierKind
from maskline.domain.errors import MaskingError
from maskline.domain.health import WINDOW, HealthRules, NumberHealth
from maskline.domain.model import Account
from maskline.domain.ports import Store, StoreUnavailable
from maskline.http.render import number_object
from maskline.service.accounts import create_account, rotate_token
from maskline.service.calls import CallService
from maskline.service.health import number_health
from maskline.service.numbers import NumberService
from maskline.service.sessions import SessionService
from maskline.sim.trace import Trace
from maskline.store.backup import BackupError, backup_sqlite
from maskline.store.migrate import OutdatedSchema, upgrade
from maskline.store.open import UnsupportedDatabase, check_url, open_store, sqlite_path
from maskline.telephony.xml import webhook_urls

PURGE_PART = 1000  # sessions deleted per transaction by ``purge``


class _Parser(argparse.ArgumentParser):
    """Says what is wrong with a command line in one line, and where to read more."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"maskline: {message} (see '{self.prog} --help')\n")


def _whole(least: int, most: int | None = None) -> Callable[[str], int]:
    """An option's reader of whole numbers from ``least`` (to ``most``)."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = least - 1
        if value < least or (most is not None and value > most):
            span = f"from {least} to {most}" if most is not None else f"of {least} or more"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {span}")
        return value

    return read


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="maskline",
        description="Serve and run maskline, the phone-number masking service that speaks Plivo's"
        " Masking Session API.",
        epilog="Every command but sim takes --database URL (default: $MASKLINE_DATABASE_URL or"
        " sqlite:///./maskline.db). 'maskline COMMAND --help' shows a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"maskline {version()}")
    commands = parser.add_subparsers(dest="command", required=True, title="commands", metavar="COMMAND")

    def command(sub: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument(
            "--database",
            help="database URL (default: $MASKLINE_DATABASE_URL or sqlite:///./maskline.db)",
        )
        return p

    serve = command(commands, "serve", "Run the API server.")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_whole(1, 65535), default=8000)
    serve.add_argument(
        "--workers", type=_whole(1), default=1, help="server processes (more than one needs PostgreSQL)"
    )

    db = commands.add_parser("db", help="Manage the database schema.").add_subparsers(
        dest="action", required=True
    )
    command(db, "upgrade", "Bring the database schema up to date (run it before starting a new version).")
    backup = command(
        commands,
        "backup",
        "Copy the embedded SQLite database to FILE, consistently, while the server runs"
        " (PostgreSQL: use pg_dump).",
    )
    backup.add_argument("file", type=Path, metavar="FILE")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")

    sim = commands.add_parser(
        "sim",
        help="Replay session traces through the allocation policies and size the pool.",
        description="Replay session traces (generated workloads or a JSON Lines file) through the "
        "allocation policies, in memory, and report Δ, K* (the smallest pool with no refusal) and "
        "K*/Δ per workload and policy, and how often a party calling its number 10 min, 1 h, 6 h "
        "and 24 h after its session ended reaches someone else (at --pool-size numbers per pool, "
        "else at 1.2 × first-fit's K*), over both sides and per side.",
    )
    sim.add_argument(
        "--workload", action="append", help="a workload name (repeatable; default: all realistic)"
    )
    sim.add_argument("--trace", type=Path, help="a JSON Lines trace file to replay instead")
    sim.add_argument("--policy", action="append", help="a policy (repeatable; default: all)")
    sim.add_argument("--seeds", type=_whole(1), default=1, help="traces per workload (seeds 1..N); medians")
    sim.add_argument("--cooloff", type=_whole(0), help="give every session this cool-off, in seconds")
    sim.add_argument("--scope", choices=[s.value for s in CooloffScope], default=CooloffScope.PER_PARTY.value)
    sim.add_argument(
        "--pool-size",
        type=_whole(1),
        help="also report the refusal rate with this many numbers, and measure misroutes there",
    )
    sim.add_argument("--write-trace", type=Path, help="write the first seed's trace of the workload here")
    sim.add_argument("--optimum", action="store_true", help="also solve for the exact optimum (small traces)")
    sim.add_argument("--list", action="store_true", help="list the workloads and policies")

    account = commands.add_parser("account", help="Manage accounts.").add_subparsers(
        dest="action", required=True
    )
    create = command(account, "create", "Create a main account, or a subaccount with --parent.")
    create.add_argument("--auth-id", help="MA or SA followed by 18 letters or digits (default: random)")
    create.add_argument("--auth-token", help="default: a random 40-character token")
    create.add_argument("--parent", help="main account of the new subaccount")
    command(account, "list", "List the accounts: auth_id, parent and creation time (never tokens).")
    rotate = command(
        account,
        "rotate-token",
        "Give an account a new random auth token and print it once; the old one is refused at once.",
    )
    rotate.add_argument("--account", required=True)

    number = commands.add_parser("number", help="Manage the number pool.").add_subparsers(
        dest="action", required=True
    )
    add = command(number, "add", "Put numbers in service.")
    add.add_argument("numbers", nargs="+", metavar="NUMBER")
    add.add_argument("--account", required=True)
    add.add_argument("--subaccount", help="serve only this subaccount's sessions")
    add.add_argument("--country", help="ISO 3166-1 alpha-2 code (default: the number's own)")
    listing = command(number, "list", "List an account's numbers.")
    listing.add_argument("--account", required=True)
    retire = command(number, "retire", "Take numbers out of service (live sessions keep them).")
    retire.add_argument("numbers", nargs="+", metavar="NUMBER")
    retire.add_argument("--account", required=True)
    replacing = command(
        number,
        "replace",
        "Take numbers out of service and move their live sessions to other numbers of their pools"
        " (a party who dials the old number still reaches the same counterpart).",
    )
    replacing.add_argument("numbers", nargs="+", metavar="NUMBER")
    replacing.add_argument("--account", required=True)
    health = command(
        number,
        "health",
        "Per number in service: its calls over the window, how many the dialled party answered,"
        " the answered calls cut short, the commonest end cause of the unanswered, and whether it"
        " answers significantly worse than the rest of its pool (flagged).",
    )
    health.add_argument("--account", required=True)
    health.add_argument(
        "--days", type=_whole(1, 90), default=WINDOW // 86400, help="calls to judge from (default 7 days)"
    )
    pool = commands.add_parser("pool", help="Size the number pools.").add_subparsers(
        dest="action", required=True
    )
    planning = command(
        pool,
        "plan",
        "Per pool and country: Δ now and at its peak, the numbers needed, the 2Δ−1 rule, headroom;"
        " the late calls an hour after a session's end that reach someone else with the numbers in"
        " service, and the pool that would bring them under 1 percent.",
    )
    planning.add_argument("--account", help="the main account whose pools to plan (from the database)")
    planning.add_argument("--days", type=_whole(1), default=30, help="history to size from (default 30 days)")
    planning.add_argument("--trace", type=Path, help="plan from a trace file instead of the database")
    purge = command(
        commands,
        "purge",
        "Delete the sessions that ended before a date, with their calls and delivered events"
        " (the server does it by itself after MASKLINE_RETENTION_DAYS).",
    )
    purge.add_argument("--before", required=True, type=_date, help="YYYY-MM-DD or an ISO 8601 time (UTC)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    carrier = commands.add_parser("carrier", help="Connect an account to its carrier.").add_subparsers(
        dest="action", required=True
    )
    setting = command(carrier, "set", "Set the carrier that hosts an account's numbers.")
    setting.add_argument("--account", required=True)
    setting.add_argument("--carrier", required=True, choices=[k.value for k in WEBHOOK_CARRIERS])
    setting.add_argument("--auth-token", required=True, help="the carrier's auth token (signs webhooks)")
    setting.add_argument("--public-url", required=True, help="the URL the carrier reaches maskline at")
    setting.add_argument("--carrier-auth-id", default="", help="Plivo auth id or Twilio account SID")
    return parser


def _date(text: str) -> int:
    """Seconds since the epoch of an ISO 8601 date or time, UTC unless it says otherwise."""
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-08-01") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp())


@contextlib.contextmanager
def _reaching(url: str) -> Iterator[None]:
    """Whatever a database's driver raises on the way in, said in one line that names the database."""
    import asyncpg
    from sqlalchemy.exc import DBAPIError

    try:
        yield
    except (
        OSError,
        sqlite3.DatabaseError,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        DBAPIError,
    ) as error:
        reason = error.orig if isinstance(error, DBAPIError) else error  # the driver's own words
        raise ConfigError(f"cannot use the database {_shown_url(url)}: {reason}") from None


async def _with_store(config: Config, work: Callable[[Store], Awaitable[int]]) -> int:
    with _reaching(config.database_url):
        store = await open_store(config.database_url, pool_size=1, durable=config.sqlite_durable)
    try:
        return await work(store)
    finally:
        await store.close()


async def _account(store: Store, auth_id: str) -> Account:
    found = await store.accounts.get_account(auth_id)
    if found is None:
        raise errors.AccountNotFound(auth_id)
    return found[0]


def _print_json(value: object) -> None:
    print(json.dumps(msgspec.to_builtins(value), indent=2))


async def _run(args: argparse.Namespace, config: Config) -> int:
    now = int(time.time())

    async def account_command(store: Store) -> int:
        if args.action == "list":
            _print_json(
                [
                    {
                        "auth_id": account.auth_id,
                        "parent": account.parent_id,
                        "created": dt.datetime.fromtimestamp(created, dt.UTC).isoformat(),
                    }
                    for account, created in await store.accounts.list_accounts()
                ]
            )
            return 0
        if args.action == "rotate-token":
            _print_json(
                {"auth_id": args.account, "auth_token": await rotate_token(store.accounts, args.account)}
            )
            return 0
        account, token = await create_account(
            store.accounts, now, auth_id=args.auth_id, auth_token=args.auth_token, parent_id=args.parent
        )
        _print_json({"auth_id": account.auth_id, "auth_token": token})
        return 0

    async def number_command(store: Store) -> int:
        account = await _account(store, args.account)
        if args.action == "health":
            rules = HealthRules(window=args.days * 86400)
            judged = await number_health(store.calls, account.main_id, now, rules)
            mine = [h for h in judged if not account.is_subaccount or h.calls.pool == account.auth_id]
            print(health_table(mine))
            return 0
        if account.is_subaccount and args.action != "list":
            raise ConfigError(
                f"{account.auth_id} is a subaccount: its main account manages its numbers"
                f" (--account {account.parent_id} --subaccount {account.auth_id})"
            )
        service = NumberService(store.numbers, store.accounts, time.time)
        if args.action == "add":
            if args.subaccount:
                found = await store.accounts.get_account(args.subaccount)
                if found is None or found[0].parent_id != account.auth_id:
                    raise ConfigError(f"{args.subaccount} is not a subaccount of {account.auth_id}")
            added = await service.add(account, args.numbers, subaccount=args.subaccount, country=args.country)
            _print_json([number_object(n, account.auth_id) for n in added])
        elif args.action == "retire":
            await service.retire(account, args.numbers)
            _print_json({"retired": args.numbers})
        elif args.action == "replace":
            from maskline.http.app import session_config
            from maskline.telemetry import COUNTERS

            sessions = SessionService(
                store.sessions, store.accounts, time.time, session_config(config), COUNTERS
            )
            replaced = await service.replace(account, args.numbers, sessions)
            _print_json(
                [
                    {
                        "number": moves.number,
                        "sessions_moved": len(moves.moved),
                        "sessions_not_moved": [s.uuid for s in moves.stuck],
                    }
                    for moves in replaced
                ]
            )
        else:
            _print_json([number_object(n, account.auth_id) for n in await service.list(account)])
        return 0

    async def carrier_set(store: Store) -> int:
        account = await _account(store, args.account)
        calls = CallService(store.calls, store.sessions, store.numbers, store.accounts, time.time)
        carrier = await calls.set_carrier(
            account, CarrierKind(args.carrier), args.auth_token, args.public_url, args.carrier_auth_id
        )
        _print_json(
            {"account": carrier.account_id, "carrier": carrier.kind.value, "webhooks": webhook_urls(carrier)}
        )
        return 0

    async def pool_plan(store: Store) -> int:
        from maskline.service.capacity import plan_pools
        from maskline.sim.plan import plan_table

        account = await _account(store, args.account)
        with _progress("sizing pools", "pool") as progress:
            rows = await plan_pools(
                store.sessions,
                store.numbers,
                account.main_id,
                now,
                args.days * 86400,
                config.policy,
                progress,
                late_calls=True,
            )
        print(plan_table(rows, late=True))
        return 0

    async def purge(store: Store) -> int:
        count = await store.sessions.purgeable(args.before, now)
        when = dt.datetime.fromtimestamp(args.before, dt.UTC).isoformat()
        if count and not args.yes:
            try:
                answer = input(f"Delete {count} sessions that ended before {when}? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                print("maskline: nothing deleted", file=sys.stderr)
                return 1
        deleted = 0
        with _progress("purging", "session") as progress:
            while True:  # in parts: the server's writes wait for one part at most
                part = await store.sessions.purge(args.before, now, PURGE_PART)
                deleted += part
                progress(deleted, max(count, deleted))
                if part < PURGE_PART:
                    break
        print(f"maskline: deleted {deleted} sessions that ended before {when}")
        return 0

    commands = {
        "account": account_command,
        "purge": purge,
        "number": number_command,
        "carrier": carrier_set,
        "pool": pool_plan,
    }
    return await _with_store(config, commands[args.command])


HEALTH_COLUMNS = [
    ("pool", "left"),
    ("country", "left"),
    ("number", "left"),
    ("calls", "right"),
    ("answered", "right"),
    ("short calls", "right"),
    ("top cause", "left"),
    ("flagged", "left"),
]


def health_table(judged: Sequence[NumberHealth]) -> str:
    """One row per number: its dialled calls, the share answered, the share of the answered cut
    short, the commonest end cause of the unanswered, and whether it is flagged (with why)."""
    from maskline.sim.tables import markdown

    def share(rate: float | None) -> str:
        return "–" if rate is None else f"{rate:.0%}"

    return markdown(
        HEALTH_COLUMNS,
        [
            [
                h.calls.pool,
                h.calls.country,
                h.calls.number,
                f"{h.calls.dialled:,}",
                share(h.calls.answer_rate),
                share(h.calls.short_rate),
                h.calls.top_cause or "–",
                f"yes: {', '.join(h.worse)}" if h.flagged else "no",
            ]
            for h in judged
        ],
    )


def _shown_url(url: str) -> str:
    """``url`` with PASSWORD in place of its password, if it has one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:PASSWORD@{host}"))


def _database_option(url: str) -> str:
    """`` --database URL`` for a command to use the database ``url``; none for the default.
    A password in the URL is not printed: the operator puts it back."""
    return "" if url == DEFAULT_DATABASE_URL else f" --database {shlex.quote(_shown_url(url))}"


def _base_url(host: str, port: int) -> str:
    """The URL a client on this host reaches a server listening on ``host`` at."""
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _to_the_journal() -> bool:
    """Whether standard output goes to systemd's journal, which names it in JOURNAL_STREAM
    (systemd.exec(5)): what is printed there is kept, and read by anyone who reads logs."""
    try:
        status = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):
        return False
    return os.environ.get("JOURNAL_STREAM") == f"{status.st_dev}:{status.st_ino}"


async def bootstrap(config: Config, host: str, port: int) -> None:
    """On an empty database, create a first account and say how to use it, with the options
    the server was started with."""

    async def work(store: Store) -> int:
        if await store.accounts.count_accounts():
            return 0
        database = _database_option(config.database_url)
        if _to_the_journal():
            print(
                "This database has no account yet. Create one, which prints its token to you alone:\n"
                f"  maskline account create{database}",
                flush=True,
            )
            return 0
        account, token = await create_account(store.accounts, int(time.time()))
        base = _base_url(host, port)
        print(
            "Created the first account on this empty database:\n"
            f"  auth_id    {account.auth_id}\n  auth_token {token}\n\n"
            "Next steps:\n"
            f"  .venv/bin/maskline number add +14155550100 --account {account.auth_id}{database}\n"
            f"  curl -u {account.auth_id}:{token} -H 'Content-Type: application/json' \\\n"
            f'       -d \'{{"first_party": "+14155550111", "second_party": "+14155550122"}}\' \\\n'
            f"       {base}/v1/Account/{account.auth_id}/Masking/Session/\n",
            flush=True,
        )
        return 0

    await _with_store(config, work)


def serve(config: Config, host: str, port: int, workers: int) -> None:
    import uvicorn

    from maskline.http.app import create_app

    if workers < 1:
        raise ConfigError(f"--workers should be 1 or more, not {workers}")
    if workers > 1 and sqlite_path(config.database_url) is not None:
        raise ConfigError(
            "the embedded SQLite database serves one process: use --workers 1, or PostgreSQL"
            " (MASKLINE_DATABASE_URL=postgresql://...) for more"
        )
    from maskline.edge import EdgeLimits, EdgeProtocol, edge_protocol, raise_open_files_limit
    from maskline.telemetry import configure_logging

    configure_logging()
    raise_open_files_limit()  # every connection is an open file
    # uvicorn drains in-flight requests on SIGTERM, then raises the signal again to stop: a
    # drained stop is a clean one, so it ends with status 0.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    asyncio.run(bootstrap(config, host, port))
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "ws": "none",  # no websockets: an upgrade request is answered as any other request
        "access_log": False,  # maskline logs each request itself, without query strings
        "log_config": None,
        "limit_concurrency": config.max_connections,
        "proxy_headers": False,  # the app reads forwarding headers, from trusted proxies only
        "timeout_keep_alive": config.keepalive_timeout,
    }
    if workers == 1:
        uvicorn.run(create_app(config), http=edge_protocol(EdgeLimits.of(config)), **options)
        return
    # Each worker process builds its app from the environment and writes its counters where
    # /metrics, in whichever process answers it, adds them up.
    with tempfile.TemporaryDirectory(prefix="maskline-metrics-") as counters:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = counters
        os.environ["MASKLINE_DATABASE_URL"] = config.database_url
        # Worker processes import the protocol by name and read its limits from the environment.
        uvicorn.run(
            "maskline.http.app:worker_app", factory=True, workers=workers, http=EdgeProtocol, **options
        )


@contextlib.contextmanager
def _progress(what: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A bar on standard error, when that is a terminal, told (done, in all) as work goes on."""
    from tqdm import tqdm

    with tqdm(desc=what, unit=unit, file=sys.stderr, disable=None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


def backup(config: Config, file: Path, force: bool) -> int:
    check_url(config.database_url)
    path = sqlite_path(config.database_url)
    if path is None:
        print(
            "maskline: backup copies the embedded SQLite database; back PostgreSQL up with"
            " pg_dump --format=custom (see the README)",
            file=sys.stderr,
        )
        return 1
    with _progress("copying", "page") as progress:
        pages = backup_sqlite(path, file, force, progress)
    print(f"maskline: copied {path} to {file} ({pages} pages)")
    return 0


def run_sim(args: argparse.Namespace) -> int:
    from maskline.sim import workloads
    from maskline.sim.misroutes import SIDES
    from maskline.sim.replay import POLICIES
    from maskline.sim.report import misroute_table, simulate, table
    from maskline.sim.trace import write_trace

    known = {**workloads.REALISTIC, **workloads.LARGE, **workloads.SMALL, **workloads.ADVERSARIAL}
    if args.list:
        print("workloads:", ", ".join(known))
        print("policies:", ", ".join(POLICIES))
        return 0
    unknown = [w for w in args.workload or () if w not in known] + [
        p for p in args.policy or () if p not in POLICIES
    ]
    if unknown:
        raise ConfigError(f"unknown workload or policy {', '.join(unknown)}: see maskline sim --list")
    if args.optimum and importlib.util.find_spec("pysat") is None:
        raise ConfigError(
            "the exact optimum (--optimum) needs python-sat, which is not installed:"
            " pip install 'maskline[optimum]'"
        )
    if args.trace is not None:
        trace = _load_trace(args.trace)
        chosen: dict[str, Callable[[int], Trace]] = {args.trace.name: lambda seed: trace}
    else:
        chosen = {w: known[w] for w in args.workload} if args.workload else dict(workloads.REALISTIC)
    if args.write_trace is not None:
        first = next(iter(chosen.values()))
        with args.write_trace.open("w") as out:
            write_trace(first(1), out)
    seeds = range(1, args.seeds + 1)
    policies = args.policy or list(POLICIES)
    with _progress("simulating", "run") as progress:  # a run can take minutes
        rows = simulate(
            chosen,
            policies,
            seeds,
            CooloffScope(args.scope),
            args.pool_size,
            args.cooloff,
            args.optimum,
            progress=progress,
            late_calls=True,
        )
    print(table(rows))
    print()
    print(misroute_table([r.late for r in rows if r.late is not None], SIDES))
    return 0


def _load_trace(path: Path) -> Trace:
    from maskline.sim.trace import load_trace

    try:
        return load_trace(path)
    except ValueError as error:  # the line at fault, and what is wrong with it
        raise ConfigError(f"{path}, {error}") from None


def plan_trace(path: Path) -> int:
    from maskline.domain.model import HistoryRow
    from maskline.sim.plan import plan, plan_table

    trace = _load_trace(path)
    rows = [HistoryRow(s.start, s.end, s.end + s.cooloff, s.first, s.second, "", s.pool, "") for s in trace]
    after = max((s.end + s.cooloff for s in trace), default=0)  # a file has no "now": its end
    with _progress("sizing pools", "pool") as progress:
        planned = plan(rows, None, after, Config.from_env().policy, progress, late_calls=True)
        print(plan_table(planned, late=True))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "sim":
            return run_sim(args)
        if args.command == "pool" and args.trace is not None:
            return plan_trace(args.trace)
        if args.command == "pool" and args.account is None:
            raise ConfigError("pool plan needs --account (plan from the database) or --trace FILE")
        config = Config.from_env(database_url=args.database)
        if args.command == "serve":
            serve(config, args.host, args.port, args.workers)
            return 0
        if args.command == "backup":
            return backup(config, args.file, args.force)
        if args.command == "db":
            check_url(config.database_url)
            with _reaching(config.database_url):
                upgrade(config.database_url)
            print("maskline: the database schema is up to date")
            return 0
        return asyncio.run(_run(args, config))
    except (
        MaskingError,
        ConfigError,
        UnsupportedDatabase,
        OutdatedSchema,
        StoreUnavailable,
        OSError,
        ValueError,
        BackupError,
        sqlite3.Error,
    ) as error:
        if isinstance(error, OSError) and error.filename and error.strerror:
            print(f"maskline: {error.filename}: {error.strerror}", file=sys.stderr)
        else:
            print(f"maskline: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
