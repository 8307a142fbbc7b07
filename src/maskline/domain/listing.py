"""List filters (docs/api.md, "List filters"): parsing, the default search window and page links."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from maskline.domain import errors
from maskline.domain.phone import to_e164
from maskline.domain.timefmt import parse_filter_time

DAY = 86400
MAX_LIMIT = 20
STATUSES = ("all", "active", "in-progress", "expired")
_OPS = {"": "=", "__gt": ">", "__gte": ">=", "__lt": "<", "__lte": "<="}
# Time filters by family: the wire name and the session column they compare.
_TIME_FAMILIES = (("created_time", "created"), ("expiry_time", "expiry"))


@dataclass(frozen=True, slots=True)
class Windows:
    default_days: int = 7
    max_days: int = 30


@dataclass(frozen=True, slots=True)
class Condition:
    column: str  # "created", "expiry" or "duration"
    op: str  # one of = > >= < <=
    value: float


@dataclass(slots=True)
class ListQuery:
    limit: int = MAX_LIMIT
    offset: int = 0
    status: str = "all"
    parties: dict[str, str] = field(default_factory=dict)  # first_party/second_party/virtual_number
    conditions: list[Condition] = field(default_factory=list)
    subaccount: str | None = None
    either_party: str | None = None  # E.164 of a first or second party (the console's search)
    echo: list[tuple[str, str]] = field(default_factory=list)  # filters to repeat in page links


def _is_count(value: str) -> bool:
    return value.isascii() and value.isdigit() and len(value) <= 12


def _count(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not _is_count(value):
        raise errors.BadCount(name)
    return int(value)


def parse_list(params: Mapping[str, str], now: int, windows: Windows) -> ListQuery:
    """Validate the query string of a list request; first failure wins."""
    query = ListQuery()
    for name in ("first_party", "second_party", "virtual_number"):
        value = params.get(name)
        if value:
            e164 = to_e164(value)
            if e164 is None:
                raise errors.InvalidPhone(name)
            query.parties[name] = e164
            query.echo.append((name, value))
    status = params.get("status")
    if status:
        if status not in STATUSES:
            raise errors.BadStatus()
        query.status = status
        query.echo.append(("status", status))

    bounds: dict[str, tuple[float | None, float | None]] = {}
    for wire, column in _TIME_FAMILIES:
        low: float | None = None
        high: float | None = None
        for suffix, op in _OPS.items():
            name = wire + suffix
            value = params.get(name)
            if value is None:
                continue
            parsed = parse_filter_time(value)
            if parsed is None:
                raise errors.BadTimestamp(name)
            start, width = parsed
            query.echo.append((name, value))
            if op == "=":
                query.conditions += [Condition(column, ">=", start), Condition(column, "<", start + width)]
                low, high = _max(low, start), _min(high, start + width)
                continue
            query.conditions.append(Condition(column, op, start))
            if op in (">", ">="):
                low = _max(low, start)
            else:
                high = _min(high, start)
        if low is not None or high is not None:
            bounds[wire] = (low, high)

    for suffix, op in _OPS.items():
        for wire in ("duration", "session_duration"):
            count = _count(params, wire + suffix)
            if count is not None:
                query.conditions.append(Condition("duration", op, count))
                query.echo.append((wire + suffix, str(count)))

    # The search window: from the created_time filters, else the expiry_time ones, else the
    # last days of creations. Only its derived lower bound is added as a condition; given
    # upper bounds are conditions already.
    wire, column = next(((w, c) for w, c in _TIME_FAMILIES if w in bounds), _TIME_FAMILIES[0])
    low, high = bounds.get(wire, (None, None))
    upper = now if high is None else high
    if low is None:
        query.conditions.append(Condition(column, ">=", upper - windows.default_days * DAY))
    elif upper - low > windows.max_days * DAY:
        raise errors.WindowTooLong(wire, windows.max_days)

    parse_page(params, query)

    subaccount = params.get("subaccount") or params.get("sub_account")
    if subaccount:
        query.subaccount = subaccount
        query.echo.append(("subaccount", subaccount))
    return query


def parse_page(params: Mapping[str, str], query: ListQuery) -> None:
    """Read ``limit`` (1-20) and ``offset`` (0 or more) into ``query``."""
    limit = params.get("limit")
    if limit is not None:
        if not _is_count(limit) or not 1 <= int(limit) <= MAX_LIMIT:
            raise errors.BadLimit()
        query.limit = int(limit)
    offset = params.get("offset")
    if offset is not None:
        if not _is_count(offset):
            raise errors.BadOffset()
        query.offset = int(offset)


def _max(a: float | None, b: float) -> float:
    return b if a is None else max(a, b)


def _min(a: float | None, b: float) -> float:
    return b if a is None else min(a, b)


def page_links(base: str, query: ListQuery, total: int) -> tuple[str | None, str | None]:
    """The ``next`` and ``previous`` relative URLs of a page, repeating the filters."""

    def link(offset: int) -> str:
        return base + "?" + urlencode([("limit", query.limit), ("offset", offset), *query.echo])

    following = query.offset + query.limit
    next_link = link(following) if following < total else None
    previous = None
    if query.offset > 0:
        previous = link(max(query.offset - query.limit, 0))
    return next_link, previous
