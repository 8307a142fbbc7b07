"""Who the client is behind a reverse proxy.

A request's client is the address that connected, unless that address is one of the proxies
the operator lists (``MASKLINE_TRUSTED_PROXIES``): then it is taken from the header the proxy
writes (``MASKLINE_PROXY_HEADER``: ``X-Forwarded-For`` or ``Forwarded``), read from the right,
past every listed proxy, to the first address that is not one. Entries left of that one were
written by the client itself and are never believed; an entry that is no address (``unknown``,
an obfuscated name) makes the client unknown, never the proxy. Everything that asks who the client is
(the failed-authentication limiter, the loopback rule of ``/metrics`` and ``/sip/*``) reads
the one answer this puts into the request.

The same proxies say whether the client reached them over TLS (``X-Forwarded-Proto`` with
``X-Forwarded-For``, ``proto=`` of ``Forwarded``): their word becomes the request's scheme, which
the operator console reads to mark its cookies ``Secure``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Networks = Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]
HEADERS = {"x-forwarded-for": b"x-forwarded-for", "forwarded": b"forwarded"}
_FORWARDING = frozenset(HEADERS.values())
RESOLVED = "maskline.client_resolved"  # scope key: the client was read from a trusted proxy's header
UNKNOWN = "unknown"  # a client a proxy could not or would not name: never local, one bucket


def parse_address(text: str) -> Address | None:
    """An address as proxies write it: bare, ``[v6]``, with a ``:port``, or quoted."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]  # IPv4 with a port
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _hops(header: str, values: Iterable[str]) -> list[str]:
    """The addresses a forwarding header lists, nearest the client first."""
    hops = []
    for value in values:
        for element in value.split(","):
            if header == "x-forwarded-for":
                hops.append(element)
                continue
            for pair in element.split(";"):  # Forwarded (RFC 7239): for=...;proto=...
                name, _, token = pair.partition("=")
                if name.strip().lower() == "for":
                    hops.append(token)
    return hops


def forwarded_scheme(header: str, headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The scheme the nearest proxy says the request came in with, if it says one."""
    said = None
    if header == "x-forwarded-for":
        for key, value in headers:
            if key == b"x-forwarded-proto":
                said = value.decode("latin-1").split(",")[-1]
    else:
        for key, value in headers:
            if key == b"forwarded":
                for pair in value.decode("latin-1").split(",")[-1].split(";"):
                    name, _, token = pair.partition("=")
                    if name.strip().lower() == "proto":
                        said = token
    said = said.strip().strip('"').lower() if said is not None else None
    return said if said in ("http", "https") else None


def in_networks(host: str, networks: Networks) -> bool:
    """Whether ``host`` (an address as proxies or sockets write it) is in one of ``networks``."""
    address = parse_address(host)
    return address is not None and any(address in net for net in networks)


def client_address(peer: str, header: str, values: Iterable[str], proxies: Networks) -> str:
    """The client of a request from ``peer`` carrying the forwarding header's ``values``."""
    if not in_networks(peer, proxies):
        return peer
    client = peer
    for hop in reversed(_hops(header, values)):
        address = parse_address(hop)
        if address is None:  # "unknown", an obfuscated name, garbage: nobody it could be
            return UNKNOWN
        client = str(address)
        if not any(address in net for net in proxies):
            break
    return client


class ClientAddress:
    """Puts the real client into the scope of requests that come through a trusted proxy."""

    def __init__(self, app: ASGIApp, proxies: Networks, header: str) -> None:
        self.app = app
        self.proxies = proxies
        self.header = header
        self._raw = HEADERS[header]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = scope.get("client")
        if scope["type"] == "http" and peer and in_networks(peer[0], self.proxies):
            values = [v.decode("latin-1") for k, v in scope["headers"] if k == self._raw]
            client = client_address(peer[0], self.header, values, self.proxies)
            scope = {**scope, "client": (client, peer[1] if client == peer[0] else 0), RESOLVED: True}
            scheme = forwarded_scheme(self.header, scope["headers"])
            if scheme is not None:
                scope["scheme"] = scheme
        await self.app(scope, receive, send)


def forwarded_by_someone_else(scope: Scope) -> bool:
    """Whether a request carries a forwarding header that no trusted proxy answered for: it
    came through a proxy maskline was not told about, so its address is not the client's."""
    if scope.get(RESOLVED):
        return False
    return any(k in _FORWARDING for k, _ in scope["headers"])
