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
    def __init__(self, allow_private: bool = False, timeout: float = 5.0) -> None:
        self._allow_private = allow_private
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False)

    async def close(self) -> None:
        await self._client.aclose()

    async def _refusal(self, url: str) -> str:
        """Why ``url`` may not be called, or "" if it may."""
        if self._allow_private:
            return ""
        parts = urlsplit(url)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname,
                parts.port or (443 if parts.scheme == "https" else 80),
                type=socket.SOCK_STREAM,
            )
        except (OSError, UnicodeError, ValueError) as error:
            return f"cannot resolve the host: {error}"
        if not infos or not all(is_public_address(str(info[4][0])) for info in infos):
            return "the host resolves to a private address"
        return ""

    async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
        refusal = await self._refusal(event.url)
        if refusal:
            return refusal, False
        headers = plivo_sign(event.method, event.url, event.fields, signing_token) if signing_token else {}
        try:
            if event.method == "GET":
                reply = await self._client.get(event.url, params=event.fields, headers=headers)
            else:
                reply = await self._client.post(event.url, data=event.fields, headers=headers)
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:200], True
        if 200 <= reply.status_code < 300:
            return "", False
        return f"HTTP {reply.status_code}", True
