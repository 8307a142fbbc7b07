"""What every endpoint shares: authentication, bounded bodies, JSON replies, the error shape."""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

import msgspec
from msgspec import Meta
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from maskline import telemetry
from maskline.bodies import CLIENT_GONE, read_bounded
from maskline.domain import errors
from maskline.domain.errors import MaskingError
from maskline.domain.model import Account
from maskline.domain.ports import StoreUnavailable
from maskline.domain.ratelimit import Limiter
from maskline.http.forwarded import Networks, forwarded_by_someone_else, in_networks
from maskline.service.accounts import Authenticator

log = logging.getLogger("maskline.http")

_encode = msgspec.json.Encoder().encode

Handler = Callable[[Request, Account], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


_bits = random.SystemRandom().getrandbits(64)
_random = random.Random(_bits)


def api_id() -> str:
    """A version-4 UUID naming one request; from a fast generator, since it guards nothing."""
    h = "%032x" % _random.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


class JsonReply(Response):
    """A Starlette response of JSON bytes, its two headers built directly: this is every API
    reply, and Response's general header handling costs a sizeable part of a get."""

    # perf: sets what Response.__call__ reads instead of calling Response.__init__
    # (docs/benchmarks.md, "Where the Session API's time goes"; pinned by
    # tests/unit/test_framework_pins.py)

    def __init__(self, body: bytes, status: int) -> None:
        self.status_code = status
        self.background = None
        self.body = body
        self.raw_headers = [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")]


class ApiReply(msgspec.Struct, kw_only=True):
    """A reply of the API: ``api_id`` first, as in Plivo's responses, then the reply's fields."""

    api_id: Annotated[
        str, Meta(description="A new id for every request.", extra_json_schema={"format": "uuid"})
    ] = msgspec.field(default_factory=api_id)


class Error(ApiReply, kw_only=True):
    """Every error of the API (docs/api.md, "Errors")."""

    error: str


def reply(body: ApiReply, status: int = 200) -> Response:
    return JsonReply(_encode(body), status)


def error_reply(error: MaskingError) -> Response:
    response = reply(Error(error=error.message), error.status)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="maskline"'
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def unavailable(error: StoreUnavailable) -> Response:
    """The answer while the database cannot be reached: 503 with ``Retry-After``, counted in the
    outage's log line instead of a traceback of its own."""
    telemetry.OUTAGE.refused(error)
    return error_reply(errors.Unavailable())


_SLASHES = re.compile(r"/{2,}")


def collapse_slashes(path: str) -> str:
    """``path`` with each run of ``/`` made one (docs/api.md, "Paths and slashes")."""
    return _SLASHES.sub("/", path) if "//" in path else path


def header(request: Request, name: bytes) -> str:
    """The first value of the header ``name`` (lower case), or "": read from the raw list, which
    costs less than building Starlette's ``Headers`` for the one or two every API request reads."""
    # perf: the raw list, not Starlette's Headers (docs/benchmarks.md, "Where the Session API's
    # time goes")
    value: bytes
    for key, value in request.scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def authenticate(request: Request, authenticator: Authenticator) -> Account:
    """The account of the request's Basic credentials; it must be the one named in the path."""
    account = await authenticator.authenticate_basic(header(request, b"authorization"))
    if account.auth_id != request.path_params.get("auth_id"):
        raise errors.AuthenticationFailed()
    return account


async def read_body(request: Request, limit: int) -> bytes:
    body = await read_bounded(request, limit)
    if body is None:
        raise errors.BodyTooLarge(limit)
    return body


@dataclass(frozen=True)
class RateLimits:
    """Requests per main account, and failed authentications per client address (each costs
    a slow hash, and many are someone guessing); None: no limit."""

    accounts: Limiter | None = None
    failures: Limiter | None = None


# The scope key where the application leaves (route template, account) once it has matched an
# API path, for the request's observation and logs.
ROUTE = "maskline.route"
LOOPBACK: Networks = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]


def trusted(request: Request, presented: str, secret: str, networks: Networks) -> bool:
    """Whether an operator-side caller (a scraper, the SIP proxy) may be answered: with a
    secret configured, it must present it; without one, it must come from ``networks``, and
    not through a proxy maskline does not trust (which would make every client look local)."""
    if secret:
        return hmac.compare_digest(presented.encode(), secret.encode())
    if forwarded_by_someone_else(request.scope):
        return False
    return in_networks(request.client.host if request.client else "", networks)


def too_many(wait: float, reason: str) -> Response:
    telemetry.RATE_LIMITED.labels(reason).inc()
    response = error_reply(errors.TooManyRequests())
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def resource(
    authenticator: Callable[[], Authenticator], methods: dict[str, Handler], limits: RateLimits
) -> Endpoint:
    """An endpoint that authenticates, then dispatches on the method (401 before 405), within
    the rate limits (429 with ``Retry-After``); 503 while the database cannot be reached."""

    allowed = ", ".join(methods)  # what a 405 names (RFC 9110 §15.5.6)

    async def endpoint(request: Request) -> Response:
        try:
            now = time.monotonic()
            failures = limits.failures
            if failures is not None:
                client = request.scope.get("client")
                address = client[0] if client else ""
                if wait := failures.wait(address, now):
                    return too_many(wait, "authentication")
            try:
                account = await authenticate(request, authenticator())
            except errors.AuthenticationFailed:
                if failures is not None:
                    failures.take(address, now)
                raise
            if limits.accounts is not None and (wait := limits.accounts.take(account.main_id, now)):
                return too_many(wait, "account")
            handler = methods.get(request.method)
            if handler is None:
                response = error_reply(errors.MethodNotAllowed())
                response.headers["Allow"] = allowed
                return response
            return await handler(request, account)
        except MaskingError as error:
            return error_reply(error)
        except StoreUnavailable as error:
            return unavailable(error)
        except ClientDisconnect:  # the body never came (the edge timed it out): nobody to answer
            return Response(status_code=CLIENT_GONE)
        except Exception:
            log.exception("unexpected failure on %s %s", request.method, request.scope.get(ROUTE, ("?",))[0])
            return error_reply(errors.InternalError())

    return endpoint
