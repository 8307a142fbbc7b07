"""What the service tells its operator: Prometheus counters, and JSON log lines with a request id
in which phone numbers are masked to their last four digits.

With several server processes (``serve --workers N``), ``PROMETHEUS_MULTIPROC_DIR`` is set before
they start, and each process writes its counters there for ``/metrics`` to add up.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import time
from collections.abc import Callable
from typing import TextIO

import msgspec
from prometheus_client import Counter, Histogram

REQUESTS = Counter("maskline_http_requests", "HTTP requests answered.", ["route", "method", "status"])
LATENCY = Histogram(
    "maskline_http_request_duration_seconds",
    "Time from a request's arrival to the end of its reply.",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
SESSIONS_CREATED = Counter("maskline_sessions_created", "Masking sessions created.")
SESSIONS_EXPIRED = Counter("maskline_sessions_expired", "Masking sessions expired through the API.")
REFUSALS = Counter("maskline_allocation_refusals", "Creates refused: no number of the pool was free.")
UNHEALTHY_REPLACED = Counter(
    "maskline_unhealthy_numbers_replaced", "Numbers replaced because number health flagged them."
)
MOVES = Counter(
    "maskline_session_moves",
    "Live sessions moved off a replaced number (moved), or left on it: no other number took them (stuck).",
    ["outcome"],
)
SIGNATURE_FAILURES = Counter(
    "maskline_webhook_signature_failures", "Carrier webhooks refused for a bad signature.", ["carrier"]
)
RATE_LIMITED = Counter("maskline_rate_limited", "Requests refused with 429.", ["reason"])
DATABASE_UNAVAILABLE = Counter(
    "maskline_database_unavailable",
    "Requests refused (503) and background runs skipped because the database could not be reached.",
    ["work"],
)
EVENT_FAILURES = Counter(
    "maskline_event_delivery_failures",
    "Session event deliveries that failed (unreachable, timed out, refused or not 2xx); each is"
    " retried later, until it is given up.",
)
EDGE_REFUSALS = Counter(
    "maskline_edge_refusals",
    "Connections and requests refused at the edge, before the application.",
    ["reason"],  # per_address, header_size, header_timeout, body_timeout
)

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# A run of 7 or more digits, possibly led by "+" and broken by spaces, dots or dashes: every phone
# number, E.164 or national. All but the last four digits are starred. A uuid (a session's name)
# is matched first and kept whole, whatever runs of digits it holds.
_PHONE = re.compile(
    r"(?P<uuid>\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)"
    r"|\+?\d(?:[ .\-]?\d){6,}"
)


def mask_phones(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        if match.group("uuid"):
            return match.group()
        digits = re.sub(r"\D", "", match.group())
        return ("+" if match.group().startswith("+") else "") + "*" * (len(digits) - 4) + digits[-4:]

    return _PHONE.sub(mask, text)


_second: tuple[int, str] = (-1, "")  # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    global _second
    whole = int(created)
    if whole != _second[0]:
        _second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
    return f"{_second[1]}.{int((created - whole) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id if any, and the
    exception; every phone number in them masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_phones(record.getMessage()),
        }
        if rid := getattr(record, "request_id", None) or request_id.get():
            entry["request_id"] = rid
        if record.exc_info:
            entry["exception"] = mask_phones(self.formatException(record.exc_info))
        return msgspec.json.encode(entry).decode()


_access = logging.getLogger("maskline.access")
_handler: JsonLines | None = None  # configure_logging's
# The parts of an access line that follow from its method, route, status and account, as JSON
# text; a server sees few of each, so they are encoded once (the cache starts over if it fills).
_access_parts: dict[tuple[str, str, int, str], tuple[str, str, str]] = {}


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _parts(method: str, route: str, status: int, account: str) -> tuple[str, str, str]:
    key = (method, route, status, account)
    parts = _access_parts.get(key)
    if parts is None:
        if len(_access_parts) >= 4096:
            _access_parts.clear()
        message = _json(mask_phones(f"{method} {route} {status}"))
        parts = _access_parts[key] = (
            f'","level":"info","logger":{_json(_access.name)},"message":{message}',
            f',"method":{_json(method)},"route":{_json(route)},"status":{status},"duration_ms":',
            f',"account":{_json(account)}}}',
        )
    return parts


class JsonLines(logging.StreamHandler[TextIO]):
    """The log's handler: JSON lines on a stream. Access lines wait in memory until the event
    loop's current turn ends and then go out together, in one write: under load a write per
    request costs more than the rest of its observation. Any other record first writes the
    access lines waiting before it, so the log keeps its order."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter())
        self._waiting: list[str] = []

    def access(self, line: str) -> None:
        self.acquire()  # a record from another thread may be writing the waiting lines
        try:
            self._waiting.append(line)
            first = len(self._waiting) == 1
        finally:
            self.release()
        if first:
            try:
                asyncio.get_running_loop().call_soon(self.write_waiting)
            except RuntimeError:  # no event loop: nothing would come back for it
                self.write_waiting()

    def write_waiting(self) -> None:
        if not self._waiting:
            return
        self.acquire()
        try:
            lines, self._waiting = self._waiting, []
            self.stream.write("".join(lines))
            self.stream.flush()
        finally:
            self.release()

    def emit(self, record: logging.LogRecord) -> None:
        self.write_waiting()
        super().emit(record)

    def flush(self) -> None:
        self.write_waiting()
        super().flush()


def log_access(method: str, route: str, status: int, duration_ms: float, account: str, rid: str) -> None:
    """One access line, as JsonFormatter would write it, without a log record (its machinery
    costs more than the line). ``rid`` is a request id as Observed makes them (letters, digits,
    ``._-``: nothing to escape)."""
    handler = _handler
    if handler is None or not _access.isEnabledFor(logging.INFO):
        return
    head, middle, tail = _parts(method, route, status, account)
    known = f',"request_id":"{rid}"' if rid else ""
    handler.access(
        f'{{"time":"{_timestamp(time.time())}{head}{known}{middle}{duration_ms!r}{tail}{handler.terminator}'
    )


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on standard error for maskline's loggers and uvicorn's."""
    global _handler
    # perf: the logging HOWTO's optimisations: no caller, thread or process lookups per record
    # (the JSON lines carry none of them); docs/benchmarks.md, "Where the Session API's time
    # goes"; the private _srcfile is pinned by tests/unit/test_framework_pins.py.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    _handler = JsonLines()
    for name in ("maskline", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [_handler]
        logger.setLevel(level)
        logger.propagate = False


class Outage:
    """What the log says while the database cannot be reached: one warning line at most every
    ``window`` seconds (the first at once), counting the requests refused and the background runs
    skipped since the last line, and one when it is over; never a traceback per request.

    It is over when background work (sweep, event delivery) succeeds again and says so
    (``reachable``): that work runs every second or so in every process, whatever the traffic.
    Counts not yet written are written at shutdown (``flush``).
    """

    def __init__(self, window: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logging.getLogger("maskline.database")
        self._window = window
        self._clock = clock
        self._down = False
        self._told_down = False  # whether the last line said it is unreachable
        self._last_line = -float("inf")
        self._requests = self._background = 0
        self._cause = ""

    def refused(self, error: BaseException) -> None:
        """A request was answered 503 because of ``error``."""
        DATABASE_UNAVAILABLE.labels("request").inc()
        self._requests += 1
        self._failed(error)

    def skipped(self, error: BaseException) -> None:
        """A run of background work failed because of ``error``."""
        DATABASE_UNAVAILABLE.labels("background").inc()
        self._background += 1
        self._failed(error)

    def reachable(self) -> None:
        """The database answered."""
        self._down = False
        if self._told_down and self._clock() - self._last_line >= self._window:
            self._write()

    def flush(self) -> None:
        if self._requests or self._background or self._told_down != self._down:
            self._write()

    def _failed(self, error: BaseException) -> None:
        self._down = True
        self._cause = str(error)
        if self._clock() - self._last_line >= self._window:
            self._write()

    def _write(self) -> None:
        if self._down:
            what = f"database {'still ' if self._told_down else ''}unreachable ({self._cause})"
        else:
            what = "database reachable again"
        self._log.warning(
            "%s: %d requests refused, %d background runs skipped since the last line",
            what,
            self._requests,
            self._background,
        )
        self._requests = self._background = 0
        self._told_down = self._down
        self._last_line = self._clock()


OUTAGE = Outage()


class ServiceCounters:
    """The counters the service takes (``maskline.domain.ports.Counters``): this module's
    Prometheus metrics, and the outage's log line for background work skipped."""

    def session_created(self) -> None:
        SESSIONS_CREATED.inc()

    def session_expired(self) -> None:
        SESSIONS_EXPIRED.inc()

    def allocation_refused(self) -> None:
        REFUSALS.inc()

    def session_moved(self, moved: bool) -> None:
        MOVES.labels("moved" if moved else "stuck").inc()

    def unhealthy_number_replaced(self) -> None:
        UNHEALTHY_REPLACED.inc()

    def delivery_failed(self) -> None:
        EVENT_FAILURES.inc()

    def skipped(self, error: BaseException) -> None:
        OUTAGE.skipped(error)


COUNTERS = ServiceCounters()
