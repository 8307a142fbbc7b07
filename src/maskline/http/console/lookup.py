"""Who called whom (``maskline.service.lookup.who_called``): a form of a virtual number, a
party's number (a caller, or a person called) and a time, POSTed, since it carries two phone
numbers that must never reach a URL; the answer names each call's session and whom it was
routed to, or who called (masked), or why it reached nobody, the nearest call first, then the
party's sessions on the number and its texts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from maskline.domain import errors
from maskline.domain.lookup import TOLERANCE, Outcome, Refusal
from maskline.http.console.guard import Form, Guard
from maskline.http.console.pages import Signed, render
from maskline.service.lookup import who_called

FIELDS = ("virtual_number", "party", "at", "tolerance")
MAX_TOLERANCE = 24 * 60  # minutes either side

# What each outcome and refusal means, in the operator's words.
OUTCOMES = {
    Outcome.CONNECTED: "connected: the called party answered",
    Outcome.NOT_ANSWERED: "dialled, not answered",
    Outcome.RINGING: "ringing now",
    Outcome.TALKING: "in progress now",
    Outcome.AT_PIN_PROMPT: "at the PIN prompt now",
    Outcome.PIN_FAILED: "asked for a PIN, never connected",
    Outcome.REFUSED: "refused: routed to nobody",
}
REFUSALS = {
    Refusal.EXPIRED: "the caller's session on this number had expired",
    Refusal.NO_COUNTERPART: "the caller's session had only one party: there was nobody to call",
    Refusal.OUT_OF_SCOPE: "the caller had a live session, but not one this carrier account may reach",
    Refusal.UNKNOWN_CALLER: "the caller was a party of no session on this number",
}


class BadQuery(Exception):
    """A field of the form that cannot be read; the message says which."""


def parse_time(raw: str) -> int:
    """A ``datetime-local`` value (or ISO 8601), taken as UTC, in epoch seconds."""
    try:
        moment = datetime.fromisoformat(raw.strip().replace(" ", "T"))
    except ValueError:
        raise BadQuery("The date and time must be given, as YYYY-MM-DD HH:MM in UTC.") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def parse_tolerance(raw: str) -> int:
    """Minutes either side, in seconds; the default when empty."""
    if not raw.strip():
        return TOLERANCE
    if not raw.strip().isdigit() or not 0 <= int(raw) <= MAX_TOLERANCE:
        raise BadQuery(f"The tolerance must be a whole number of minutes from 0 to {MAX_TOLERANCE}.")
    return int(raw) * 60


class LookupPages:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    def _page(self, signed: Signed, form: Form, status: int = 200, **more: Any) -> Response:
        context: dict[str, Any] = {
            "form": {name: form.get(name, "") for name in FIELDS},
            "default_tolerance": TOLERANCE // 60,
            "answer": None,
            "message": "",
            "outcomes": OUTCOMES,
            "refusals": REFUSALS,
            **more,
        }
        return render("lookup.html", signed, context, status=status, current="/console/lookup")

    async def form(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        now = datetime.fromtimestamp(self._guard.services().console.now(), UTC)
        return self._page(signed, {"at": now.strftime("%Y-%m-%dT%H:%M")})

    async def lookup(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        store = self._guard.services().store
        try:
            at, tolerance = parse_time(form.get("at", "")), parse_tolerance(form.get("tolerance", ""))
            answer = await who_called(
                store.calls,
                store.sessions,
                store.messages,
                signed.account,
                form.get("virtual_number", ""),
                form.get("party", ""),
                at,
                tolerance,
            )
        except BadQuery as error:
            return self._page(signed, form, 400, message=str(error))
        except errors.InvalidNumber:
            return self._page(
                signed, form, 400, message="Both numbers must be phone numbers, as +14155550100."
            )
        return self._page(signed, form, answer=answer)
