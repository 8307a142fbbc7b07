"""The console's handler of each of its operations in the route table, by operation id: every
one bound through the guard (``guard.Guard.wrap``), but the style sheet, which is no page."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from maskline.domain.ratelimit import Limiter
from maskline.http.console.carrier import CarrierPage
from maskline.http.console.guard import ConsoleServices, Endpoint, Form, Guard, redirect
from maskline.http.console.lookup import LookupPages
from maskline.http.console.pages import Signed, stylesheet_response
from maskline.http.console.pools import PoolPages
from maskline.http.console.sessions import SessionPages
from maskline.http.console.sign_in import HOME, SignIn


async def _home(request: Request, signed: Signed | None, form: Form) -> Response:
    return redirect(HOME)


async def _style(request: Request) -> Response:
    return stylesheet_response()


def console_handlers(
    services: Callable[[], ConsoleServices], failures: Limiter | None
) -> dict[str, Endpoint]:
    """``services``: the application's services; ``failures``: the
    API's limiter of failed authentications, which sign-ins share."""
    guard = Guard(services)
    sign_in = SignIn(guard, failures)
    sessions = SessionPages(guard)
    lookup = LookupPages(guard)
    pools = PoolPages(guard)
    carrier = CarrierPage(guard)
    return {
        "consoleHome": guard.wrap(_home),
        "consoleSignInForm": guard.wrap(sign_in.form, public=True),
        "consoleSignIn": guard.wrap(sign_in.submit, public=True),
        "consoleSignOut": guard.wrap(sign_in.sign_out),
        "consoleSessions": guard.wrap(sessions.index),
        "consoleSessionSearch": guard.wrap(sessions.search),
        "consoleSession": guard.wrap(sessions.session),
        "consoleReveal": guard.wrap(sessions.reveal),
        "consoleLookupForm": guard.wrap(lookup.form),
        "consoleLookup": guard.wrap(lookup.lookup),
        "consolePools": guard.wrap(pools.index),
        "consoleNumbersDone": guard.wrap(pools.done),
        "consoleAddNumbers": guard.wrap(pools.add),
        "consoleRetireNumber": guard.wrap(pools.retire),
        "consoleReplaceNumber": guard.wrap(pools.replace),
        "consoleCarrier": guard.wrap(carrier.show),
        "consoleStyle": _style,
    }
