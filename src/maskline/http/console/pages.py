"""Rendering console pages: one Jinja environment (autoescaped), the filters templates use, and
the one helper that puts the signed-in account, its CSRF token and the menu into every page."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import jinja2
from starlette.responses import HTMLResponse, Response

from maskline.domain.console import ConsoleLogin
from maskline.domain.model import Account
from maskline.domain.timefmt import format_time
from maskline.http.routes import ROUTES
from maskline.telemetry import mask_phones

# What every console page answers with: never cached (pages hold customers' data), never framed,
# no script or style from elsewhere, forms only to the console itself, and no Referer with a
# session's address sent to another site.
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:;"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# The menu: each console route that names itself in it, in the order of the route table.
NAV = tuple((route.nav, route.path) for route in ROUTES if route.console and route.nav)


def masked(number: object) -> str:
    """A phone number with all but its last four digits starred (as the logs show them)."""
    return mask_phones(str(number)) if number else ""


def when(epoch: object) -> str:
    """An epoch time, in UTC to the second; empty for none."""
    return (
        format_time(int(epoch)).removesuffix(" +0000 UTC") + " UTC"
        if isinstance(epoch, int | float) and epoch
        else ""
    )


def web_address(value: object) -> bool:
    """Whether ``value`` is an http or https URL, the only kind a page makes a link of: a URL
    from a carrier or a customer (``javascript:``, ``data:``) is otherwise shown as text."""
    parts = urlsplit(str(value))
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def seconds(value: object) -> str:
    """A duration in seconds, as ``1 min 05 s``."""
    total = int(value) if isinstance(value, int | float) else 0
    minutes, rest = divmod(total, 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("maskline.http.console", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(masked=masked, when=when, seconds=seconds)
    env.tests["web_address"] = web_address
    env.globals["nav"] = NAV
    return env


@cache
def style_sheet() -> bytes:
    return resources.files("maskline.http.console").joinpath("static/console.css").read_bytes()


@dataclass(frozen=True, slots=True)
class Signed:
    """Who a console request is from: the account and its sign-in."""

    account: Account
    login: ConsoleLogin


def render(
    template: str,
    signed: Signed | None,
    context: Mapping[str, Any] | None = None,
    *,
    status: int = 200,
    csrf_token: str = "",
    current: str = "",
) -> Response:
    """A console page: ``template`` with ``context``, the signed-in account (``account``), the
    token every form carries (``csrf_token``) and the menu entry to mark (``current``)."""
    page = (
        environment()
        .get_template(template)
        .render(
            {
                "account": signed.account if signed else None,
                "csrf_token": signed.login.csrf_token if signed else csrf_token,
                "current": current,
                **(context or {}),
            }
        )
    )
    return HTMLResponse(page, status, headers=HEADERS)


def not_found() -> Response:
    """What a path under /console/ that is no page answers: a page, not the API's JSON."""
    return render("error.html", None, {"message": "No such page."}, status=404)


def stylesheet_response() -> Response:
    return Response(
        style_sheet(),
        200,
        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        media_type="text/css",
    )
