"""What the service tells its operator: Prometheus counters, and JSON log lines with a request id
in which phone numbers are masked to their last four digits.

With several server processes (``serve --workers N``), ``PROMETHEUS_MULTIPROC_DIR`` is set before
they start, and each process writes its counters there for ``/metrics`` to add up.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time

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
SIGNATURE_FAILURES = Counter(
    "maskline_webhook_signature_failures", "Carrier webhooks refused for a bad signature.", ["carrier"]
)
RATE_LIMITED = Counter("maskline_rate_limited", "Requests refused with 429.", ["reason"])

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

# A run of 7 or more digits, possibly led by "+" and broken by spaces, dots or dashes: every phone
# number, E.164 or national. All but the last four digits are starred.
_PHONE = re.compile(r"\+?\d(?:[ .\-]?\d){6,}")


def mask_phones(text: str) -> str:
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", match.group())
        return ("+" if match.group().startswith("+") else "") + "*" * (len(digits) - 4) + digits[-4:]

    return _PHONE.sub(mask, text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id if any, and the
    exception; every phone number in them masked."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": mask_phones(record.getMessage()),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            entry["request_id"] = rid
        for key in ("method", "route", "status", "duration_ms", "account"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = mask_phones(self.formatException(record.exc_info))
        return msgspec.json.encode(entry).decode()


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on standard error for maskline's loggers and uvicorn's."""
    # The logging HOWTO's optimisations: no caller, thread or process lookups per record (the
    # JSON lines carry none of them), which is most of the cost of the access log.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    for name in ("maskline", "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
