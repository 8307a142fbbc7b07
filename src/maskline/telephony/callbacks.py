"""Sending session events to customers' callback URLs: signed, short timeouts, and never to a
private address unless the operator allows it."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

import httpx

from maskline.domain.events import Outgoing, is_public_address
from maskline.telephony.signatures import plivo_sign


class HttpCallbacks:
    """Sends events over HTTP. ``connect_timeout`` bounds the TCP and TLS set-up, ``timeout``
    the whole attempt (resolving the host included): a receiver that accepts and never answers,
    or answers a byte at a time, is a failed attempt after ``timeout`` seconds. The reply's body
    is not read. How many requests run at once is the deliverer's to limit."""

    def __init__(
        self, allow_private: bool = False, timeout: float = 5.0, connect_timeout: float = 2.0
    ) -> None:
        self._allow_private = allow_private
        self._timeout = timeout
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(connect_timeout, timeout)),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
            follow_redirects=False,
            trust_env=False,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def _refusal(self, url: str) -> tuple[str, bool]:
        """Why ``url`` may not be called now, or "" if it may; and whether to try again later
        (a host that does not resolve may tomorrow; a private address stays private)."""
        if self._allow_private:
            return "", False
        parts = urlsplit(url)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname,
                parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM,
            )
        except OSError as error:
            return f"cannot resolve the host: {error}", True
        except (UnicodeError, ValueError) as error:  # not a host name at all
            return f"cannot resolve the host: {error}", False
        if not infos or not all(is_public_address(str(info[4][0])) for info in infos):
            return "the host resolves to a private address", False
        return "", False

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._send(event, signing_token)
        except TimeoutError:
            return f"no reply within {self._timeout:g} s", True

    async def _send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        refusal, retry = await self._refusal(event.url)
        if refusal:
            return refusal, retry
        headers = plivo_sign(event.method, event.url, event.fields, signing_token) if signing_token else {}
        if event.method == "GET":
            request = self._client.build_request("GET", event.url, params=event.fields, headers=headers)
        else:
            request = self._client.build_request("POST", event.url, data=event.fields, headers=headers)
        try:
            reply = await self._client.send(request, stream=True)
            await reply.aclose()
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:200], True
        if 200 <= reply.status_code < 300:
            return "", False
        return f"HTTP {reply.status_code}", True
