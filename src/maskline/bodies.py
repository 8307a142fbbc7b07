"""Request bodies within a limit: refused from their ``Content-Length`` before any of it is read,
else counted chunk by chunk as they arrive, so a body over its cap is never held whole. The API
and the carrier webhooks read their bodies so, each answering a refusal in its own shape. And the
API's bodies decoded as JSON objects."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from starlette.requests import Request

from maskline.domain import errors
from maskline.domain.params import Body

CLIENT_GONE = 499  # the status logged for a request whose client went away before its answer


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The request's ``Content-Length``, or 0 when it has none (or none that is a number)."""
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The request's body, or None when it is over ``limit`` bytes."""
    if declared_length(request.scope["headers"]) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


# What decoding JSON bytes raises on bad input: bytes that are not UTF-8 inside a string
# (``"\x80"``) give UnicodeDecodeError, not msgspec's own error; deep nesting, RecursionError.
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


def decode_body(raw: bytes) -> Body:
    """A request body as a JSON object; an empty body is ``{}``."""
    raw = raw.removeprefix(b"\xef\xbb\xbf").strip()
    if not raw:
        return {}
    try:
        value = msgspec.json.decode(raw)
    except JSON_ERRORS:
        raise errors.InvalidJson() from None
    if not isinstance(value, dict):
        raise errors.InvalidJson()
    return value
