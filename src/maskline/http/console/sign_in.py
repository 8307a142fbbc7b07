"""Signing in and out of the console: an account's ``auth_id`` and ``auth_token``, checked as the
API checks them, within the API's limit of failed authentications per client address."""

from __future__ import annotations

import logging
import math
import secrets
import time

from starlette.requests import Request
from starlette.responses import Response

from maskline import telemetry
from maskline.domain import errors
from maskline.domain.model import shown_account
from maskline.domain.ratelimit import Limiter
from maskline.http.console import cookies, csrf
from maskline.http.console.guard import SIGN_IN, Form, Guard, redirect, return_path
from maskline.http.console.pages import Signed, render

log = logging.getLogger("maskline.console")
HOME = "/console/sessions"


class SignIn:
    def __init__(self, guard: Guard, failures: Limiter | None) -> None:
        self._guard = guard
        self._failures = failures  # the API's own limiter: one budget per client address

    async def _form(
        self, request: Request, status: int = 200, message: str = "", auth_id: str = "", back: str = ""
    ) -> Response:
        """The sign-in form, its CSRF token tied to the browser's pre-sign-in cookie (set anew
        when the browser has no good one)."""
        secret = await self._guard.auth().secret()
        nonce = cookies.unsign(secret, request.cookies.get(cookies.PRE_SIGN_IN, ""))
        fresh = nonce is None
        if nonce is None:
            nonce = secrets.token_urlsafe(24)
        response = render(
            "sign_in.html",
            None,
            {"message": message, "auth_id": auth_id, "next": back},
            status=status,
            csrf_token=csrf.sign_in_token(secret, nonce),
        )
        if fresh:
            cookies.set_cookie(response, request, cookies.PRE_SIGN_IN, cookies.sign(secret, nonce))
        return response

    async def form(self, request: Request, signed: Signed | None, form: Form) -> Response:
        back = return_path(request.query_params.get("next", ""))
        if signed is not None:
            return redirect(back or HOME)
        return await self._form(request, back=back)

    async def submit(self, request: Request, signed: Signed | None, form: Form) -> Response:
        auth_id = form.get("auth_id", "").strip()
        back = return_path(form.get("next", ""))
        client = request.scope.get("client")
        address = client[0] if client else ""
        now = time.monotonic()
        if self._failures is not None and (wait := self._failures.wait(address, now)):
            telemetry.RATE_LIMITED.labels("authentication").inc()
            response = await self._form(
                request, 429, "Too many failed sign-ins. Wait a minute and try again."
            )
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        auth = self._guard.auth()
        try:
            account, token = await auth.sign_in(auth_id, form.get("auth_token", ""))
        except errors.AuthenticationFailed:
            if self._failures is not None:
                self._failures.take(address, now)
            log.info("console sign-in failed for %s", shown_account(auth_id))
            return await self._form(request, 401, errors.AuthenticationFailed().message, auth_id[:20], back)
        secret = await auth.secret()
        previous = cookies.unsign(secret, request.cookies.get(cookies.SESSION, ""))
        if previous is not None:  # the browser's sign-in before this one (another account's?) ends
            await auth.sign_out(previous)
        log.info("console sign-in of %s", account.auth_id)
        response = redirect(back or HOME)
        cookies.set_cookie(response, request, cookies.SESSION, cookies.sign(secret, token))
        cookies.clear_cookie(response, request, cookies.PRE_SIGN_IN)
        return response

    async def sign_out(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        token = cookies.unsign(await self._guard.auth().secret(), request.cookies.get(cookies.SESSION, ""))
        if token is not None:
            await self._guard.auth().sign_out(token)
        log.info("console sign-out of %s", signed.account.auth_id)
        response = redirect(SIGN_IN)
        cookies.clear_cookie(response, request, cookies.SESSION)
        return response
