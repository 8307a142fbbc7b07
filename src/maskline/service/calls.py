"""Call use cases: answer a call to a virtual number, take a PIN, follow the legs to the end."""

from __future__ import annotations

import asyncio
import enum
import logging
from dataclasses import replace
from urllib.parse import urlencode

from maskline.domain import errors
from maskline.domain.calls import Call, CallState, Carrier, CarrierKind
from maskline.domain.events import Event, recording_event, status_event
from maskline.domain.model import Account, Scope, Session
from maskline.domain.params import is_url
from maskline.domain.phone import to_e164
from maskline.domain.ports import Clock, Dialer, Store
from maskline.domain.routing import (
    NO_SESSION,
    SESSION_EXPIRED,
    UNKNOWN_CALLER,
    Bridge,
    Decision,
    Play,
    PromptPin,
    Reject,
    route,
    route_pin,
)
from maskline.domain.timefmt import format_time

log = logging.getLogger("maskline.calls")
RECONCILE_GRACE = 300  # seconds past a call's longest possible life before it is closed


class LegStatus(enum.StrEnum):
    """What a carrier reports of the dialled party's leg, in carrier-neutral words."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"


class CallService:
    def __init__(self, store: Store, clock: Clock, dialer: Dialer | None = None) -> None:
        self._store = store
        self._clock = clock
        self._dialer = dialer
        self._placing: set[asyncio.Task[None]] = set()

    def _now(self) -> int:
        return int(self._clock())

    async def carrier(self, account_id: str) -> Carrier | None:
        return await self._store.get_carrier(account_id)

    async def carrier_for(self, account_id: str, main_id: str) -> Carrier | None:
        """The carrier that places an account's calls: its own, else its main account's; None
        when there is none or this server cannot place calls."""
        if self._dialer is None:
            return None
        return await self._store.get_carrier(account_id) or await self._store.get_carrier(main_id)

    def place_first_call(self, carrier: Carrier, session: Session) -> None:
        """Request-a-call (§11.2): have the carrier call the first party now; on answer, the
        answer webhook bridges to the second party. Runs in the background: the create that
        asked for it is answered at once."""
        task = asyncio.get_running_loop().create_task(self._place(carrier, session))
        self._placing.add(task)
        task.add_done_callback(self._placing.discard)

    async def _place(self, carrier: Carrier, session: Session) -> None:
        assert self._dialer is not None
        base = carrier.webhook_base()
        answer = "voice" if carrier.kind is CarrierKind.TWILIO else "answer"
        hangup = "status" if carrier.kind is CarrierKind.TWILIO else "hangup"
        try:
            await self._dialer.call(
                carrier, session.first_party, session.virtual_number,
                f"{base}/{answer}?{urlencode({'session': session.uuid})}", f"{base}/{hangup}",
            )  # fmt: skip
        except Exception:
            log.exception("could not place the first call of session %s", session.uuid)

    async def answer_placed(self, carrier: Carrier, call_id: str, session_uuid: str) -> Decision:
        """The first party answered a call maskline placed: bridge to the second party."""
        now = self._now()
        session = await self._store.session_by_uuid(_scope(carrier), session_uuid)
        if session is None or not session.is_live(now) or not session.second_party:
            return Reject(NO_SESSION)
        decision = Bridge(session, session.second_party, caller_is_first=True)
        if await self._store.get_call(carrier.account_id, call_id) is None:
            call = Call(
                carrier.account_id, call_id, session.virtual_number, session.first_party, now, CallState.PIN,
                a_leg=carrier.leg_url(call_id), a_status="in-progress",
            )  # fmt: skip
            await self._advance(call, None, decision, now)
        return decision

    async def set_carrier(
        self, account: Account, kind: CarrierKind, auth_token: str, public_url: str, carrier_auth_id: str
    ) -> Carrier:
        if not is_url(public_url):
            raise errors.NotUrl("public_url")
        if not auth_token:
            raise errors.Missing("auth_token")
        carrier = Carrier(account.auth_id, kind, auth_token, carrier_auth_id, public_url.rstrip("/"))
        await self._store.set_carrier(carrier)
        return carrier

    async def answer(self, carrier: Carrier, call_id: str, caller_raw: str, number_raw: str) -> Decision:
        """A call to a virtual number: route it and open its record (idempotent per call id)."""
        now = self._now()
        number = to_e164(number_raw)
        if number is None:
            return Reject(NO_SESSION)
        caller = to_e164(caller_raw)
        existing = await self._store.get_call(carrier.account_id, call_id)
        if existing is not None and existing.state is CallState.PIN:
            prompted = await self._store.session_by_uuid(_scope(carrier), existing.session_uuid or "")
            if prompted is not None:
                return PromptPin(prompted, existing.pin_attempts)
        decision = route(caller, await self._store.number_view(caller, number, _scope(carrier), now))
        if existing is None:
            call = Call(
                carrier.account_id,
                call_id,
                number,
                caller or caller_raw[:20],
                now,
                CallState.PIN,
                a_leg=carrier.leg_url(call_id),
                a_status="in-progress",
            )
            await self._advance(call, None, decision, now)
        return decision

    # -- SIP mode: a proxy asks how to route each new call, then reports how it went ---------
    async def _sip_carrier(self, number: str | None) -> Carrier | None:
        """The trunk of the account whose pool holds ``number``: SIP calls are that account's."""
        main_id = await self._store.number_owner(number) if number else None
        return None if main_id is None else Carrier(main_id, CarrierKind.SIP, "", "", "", main_id)

    async def sip_answer(self, call_id: str, caller_raw: str, number_raw: str) -> Decision:
        """A new SIP call: the same decision and call record as a carrier's answer webhook.
        A proxy has no media, so a call that would hear a prompt or enter a PIN is refused as
        an unknown caller, and a caller whose session on the number has ended hears 480."""
        number = to_e164(number_raw)
        carrier = await self._sip_carrier(number)
        if carrier is None or number is None:
            return Reject(NO_SESSION)
        decision = await self.answer(carrier, call_id, caller_raw, number)
        if isinstance(decision, PromptPin | Play):
            await self.hangup(carrier, call_id)
            return Reject(UNKNOWN_CALLER)
        caller = to_e164(caller_raw)
        unknown = isinstance(decision, Reject) and decision.sip_code == UNKNOWN_CALLER
        if unknown and caller and await self._store.had_session(caller, number, _scope(carrier), self._now()):
            return Reject(SESSION_EXPIRED, "session expired")
        return decision

    async def sip_progress(self, call_id: str, number_raw: str, status: LegStatus) -> None:
        """The proxy's report on a SIP call: the callee answered, or the call is over."""
        carrier = await self._sip_carrier(to_e164(number_raw))
        if carrier is None:
            return
        await self.leg(carrier, call_id, f"{call_id};callee", status)  # the proxy's leg to the callee
        if status is LegStatus.ENDED:
            await self.hangup(carrier, call_id)

    async def _advance(self, call: Call, before: Call | None, decision: Decision, now: int) -> None:
        """Record what a decision does to a call, with the events it makes."""
        counterpart = ""
        events: list[Event | None] = []
        if isinstance(decision, Bridge):
            session = decision.session
            call.state, call.session_uuid = CallState.DIALLING, session.uuid
            call.callee, call.caller_is_first = decision.to, decision.caller_is_first
            s = session.settings
            call.deadline = now + s.ring_timeout + s.call_time_limit + RECONCILE_GRACE
            if call.caller not in session.parties and session.settings.create_session_with_single_party:
                counterpart = call.caller  # the way back for the session's own party (§11.5)
            if before is None:
                events.append(status_event(session, "SessionFirstPartyAnswer", now, call))
            if decision.pin_status:
                events.append(self._pin_event(session, call, decision.pin_status, now, call.pin_attempts))
        elif isinstance(decision, PromptPin):
            if before is None:
                events.append(status_event(decision.session, "SessionFirstPartyAnswer", now, call))
            else:
                events.append(self._pin_event(decision.session, call, "failed", now, decision.attempt))
            call.state, call.session_uuid = CallState.PIN, decision.session.uuid
            call.pin_attempts = decision.attempt
        else:
            if before is not None and isinstance(decision, Play) and decision.session is not None:
                events.append(self._pin_event(decision.session, call, "failed", now, call.pin_attempts + 1))
            call.state, call.ended, call.a_status = CallState.ENDED, now, "completed"
        await self._store.save_call(call, before, counterpart, [e for e in events if e is not None])

    @staticmethod
    def _pin_event(session: Session, call: Call, status: str, now: int, wrong: int = 0) -> Event | None:
        return status_event(
            session, "SessionPinAuthenticationStatus", now, call,
            PinAuthenticationStatus=status, PinRetryCounter=wrong,
        )  # fmt: skip

    async def pin(self, carrier: Carrier, call_id: str, digits: str) -> Decision:
        """The digits a caller entered at the PIN prompt."""
        now = self._now()
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None or call.state is not CallState.PIN:
            return Reject(NO_SESSION)
        prompted = await self._store.session_by_uuid(_scope(carrier), call.session_uuid or "")
        if prompted is None or not prompted.is_live(now):
            return Reject(NO_SESSION)
        digits = digits.strip().rstrip("#")
        found = None
        if digits.isascii() and digits.isdigit() and 4 <= len(digits) <= 15:
            found = await self._store.session_by_pin(call.virtual_number, digits, _scope(carrier), now)
        decision = route_pin(digits, call.caller, prompted, found, call.pin_attempts)
        await self._advance(call, replace(call), decision, now)
        return decision

    async def leg(self, carrier: Carrier, call_id: str, leg_id: str, status: LegStatus) -> None:
        """Progress of the dialled party's leg."""
        now = self._now()
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None or call.session_uuid is None or call.state in (CallState.PIN, CallState.ENDED):
            return
        session = await self._store.session_by_uuid(_scope(carrier), call.session_uuid)
        if session is None:
            return
        before = replace(call)
        call.b_leg = carrier.leg_url(leg_id) or call.b_leg
        events: list[Event | None] = []
        if status is LegStatus.RINGING and call.b_status != "ringing":
            call.b_status = "ringing"
            events.append(status_event(session, "SessionSecondPartyRing", now, call))
        elif status is LegStatus.ANSWERED and call.answered is None:
            call.state, call.answered, call.b_status = CallState.BRIDGED, now, "in-progress"
            events.append(status_event(session, "SessionSecondPartyAnswer", now, call))
            if session.settings.record:
                events.append(recording_event(session, "SessionRecordingInitiated", now, call))
        elif status is LegStatus.ENDED and call.b_status not in ("completed", "no-answer"):
            call.b_status = "completed" if call.answered is not None else "no-answer"
            call.billed = now - call.answered if call.answered is not None else 0
            figures = _figures(call, now)
            events.append(status_event(session, "SessionSecondPartyHangup", now, call, **figures))
        if call != before:
            await self._store.save_call(call, before, events=[e for e in events if e])

    async def hangup(self, carrier: Carrier, call_id: str) -> None:
        """The caller's leg ended: the interaction is over."""
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is not None and call.state is not CallState.ENDED:
            await self._finish(call, self._now())

    async def reconcile(self) -> int:
        """End the calls whose carrier never reported their end, once they cannot be live any
        more (ring timeout plus time limit passed), so that no session stays in-progress."""
        now = self._now()
        overdue = await self._store.overdue_calls(now, 100)
        for call in overdue:
            log.warning("call %s ended without a hangup from the carrier", call.call_id)
            await self._finish(call, now)
        return len(overdue)

    async def _finish(self, call: Call, now: int) -> None:
        before = replace(call)
        call.state, call.ended, call.a_status = CallState.ENDED, now, "completed"
        call.duration = now - call.started
        if call.answered is not None and not call.billed:
            call.billed = now - call.answered
        if call.b_leg and call.b_status in ("ringing", "in-progress", ""):
            call.b_status = "completed" if call.answered is not None else "no-answer"
        events: list[Event | None] = []
        # The call's own link, made when it was routed within its carrier's scope.
        session = await self._store.session_by_uuid(None, call.session_uuid or "")
        if session is not None and call.callee:
            figures = _figures(call, now)
            events += [
                status_event(session, "SessionFirstPartyHangup", now, call, **figures),
                status_event(session, "SessionPartiesHangup", now, call, **figures),
            ]
        await self._store.save_call(call, before, events=[e for e in events if e])

    async def recording(
        self, carrier: Carrier, call_id: str, url: str, recording_id: str = "", duration: str = ""
    ) -> None:
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None or not url or call.recording_url == url:
            return
        now = self._now()
        before = replace(call)
        call.recording_url = url
        session = await self._store.session_by_uuid(_scope(carrier), call.session_uuid or "")
        event = None
        if session is not None:
            event = recording_event(
                session, "SessionRecordingCompleted", now, call,
                RecordingURL=url, RecordingResourceURL=url, RecordingUUID=recording_id,
                RecordingDuration=duration, RecordingStartTime=format_time(call.answered or now),
                RecordingEndTime=format_time(now),
            )  # fmt: skip
        await self._store.save_call(call, before, events=[event] if event else [])

    async def callee_prompt(self, carrier: Carrier, session_uuid: str, party: str) -> str:
        """The play URL of the dialled party of a session: ``first`` or ``second``."""
        session = await self._store.session_by_uuid(_scope(carrier), session_uuid)
        if session is None:
            return ""
        s = session.settings
        return s.first_party_play_url if party == "first" else s.second_party_play_url


def _scope(carrier: Carrier) -> Scope:
    """What a carrier's webhooks may reach: the numbers and sessions of its account and, for a
    main account, of its subaccounts; never a parent's or a sibling's."""
    return Scope(carrier.main_id, None if carrier.account_id == carrier.main_id else carrier.account_id)


def _figures(call: Call, now: int) -> dict[str, object]:
    """The money and time fields of hangup events; maskline does not bill."""
    return {
        "Amount": "0",
        "Duration": now - call.started,
        "BilledDuration": call.billed,
        "PlivoHangupCause": "NORMAL_CLEARING",
        "PlivoHangupCauseCode": 4000,
    }
