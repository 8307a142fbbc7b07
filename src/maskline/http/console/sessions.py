"""The console's session pages: the list with its filters, one session with its calls, texts and
callbacks, and revealing one of its numbers.

A filter can hold a phone number, which must never reach a URL (and so the access log, a proxy's
log or the browser's history): the filters go in a POST form, and each page of results is asked
for by a POST form that carries them again in hidden fields. Nothing is kept on the server
between pages, and a link to a page of results cannot leak a number.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from maskline.domain import errors
from maskline.domain.console import REVEALABLE
from maskline.domain.listing import MAX_LIMIT, STATUSES
from maskline.domain.model import Session
from maskline.http.console.guard import Form, Guard
from maskline.http.console.pages import Signed, masked, render
from maskline.service.timeline import SessionTimeline

log = logging.getLogger("maskline.console")

# The filter form's fields, and the list filter (docs/api.md, "List filters") each one is.
FILTERS = {
    "virtual_number": "virtual_number",
    "status": "status",
    "created_from": "created_time__gte",
    "created_to": "created_time__lte",
    "subaccount": "subaccount",
}
_SECRET_SETTINGS = ("first_party_pin", "second_party_pin")


@dataclass(frozen=True, slots=True)
class Item:
    """A row of a session's timeline: a call or a text."""

    kind: str  # "call" or "message"
    at: int
    what: Any


def settings_of(session: Session) -> list[tuple[str, str]]:
    """A session's settings as shown: PINs only as set or not."""
    shown = []
    for name, value in msgspec.structs.asdict(session.settings).items():
        if name in _SECRET_SETTINGS:
            value = "set" if value else ""
        shown.append((name, "" if value is None else str(value)))
    return shown


def timeline_of(story: SessionTimeline) -> list[Item]:
    """The session's calls and texts in one list, oldest first (calls before texts of the same
    second)."""
    items = [Item("call", c.started, c) for c in story.calls]
    items += [Item("message", m.created, m) for m in story.messages]
    return sorted(items, key=lambda i: (i.at, i.kind))


class SessionPages:
    def __init__(self, guard: Guard) -> None:
        self._guard = guard

    async def _list(self, signed: Signed, form: Form, status: int = 200) -> Response:
        services = self._guard.services()
        params = {wire: form[name].strip() for name, wire in FILTERS.items() if form.get(name, "").strip()}
        offset = form.get("offset", "0")
        params.update(limit=str(MAX_LIMIT), offset=offset if offset.isdigit() else "0")
        context: dict[str, Any] = {
            "filters": {name: form.get(name, "") for name in (*FILTERS, "party")},
            "statuses": STATUSES,
            "subaccounts": await services.console.subaccounts(signed.account),
            "sessions": [],
            "total": 0,
            "offset": 0,
            "limit": MAX_LIMIT,
            "message": "",
            "now": services.console.now(),
        }
        try:
            page = await services.sessions.list(signed.account, params, form.get("party", "").strip())
        except errors.MaskingError as error:
            context["message"] = error.message
            status = 400
        else:
            context.update(sessions=page.sessions, total=page.total, offset=page.query.offset, now=page.now)
        return render("sessions.html", signed, context, status=status, current="/console/sessions")

    async def index(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        return await self._list(signed, {})

    async def search(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        return await self._list(signed, form)

    async def _session(
        self, signed: Signed, session_uuid: str, revealed: dict[str, str] | None = None
    ) -> Response:
        services = self._guard.services()
        try:
            story = await services.timeline.of(signed.account, session_uuid)
        except errors.SessionNotFound:
            return render("error.html", signed, {"message": "No such session."}, status=404)
        session = story.session
        context = {
            "session": session,
            "status": session.status(services.console.now()),
            "settings": settings_of(session),
            "timeline": timeline_of(story),
            "deliveries": story.events,
            "revealed": revealed or {},
            "revealable": REVEALABLE,
        }
        return render("session.html", signed, context, current="/console/sessions")

    async def session(self, request: Request, signed: Signed | None, form: Form) -> Response:
        assert signed is not None
        return await self._session(signed, request.path_params["session_uuid"])

    async def reveal(self, request: Request, signed: Signed | None, form: Form) -> Response:
        """The session's page with one of its numbers in full; the reveal is logged (the number
        masked) and recorded with who asked and when."""
        assert signed is not None
        field = form.get("field", "")
        if field not in REVEALABLE:
            return render("error.html", signed, {"message": "Nothing to reveal."}, status=400)
        services = self._guard.services()
        try:
            session = await services.timeline.session(signed.account, request.path_params["session_uuid"])
        except errors.SessionNotFound:
            return render("error.html", signed, {"message": "No such session."}, status=404)
        number = str(getattr(session, field))
        await services.console.revealed(signed.account, session.uuid, field)
        log.info(
            "console reveal: %s revealed the %s of session %s (%s)",
            signed.account.auth_id,
            field,
            session.uuid,
            masked(number),
        )
        return await self._session(signed, session.uuid, {field: number})
