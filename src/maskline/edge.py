"""The public edge: what a connection may cost the server before the application sees a request.

uvicorn's HTTP protocol (httptools) with limits it does not have:

* **Open connections per client address** (``MASKLINE_MAX_CONNECTIONS_PER_ADDRESS``): beyond
  it a new connection is reset at once, so that one address holding thousands of slow
  connections cannot fill the process's ``MASKLINE_MAX_CONNECTIONS``, nor its requests in
  flight, and starve everyone else. Addresses in ``exempt`` networks (a trusted proxy, which
  enforces its own limits) are not counted.
* **Request head size**: 8 KB a line and ``MASKLINE_MAX_HEADER_BYTES`` in all, counted as the
  bytes arrive (httptools would hold a header line of any length): beyond, 431 (414 for the
  request target).
* **Time**: a request head must be complete within ``MASKLINE_HEADER_TIMEOUT`` seconds of its
  first byte (or of the connection), a body within ``MASKLINE_BODY_TIMEOUT`` of the end of its
  head (408 and the connection closed; trickling bytes does not extend either), and an idle
  keep-alive connection is closed after ``MASKLINE_KEEPALIVE_TIMEOUT``.
* **Unread bodies**: when the application answers before reading the whole body (a body over
  its cap, which it refuses from ``Content-Length`` or as it counts the chunks; a request that
  fails authentication), the rest of the body is read and dropped, within the body's time,
  and the connection goes on. When more than 1 MiB of it is left (as ``Content-Length`` says,
  or as it arrives), the server stops sending instead, stops reading once it has dropped 1 MiB
  more, and closes 2 s later, so that the client can read the answer rather than a reset.

Bodies are capped by the application itself, each route in its own error shape
(``maskline.bodies``); uvicorn holds at most 64 KiB of a body the application has not read.
"""

from __future__ import annotations

import asyncio
import ipaddress
import resource
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from maskline.bodies import declared_length
from maskline.config import Config
from maskline.domain import errors
from maskline.http.forwarded import in_networks
from maskline.telemetry import EDGE_REFUSALS

MAX_LINE = 8192  # bytes of one header line, or of the request target
LINGER_BYTES = 1024 * 1024  # what is discarded of a body nobody will read before closing
LINGER_SECONDS = 2.0


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    per_address: int = 256  # 0: no limit
    max_header_bytes: int = 16384
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    keepalive_timeout: float = 5.0
    exempt: tuple[Network, ...] = ()  # peers not held to ``per_address``

    @classmethod
    def of(cls, config: Config) -> EdgeLimits:
        """The limits of ``config``. The trusted proxies' connections are not counted per
        address: every client behind one shares its address, and it limits them itself."""
        return cls(
            per_address=config.max_connections_per_address,
            max_header_bytes=config.max_header_bytes,
            header_timeout=config.header_timeout,
            body_timeout=config.body_timeout,
            keepalive_timeout=config.keepalive_timeout,
            exempt=tuple(ipaddress.ip_network(n, strict=False) for n in config.trusted_proxies),
        )


class Refusal(Exception):
    """Raised from a parser callback to stop parsing and answer ``error``."""

    def __init__(self, error: errors.MaskingError, reason: str) -> None:
        self.error, self.reason = error, reason


_REASONS = {431: "Request Header Fields Too Large", 414: "URI Too Long", 408: "Request Timeout"}

# What a connection is waiting for.
_HEAD, _BODY, _APP, _CLOSING = range(4)


def _reply(error: errors.MaskingError) -> bytes:
    status, text = error.status, error.message.encode()
    head = f"HTTP/1.1 {status} {_REASONS[status]}\r\ncontent-type: text/plain; charset=utf-8\r\n"
    return f"{head}content-length: {len(text)}\r\nconnection: close\r\n\r\n".encode() + text


class EdgeProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol within :class:`EdgeLimits`.

    ``limits`` is set on a subclass by :func:`edge_protocol`; when it is not (worker processes,
    which import this class by name), the settings are read from the environment.
    """

    limits: EdgeLimits | None = None
    _peers: dict[str, int] = {}  # open connections by client address, in this process

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cls = type(self)
        if cls.limits is None:
            cls.limits = EdgeLimits.of(Config.from_env())
        self._limits = cls.limits
        # uvicorn declares a whole number; the timer it sets takes any number of seconds
        self.timeout_keep_alive = self._limits.keepalive_timeout  # type: ignore[assignment]
        self._peer: str | None = None  # the address counted for this connection
        self._phase = _HEAD
        self._timer: asyncio.TimerHandle | None = None
        self._raw_head = 0  # bytes received while a head was awaited
        self._head = 0  # bytes of the header lines parsed so far
        self._discarded = 0
        self._draining = False  # a body answered before it was read is arriving

    # -- connections per address --------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limits = self._limits
        host = self.client[0] if self.client else None
        if host is not None and limits.per_address and not self._exempt(host):
            peer = address_key(host)
            open_now = self._peers.get(peer, 0)
            if open_now >= limits.per_address:
                EDGE_REFUSALS.labels("per_address").inc()
                transport.abort()  # a reset: no response to write, no TIME_WAIT left here
                return
            self._peers[peer] = open_now + 1
            self._peer = peer
        self._arm(limits.header_timeout)

    def _exempt(self, host: str) -> bool:
        return bool(self._limits.exempt) and in_networks(host, self._limits.exempt)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        """This connection no longer counts: it is closed, or handed to another protocol."""
        self._cancel()
        if self._peer is not None:
            left = self._peers[self._peer] - 1
            if left:
                self._peers[self._peer] = left
            else:
                del self._peers[self._peer]
            self._peer = None

    # -- timers -------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._timer = self.loop.call_later(seconds, self._expired)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._phase == _HEAD:
            EDGE_REFUSALS.labels("header_timeout").inc()
            if self._raw_head or self._head:
                self._refuse(errors.RequestTimeout())
            else:
                self.transport.close()  # nothing asked: nothing to answer
        elif self._phase == _BODY:
            EDGE_REFUSALS.labels("body_timeout").inc()
            cycle = self.cycle
            answered = cycle is not None and cycle.response_started
            if cycle is not None:  # the application reading the body learns that it will not come
                cycle.disconnected = True
                cycle.message_event.set()
            if answered:
                self.transport.close()
            else:
                self._refuse(errors.RequestTimeout())
        elif self._phase == _CLOSING:
            self.transport.close()

    # -- refusals -----------------------------------------------------------------------------
    def _refuse(self, error: errors.MaskingError) -> None:
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not cycle.disconnected:
            # A pipelined request refused while the one before it is answered: that answer is
            # the last on this connection.
            cycle.keep_alive = False
            self._phase = _CLOSING
            self.flow.pause_reading()
            return
        self.transport.write(_reply(error))
        self._close_after_reply()

    def _close_after_reply(self) -> None:
        """Stop sending and close once the client has had the time to read what was sent,
        discarding what it still sends meanwhile (a close with unread data would reset the
        connection, and the client might lose the reply)."""
        self._phase = _CLOSING
        self._unset_keepalive_if_required()
        self.flow.resume_reading()
        try:
            self.transport.write_eof()
        except (OSError, RuntimeError, NotImplementedError):
            self.transport.close()
            return
        self._arm(LINGER_SECONDS)

    # -- parsing ------------------------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        phase = self._phase
        if phase == _CLOSING:
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self.flow.pause_reading()  # the client has had its reply: it should stop sending
            return
        self._unset_keepalive_if_required()
        if self._draining:  # the rest of a body already answered: read, and dropped by uvicorn
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES:
                self._close_after_reply()
                return
        elif phase != _BODY:  # a head, or the next request's while this one is answered
            self._raw_head += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            refusal = error.__context__
            if isinstance(refusal, Refusal):
                EDGE_REFUSALS.labels(refusal.reason).inc()
                self._refuse(refusal.error)
                return
            self._bad_request()
            return
        except httptools.HttpParserError:
            self._bad_request()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():  # (maskline serves no websockets: uvicorn's ws is "none")
                self._release()
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        # Timers are armed only for what did not arrive whole in this read (most requests do).
        phase = self._phase
        if phase == _HEAD:
            if self._raw_head > self._limits.max_header_bytes:
                EDGE_REFUSALS.labels("header_size").inc()
                self._refuse(errors.HeadTooLarge())
            elif self._timer is None:
                self._arm(self._limits.header_timeout)  # a head began after keep-alive
        elif phase == _BODY:
            if self._timer is None:
                self._arm(self._limits.body_timeout)
        elif phase == _APP and self._raw_head > self._limits.max_header_bytes:
            self.flow.pause_reading()  # a head piling up behind a request: wait for its answer

    def _bad_request(self) -> None:
        msg = errors.MalformedRequest().message
        self.logger.warning(msg)
        self.send_400_response(msg)

    # perf: on_url and on_header do what uvicorn's do (inlined: they run for every line of every
    # request), after counting (docs/benchmarks.md, "The edge under attack, by HTTP server";
    # uvicorn's own are pinned by tests/unit/test_framework_pins.py).
    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_LINE:
            raise Refusal(errors.TargetTooLong(), "header_size")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4
        self._head += size
        if size > MAX_LINE or self._head > self._limits.max_header_bytes:
            raise Refusal(errors.HeadTooLarge(), "header_size")
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.timeout_keep_alive_task is not None:  # (armed when a drained body ended in this read)
            self._unset_keepalive_if_required()
        if self._timer is not None:
            self._cancel()
        self._phase = _BODY
        self._raw_head = self._head = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        if self._phase == _BODY:
            if self._timer is not None:
                self._cancel()
            self._phase = _APP
        super().on_message_complete()
        if self._draining:  # the body answered before it was read is over: the next request
            self._draining = False
            self._discarded = 0
            self._phase = _HEAD
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler
            )

    def on_response_complete(self) -> None:
        unread = self._phase == _BODY and not self.pipeline
        super().on_response_complete()
        if self.transport.is_closing():
            return
        if unread:  # answered before its body was read
            if declared_length(self.cycle.scope["headers"]) > LINGER_BYTES:
                self._close_after_reply()  # too much to read for nothing: the connection ends
            else:
                self._draining = True  # read the rest (within the body's time), then go on
        elif self._phase == _APP and not self.pipeline:
            self._phase = _HEAD  # uvicorn's keep-alive timer runs until the next head begins,
            if self._raw_head:  # unless it has begun already
                self._arm(self._limits.header_timeout)
            else:
                self._cancel()


def address_key(host: str) -> str:
    """What the per-address cap counts a peer under: its IPv4 address (IPv4-mapped ones too), or
    its IPv6 /64, the least a site is given, from which one client can take any address."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host.split("%")[0])
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(address) >> 64 << 64, 64)))


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """The protocol class for uvicorn's ``http=`` within ``limits``, for one process."""
    return type("EdgeProtocol", (EdgeProtocol,), {"limits": limits, "_peers": {}})


def raise_open_files_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit (each connection is
    one); returns the limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError):
        return soft
    return wanted
