"""Call use cases: answer a call to a virtual number, take a PIN, follow the legs to the end."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlencode

from maskline.domain import errors
from maskline.domain.call_transitions import (
    DialledLeg,
    HungUp,
    LegProgress,
    PinEntered,
    Recorded,
    Report,
    Routed,
    advance,
    arrival,
)
from maskline.domain.calls import Call, CallState, Carrier, CarrierKind
from maskline.domain.model import Account, Scope, Session
from maskline.domain.params import is_url
from maskline.domain.phone import to_e164
from maskline.domain.ports import AccountStore, CallStore, Clock, Dialer, NumberStore, SessionStore
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
from maskline.service.accounts import carrying_carrier

log = logging.getLogger("maskline.calls")


class CallService:
    def __init__(
        self,
        store: CallStore,
        sessions: SessionStore,
        numbers: NumberStore,
        accounts: AccountStore,
        clock: Clock,
        dialer: Dialer | None = None,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._numbers = numbers
        self._accounts = accounts
        self._clock = clock
        self._dialer = dialer
        self._placing: set[asyncio.Task[None]] = set()

    def _now(self) -> int:
        return int(self._clock())

    async def carrier(self, account_id: str) -> Carrier | None:
        return await self._accounts.get_carrier(account_id)

    async def carrier_for(self, account_id: str, main_id: str) -> Carrier | None:
        """The carrier that places an account's calls: its own, else its main account's; None
        when there is none or this server cannot place calls."""
        if self._dialer is None:
            return None
        return await carrying_carrier(self._accounts, account_id, main_id)

    def place_first_call(self, carrier: Carrier, session: Session) -> None:
        """Request-a-call (docs/calls.md, "Request-a-call"): have the carrier call the first
        party now; on answer, the answer webhook bridges to the second party. Runs in the
        background: the create that asked for it is answered at once."""
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
        session = await self._sessions.session_by_uuid(_scope(carrier), session_uuid)
        if session is None or not session.is_live(now) or not session.second_party:
            return Reject(NO_SESSION)
        decision = Bridge(session, session.second_party, caller_is_first=True)
        if await self._store.get_call(carrier.account_id, call_id) is None:
            call = arrival(
                carrier.account_id, call_id, session.virtual_number, session.first_party,
                carrier.leg_url(call_id), now,
            )  # fmt: skip
            await self._apply(call, Routed(decision), now, new=True)
        return decision

    async def set_carrier(
        self, account: Account, kind: CarrierKind, auth_token: str, public_url: str, carrier_auth_id: str
    ) -> Carrier:
        if not is_url(public_url):
            raise errors.NotUrl("public_url")
        if not auth_token:
            raise errors.Missing("auth_token")
        carrier = Carrier(account.auth_id, kind, auth_token, carrier_auth_id, public_url.rstrip("/"))
        await self._accounts.set_carrier(carrier)
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
            prompted = await self._sessions.session_by_uuid(_scope(carrier), existing.session_uuid or "")
            if prompted is not None:
                return PromptPin(prompted, existing.pin_attempts)
        decision = route(caller, await self._sessions.number_view(caller, number, _scope(carrier), now))
        if existing is None:
            call = arrival(
                carrier.account_id, call_id, number, caller or caller_raw[:20], carrier.leg_url(call_id), now
            )
            await self._apply(call, Routed(decision), now, new=True)
        return decision

    # -- SIP mode: a proxy asks how to route each new call, then reports how it went ---------
    async def _sip_carrier(self, number: str | None) -> Carrier | None:
        """The trunk of the account whose pool holds ``number``: SIP calls are that account's."""
        main_id = await self._numbers.number_owner(number) if number else None
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
        if (
            unknown
            and caller
            and await self._sessions.had_session(caller, number, _scope(carrier), self._now())
        ):
            return Reject(SESSION_EXPIRED, "session expired")
        return decision

    async def sip_progress(
        self, call_id: str, number_raw: str, progress: LegProgress, cause: str = ""
    ) -> None:
        """The proxy's report on a SIP call: the callee answered, or the call is over (``cause``:
        the final status of a call to the callee that failed)."""
        carrier = await self._sip_carrier(to_e164(number_raw))
        if carrier is None:
            return
        leg = f"{call_id};callee"  # the proxy's leg to the callee
        await self.leg(carrier, call_id, leg, progress, cause)
        if progress is LegProgress.ENDED:
            await self.hangup(carrier, call_id)

    async def _apply(self, call: Call, report: Report, now: int, new: bool = False) -> None:
        """Store what ``report`` makes of ``call`` (``new``: a call not stored yet) with the
        events it announces, unless it changes nothing."""
        step = advance(call, report, now)
        if new or step.call != call:
            await self._store.save_call(step.call, None if new else call, step.counterpart, step.events)

    async def pin(self, carrier: Carrier, call_id: str, digits: str) -> Decision:
        """The digits a caller entered at the PIN prompt."""
        now = self._now()
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None or call.state is not CallState.PIN:
            return Reject(NO_SESSION)
        prompted = await self._sessions.session_by_uuid(_scope(carrier), call.session_uuid or "")
        if prompted is None or not prompted.is_live(now):
            return Reject(NO_SESSION)
        digits = digits.strip().rstrip("#")
        found = None
        if digits.isascii() and digits.isdigit() and 4 <= len(digits) <= 15:
            found = await self._sessions.session_by_pin(call.virtual_number, digits, _scope(carrier), now)
        decision = route_pin(digits, call.caller, prompted, found, call.pin_attempts)
        await self._apply(call, PinEntered(decision), now)
        return decision

    async def leg(
        self, carrier: Carrier, call_id: str, leg_id: str, progress: LegProgress, cause: str = ""
    ) -> None:
        """Progress of the dialled party's leg (``cause``: why it ended, in the carrier's words)."""
        now = self._now()
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None or not call.dialled:
            return
        session = await self._sessions.session_by_uuid(_scope(carrier), call.session_uuid or "")
        if session is not None:
            await self._apply(call, DialledLeg(session, progress, carrier.leg_url(leg_id), cause), now)

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
        # The call's own link, made when it was routed within its carrier's scope.
        session = await self._sessions.session_by_uuid(None, call.session_uuid or "")
        await self._apply(call, HungUp(session), now)

    async def recording(
        self, carrier: Carrier, call_id: str, url: str, recording_id: str = "", duration: str = ""
    ) -> None:
        call = await self._store.get_call(carrier.account_id, call_id)
        if call is None:
            return
        session = await self._sessions.session_by_uuid(_scope(carrier), call.session_uuid or "")
        await self._apply(call, Recorded(session, url, recording_id, duration), self._now())

    async def callee_prompt(self, carrier: Carrier, session_uuid: str, party: str) -> str:
        """The play URL of the dialled party of a session: ``first`` or ``second``."""
        session = await self._sessions.session_by_uuid(_scope(carrier), session_uuid)
        if session is None:
            return ""
        s = session.settings
        return s.first_party_play_url if party == "first" else s.second_party_play_url


def webhook_scope(carrier: Carrier) -> Scope:
    """What a carrier's webhooks, calls and messages alike, may reach: the numbers and sessions
    of its account and, for a main account, of its subaccounts; never a parent's or a sibling's."""
    return Scope(carrier.main_id, None if carrier.account_id == carrier.main_id else carrier.account_id)


_scope = webhook_scope
