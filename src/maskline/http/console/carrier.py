"""The carrier page: which carrier serves the account, its public URL, and the webhook URLs (with
their methods) to set in the carrier's console, from ``maskline.http.carrier_setup``; without
one, how to set one up."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from maskline.http.carrier_setup import carrier_setup
from maskline.http.console.guard import Form, Guard
from maskline.http.console.pages import Signed, render

# The operator's command that connects a carrier (README, "Calls: connecting a carrier").
SET_CARRIER = (
    "maskline carrier set --account {account} --carrier plivo|twilio"
    " --auth-token TOKEN --carrier-auth-id ID --public-url https://mask.example.com"
)


class CarrierPage:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def show(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        setup = await carrier_setup(self._guard.services().store.accounts, signed.account)
        context = {"setup": setup, "command": SET_CARRIER.format(account=signed.account.main_id)}
        return render("carrier.html", signed, context, current="/console/carrier")
