"""Who may see a console page, and which POSTs are taken: the one place the console checks its
sign-in cookie, the origin of a POST and its CSRF token.

Every console handler is bound through :meth:`Guard.wrap`. A GET handler gets the signed-in
account, or the browser is sent to the sign-in form; a POST is read as a bounded form, and taken
only from this origin with the token of the browser's sign-in (the sign-in form's own: with the
token tied to its pre-sign-in cookie): else 403, before the handler runs and so before anything
changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from maskline import telemetry
from maskline.domain.ports import Store, StoreUnavailable
from maskline.http.console import cookies, csrf
from maskline.http.console.forms import BadForm, read_form
from maskline.http.console.pages import HEADERS, Signed, render
from maskline.http.routes import TABLE
from maskline.service.console_auth import ConsoleAuth
from maskline.service.numbers import NumberService
from maskline.service.pool_status import PoolFigures
from maskline.service.sessions import SessionService
from maskline.service.timeline import Timelines
from maskline.telemetry import mask_phones

log = logging.getLogger("maskline.console")

SIGN_IN = "/console/sign-in"
_PATH = re.compile(r"[A-Za-z0-9/_.-]+")  # what the console's own paths are written in

Form = dict[str, str]
# A page's handler: the request, who it is from (None only on the public pages: sign-in), and
# for a POST its form (empty for a GET).
Handler = Callable[[Request, Signed | None, Form], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class ConsoleServices(Protocol):
    """What the console's pages use of the application's services."""

    @property
    def console(self) -> ConsoleAuth: ...
    @property
    def sessions(self) -> SessionService: ...
    @property
    def timeline(self) -> Timelines: ...
    @property
    def store(self) -> Store: ...
    @property
    def numbers(self) -> NumberService: ...
    @property
    def pools(self) -> PoolFigures: ...


def return_path(path: str) -> str:
    """``path`` if it is a console page to come back to after signing in, else empty: it must be
    one of the console's routes, written in the characters of the console's own paths, and hold
    nothing that looks like a phone number (a session's uuid is none), since it goes into the
    sign-in form's address."""
    if not path.startswith("/console/") or len(path) > 200 or not _PATH.fullmatch(path):
        return ""
    found = TABLE.find(path)
    if found is None or not found[0].console:
        return ""
    return path if mask_phones(path) == path else ""


def redirect(path: str) -> Response:
    """303 See Other: after a POST, the browser GETs ``path``."""
    return RedirectResponse(path, 303, headers=HEADERS)


def refused(signed: Signed | None, status: int, message: str, csrf_token: str = "") -> Response:
    return render("error.html", signed, {"message": message}, status=status, csrf_token=csrf_token)


class Guard:
    def __init__(self, services: Callable[[], ConsoleServices]) -> None:
        self._services = services

    def services(self) -> ConsoleServices:
        return self._services()

    def auth(self) -> ConsoleAuth:
        return self._services().console

    async def signed_in(self, request: Request) -> Signed | None:
        """The account and sign-in of the request's cookie, if it is a good one."""
        value = request.cookies.get(cookies.SESSION)
        if not value:
            return None
        auth = self.auth()
        token = cookies.unsign(await auth.secret(), value)
        if token is None:
            return None
        found = await auth.signed_in(token)
        return None if found is None else Signed(*found)

    async def expected_token(self, request: Request, signed: Signed | None) -> str:
        """The CSRF token the request's form must carry: its sign-in's, else the one of its
        pre-sign-in cookie; empty (nothing matches) without either."""
        if signed is not None:
            return signed.login.csrf_token
        secret = await self.auth().secret()
        nonce = cookies.unsign(secret, request.cookies.get(cookies.PRE_SIGN_IN, ""))
        return csrf.sign_in_token(secret, nonce) if nonce else ""

    def wrap(self, handler: Handler, *, public: bool = False) -> Endpoint:
        """The endpoint of a console handler. ``public``: served without a sign-in (the sign-in
        form); otherwise a browser that is not signed in is sent to the sign-in form."""

        async def endpoint(request: Request) -> Response:
            try:
                signed = await self.signed_in(request)
                if request.method != "POST":
                    if signed is None and not public:
                        back = return_path(request.url.path)
                        return redirect(f"{SIGN_IN}?{urlencode({'next': back})}" if back else SIGN_IN)
                    return await handler(request, signed, {})
                try:
                    form = await read_form(request)
                except BadForm:  # not a form, or too big to be one of ours: it carries no token
                    form = {}
                expected = await self.expected_token(request, signed)
                if not csrf.same_origin(request) or not csrf.tokens_match(expected, form.get(csrf.FIELD, "")):
                    log.warning("console form refused: no valid CSRF token or origin")
                    return refused(signed, 403, "This form has expired or did not come from this console.")
                if signed is None and not public:
                    return redirect(SIGN_IN)
                return await handler(request, signed, form)
            except StoreUnavailable as error:
                telemetry.OUTAGE.refused(error)
                return refused(None, 503, "The database cannot be reached now. Try again in a moment.")

        return endpoint
