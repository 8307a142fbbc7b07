"""Console cookies: a random token signed with HMAC-SHA256, and the flags they are set with."""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import Request
from starlette.responses import Response

SESSION = "maskline_console"  # the sign-in: its token
PRE_SIGN_IN = "maskline_console_pre"  # before signing in: a nonce the sign-in form's token is tied to
PATH = "/console"


def _mac(secret: bytes, token: str) -> str:
    digest = hmac.new(secret, token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, token: str) -> str:
    """The cookie value that carries ``token``: the token, a dot, and its HMAC-SHA256."""
    return f"{token}.{_mac(secret, token)}"


def unsign(secret: bytes, value: str) -> str | None:
    """The token of a cookie value signed with ``secret``; None for anything else."""
    token, dot, mac = value.rpartition(".")
    if not dot or not token or len(value) > 200:
        return None
    return token if hmac.compare_digest(mac.encode(), _mac(secret, token).encode()) else None


def is_tls(request: Request) -> bool:
    """Whether the browser reached us over TLS: directly, or through a trusted proxy that says so
    (``maskline.http.forwarded``)."""
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    """A cookie for the console's paths alone, out of scripts' reach, and only over TLS when the
    console is served over TLS. No expiry: the browser drops it when it closes; the server ends
    the sign-in on its own clock.

    ``SameSite=Lax``, not ``Strict``: another site's POST (or image, or frame) never carries it,
    while a link to a session pasted into a ticket opens that session for an operator who is
    signed in. Such a visit is a GET, and a GET changes nothing; every change is a POST, which
    also needs the sign-in's CSRF token and the console's origin (``guard``)."""
    response.set_cookie(name, value, path=PATH, httponly=True, samesite="lax", secure=is_tls(request))


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path=PATH, httponly=True, samesite="lax", secure=is_tls(request))
