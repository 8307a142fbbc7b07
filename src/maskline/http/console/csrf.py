"""Cross-site request forgery: every console POST carries its form's ``csrf_token``, the one of
the browser's sign-in (or, on the sign-in form, one tied to the browser's pre-sign-in cookie),
and comes from a page of this same origin."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request

FIELD = "csrf_token"


def tokens_match(expected: str, presented: str) -> bool:
    """Constant-time comparison; an empty expected token matches nothing."""
    return bool(expected) and hmac.compare_digest(expected.encode(), presented.encode())


def sign_in_token(secret: bytes, nonce: str) -> str:
    """The sign-in form's token, derived from the nonce of the browser's pre-sign-in cookie."""
    return hmac.new(secret, b"sign-in:" + nonce.encode(), hashlib.sha256).hexdigest()


def same_origin(request: Request) -> bool:
    """Whether the POST comes from a page of the console's own origin, by ``Origin`` or, when a
    browser sends none, ``Referer``; a request with neither is refused.

    The host must be the ``Host`` the browser sent; the scheme the request's, or ``https`` when
    TLS ends at a proxy that maskline was not told about (the host alone then decides).
    """
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin or origin == "null":
        return False
    parts = urlsplit(origin)
    host = request.headers.get("host", "")
    return bool(host) and parts.netloc == host and parts.scheme in (request.url.scheme, "https")
