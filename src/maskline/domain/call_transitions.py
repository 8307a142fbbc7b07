"""How a call moves: a report from the carrier, applied to a call, gives the next call and the
events it announces (docs/calls.md, "Session status events", docs/calls.md, "Recording events").

Pure, like routing: the service loads the call and the session a report concerns, calls
``advance``, and stores the call and its events in one unit of work. A report that arrives twice,
late or out of order changes nothing and announces nothing: a leg goes from unreported to
ringing to in-progress to ended, never back; a finished call takes only its recording, which
carriers send after the hangup.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from maskline.domain.calls import Call, CallState, LegStatus, leg_cause
from maskline.domain.events import Event, recording_event, status_event
from maskline.domain.model import Session
from maskline.domain.routing import Bridge, Decision, Play, PromptPin
from maskline.domain.timefmt import format_time

RECONCILE_GRACE = 300  # seconds past a call's longest possible life before it is closed


class LegProgress(enum.StrEnum):
    """What a carrier reports of the dialled party's leg, in carrier-neutral words."""

    RINGING = "ringing"
    ANSWERED = "answered"
    ENDED = "ended"  # hung up, or never answered: busy, no answer, failed, cancelled


@dataclass(frozen=True, slots=True)
class Routed:
    """A new call was routed (the carrier's answer webhook, or a SIP proxy's route request)."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class PinEntered:
    """The caller at the PIN prompt entered digits; ``decision`` is what routing made of them."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class DialledLeg:
    """Progress of the dialled party's leg; ``leg`` is its resource URL, when the carrier names
    it; ``cause``, with its end, why it ended in the carrier's words (kept as ``leg_cause``
    bounds it)."""

    session: Session  # the call's
    progress: LegProgress
    leg: str = ""
    cause: str = ""


@dataclass(frozen=True, slots=True)
class HungUp:
    """The caller's leg ended, or maskline gave up waiting to hear that it did."""

    session: Session | None  # the call's, unless it is gone


@dataclass(frozen=True, slots=True)
class Recorded:
    """The recording of a call is ready."""

    session: Session | None  # the call's, unless it is gone
    url: str
    recording_id: str = ""
    duration: str = ""


Report = Routed | PinEntered | DialledLeg | HungUp | Recorded


@dataclass(frozen=True, slots=True)
class Step:
    """The call after a report, the events it announces, and ``counterpart``: who reached a
    single-party session's own party, to be called back the next time, if anyone
    (docs/calls.md, "Single-party sessions")."""

    call: Call
    events: tuple[Event, ...] = ()
    counterpart: str = ""


def arrival(account_id: str, call_id: str, virtual_number: str, caller: str, a_leg: str, now: int) -> Call:
    """A call the carrier has just answered, before it is routed."""
    return Call(
        account_id, call_id, virtual_number, caller, now, CallState.PIN,
        a_leg=a_leg, a_status=LegStatus.IN_PROGRESS,
    )  # fmt: skip


def advance(call: Call, report: Report, now: int) -> Step:
    """The call after ``report`` at ``now``, and what it announces."""
    match report:
        case Routed(decision):
            unrouted = call.state is CallState.PIN and call.session_uuid is None
            return _routed(call, decision, now, first=True) if unrouted else Step(call)
        case PinEntered(decision):
            return _pin_entered(call, decision, now)
        case DialledLeg():
            return _dialled_leg(call, report, now)
        case HungUp(session):
            return _hung_up(call, session, now)
        case Recorded():
            return _recorded(call, report, now)


def _step(call: Call, *events: Event | None, counterpart: str = "") -> Step:
    """A step announcing ``events``, leaving out those nobody listens to (no callback URL)."""
    return Step(call, tuple(event for event in events if event is not None), counterpart)


def _routed(call: Call, decision: Decision, now: int, first: bool) -> Step:
    """Where routing sends a call: to the other party, to the PIN prompt, or to its end.
    ``first``: the call's first routing, when the carrier answered it, rather than after a PIN."""
    if isinstance(decision, Bridge):
        session = decision.session
        s = session.settings
        dialling = replace(
            call,
            state=CallState.DIALLING,
            session_uuid=session.uuid,
            callee=decision.to,
            caller_is_first=decision.caller_is_first,
            deadline=now + s.ring_timeout + s.call_time_limit + RECONCILE_GRACE,
        )
        way_back = s.create_session_with_single_party and call.caller not in session.parties
        return _step(
            dialling,
            status_event(session, "SessionFirstPartyAnswer", now, dialling) if first else None,
            _pin_event(session, dialling, decision.pin_status, now, call.pin_attempts)
            if decision.pin_status
            else None,
            counterpart=call.caller if way_back else "",
        )
    if isinstance(decision, PromptPin):
        session = decision.session
        prompted = replace(
            call, state=CallState.PIN, session_uuid=session.uuid, pin_attempts=decision.attempt
        )
        if first:
            return _step(prompted, status_event(session, "SessionFirstPartyAnswer", now, prompted))
        return _step(prompted, _pin_event(session, prompted, "failed", now, decision.attempt))
    ended = replace(call, state=CallState.ENDED, ended=now, a_status=LegStatus.COMPLETED)
    if not first and isinstance(decision, Play) and decision.session is not None:
        return _step(ended, _pin_event(decision.session, ended, "failed", now, call.pin_attempts + 1))
    return _step(ended)


def _pin_entered(call: Call, decision: Decision, now: int) -> Step:
    """Digits mean something only to a call at the prompt, and each wrong PIN counts once."""
    prompted = call.state is CallState.PIN and call.session_uuid is not None
    counted = isinstance(decision, PromptPin) and decision.attempt <= call.pin_attempts
    if not prompted or counted:
        return Step(call)
    return _routed(call, decision, now, first=False)


def _pin_event(session: Session, call: Call, status: str, now: int, wrong: int) -> Event | None:
    return status_event(
        session, "SessionPinAuthenticationStatus", now, call,
        PinAuthenticationStatus=status, PinRetryCounter=wrong,
    )  # fmt: skip


def _dialled_leg(call: Call, report: DialledLeg, now: int) -> Step:
    """The dialled leg goes from unreported to ringing to in-progress to ended, skipping steps
    if it must, never going back."""
    if not call.dialled:
        return Step(call)
    session, status = report.session, call.b_status
    call = replace(call, b_leg=report.leg or call.b_leg)
    match report.progress:
        case LegProgress.RINGING if status is LegStatus.UNREPORTED:
            ringing = replace(call, b_status=LegStatus.RINGING)
            return _step(ringing, status_event(session, "SessionSecondPartyRing", now, ringing))
        case LegProgress.ANSWERED if status in (LegStatus.UNREPORTED, LegStatus.RINGING):
            bridged = replace(call, state=CallState.BRIDGED, answered=now, b_status=LegStatus.IN_PROGRESS)
            return _step(
                bridged,
                status_event(session, "SessionSecondPartyAnswer", now, bridged),
                recording_event(session, "SessionRecordingInitiated", now, bridged)
                if session.settings.record
                else None,
            )
        case LegProgress.ENDED if not status.ended:
            answered = call.answered
            over = replace(
                call,
                b_status=LegStatus.NO_ANSWER if answered is None else LegStatus.COMPLETED,
                billed=0 if answered is None else now - answered,
                b_cause=leg_cause(report.cause),
            )
            return _step(
                over, status_event(session, "SessionSecondPartyHangup", now, over, **_figures(over, now))
            )
    return Step(call)


def _hung_up(call: Call, session: Session | None, now: int) -> Step:
    if call.state is CallState.ENDED:
        return Step(call)
    answered, billed, b_status = call.answered, call.billed, call.b_status
    if answered is not None and not billed:
        billed = now - answered
    if call.b_leg and not b_status.ended:
        b_status = LegStatus.NO_ANSWER if answered is None else LegStatus.COMPLETED
    ended = replace(
        call,
        state=CallState.ENDED,
        ended=now,
        a_status=LegStatus.COMPLETED,
        duration=now - call.started,
        billed=billed,
        b_status=b_status,
    )
    if session is None or not call.callee:  # never routed to a party: nothing to announce
        return _step(ended)
    figures = _figures(ended, now)
    return _step(
        ended,
        status_event(session, "SessionFirstPartyHangup", now, ended, **figures),
        status_event(session, "SessionPartiesHangup", now, ended, **figures),
    )


def _recorded(call: Call, report: Recorded, now: int) -> Step:
    if not report.url or call.recording_url == report.url:
        return Step(call)
    recorded = replace(call, recording_url=report.url)
    if report.session is None:
        return _step(recorded)
    return _step(
        recorded,
        recording_event(
            report.session, "SessionRecordingCompleted", now, recorded,
            RecordingURL=report.url, RecordingResourceURL=report.url, RecordingUUID=report.recording_id,
            RecordingDuration=report.duration, RecordingStartTime=format_time(call.answered or now),
            RecordingEndTime=format_time(now),
        ),
    )  # fmt: skip


def _figures(call: Call, now: int) -> dict[str, object]:
    """The money and time fields of hangup events; maskline does not bill."""
    return {
        "Amount": "0",
        "Duration": now - call.started,
        "BilledDuration": call.billed,
        "PlivoHangupCause": "NORMAL_CLEARING",
        "PlivoHangupCauseCode": 4000,
    }
