"""Every branch of the call lifecycle: what each report makes of a call, and what it announces."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from maskline.domain.call_transitions import (
    RECONCILE_GRACE,
    DialledLeg,
    HungUp,
    LegProgress,
    PinEntered,
    Recorded,
    Report,
    Routed,
    Step,
    advance,
    arrival,
)
from maskline.domain.calls import Call, CallState, LegStatus
from maskline.domain.events import Event
from maskline.domain.model import Session
from maskline.domain.params import SessionSettings
from maskline.domain.routing import NO_SESSION, UNKNOWN_CALLER, Bridge, Decision, Play, PromptPin, Reject
from maskline.domain.timefmt import format_time

A, B, X, V = "+14155550001", "+14155550002", "+14155550099", "+16285550100"
T0 = 1_700_000_000
CALLBACK = "https://hooks.example.com/status"
RECORDINGS = "https://hooks.example.com/recordings"
PIN = {
    "is_pin_authentication_required": True,
    "first_party_pin": "1111",
    "second_party_pin": "2222",
    "pin_retry": 1,
    "incorrect_pin_play": "https://x/wrong.mp3",
}


def session(first: str = A, second: str = B, **settings: object) -> Session:
    given = {"callback_url": CALLBACK, "recording_callback_url": RECORDINGS, **settings}
    return Session(
        uuid="s-" + first + second,
        account_id="MA",
        main_id="MA",
        first_party=first,
        second_party=second,
        virtual_number=V,
        created=T0,
        modified=T0,
        expiry=T0 + 3600,
        settings=SessionSettings(call_time_limit=600, ring_timeout=30, **given),  # type: ignore[arg-type]
    )


S = session(record=True)


def new_call(caller: str = A) -> Call:
    return arrival("MA", "call-1", V, caller, "https://carrier/Call/call-1/", T0)


def names(step: Step) -> list[str]:
    return [event.fields["EventName"] for event in step.events]


def only(step: Step) -> Event:
    [event] = step.events
    return event


def dialled(s: Session = S) -> Call:
    """A call from the first party, routed to the second at T0."""
    return advance(new_call(), Routed(Bridge(s, B, caller_is_first=True)), T0).call


def leg(call: Call, progress: LegProgress, at: int, s: Session = S, leg_id: str = "") -> Step:
    return advance(call, DialledLeg(s, progress, leg_id), at)


def talking(at: int = T0 + 5) -> Call:
    """A call whose dialled party rang at T0 + 1 and answered at ``at``."""
    ringing = leg(dialled(), LegProgress.RINGING, T0 + 1, leg_id="https://carrier/Call/b/").call
    return leg(ringing, LegProgress.ANSWERED, at).call


# -- a new call ------------------------------------------------------------------------------
def test_leg_statuses_are_the_stored_and_shown_words() -> None:
    assert [s.value for s in LegStatus] == ["", "ringing", "in-progress", "completed", "no-answer"]
    assert [s for s in LegStatus if s.ended] == [LegStatus.COMPLETED, LegStatus.NO_ANSWER]


def test_an_arriving_call_is_the_callers_leg_in_progress() -> None:
    call = new_call()
    assert (call.state, call.session_uuid, call.started) == (CallState.PIN, None, T0)
    assert (call.a_status, call.b_status, call.a_leg, call.b_leg) == (
        LegStatus.IN_PROGRESS, LegStatus.UNREPORTED, "https://carrier/Call/call-1/", "",
    )  # fmt: skip
    assert not call.dialled


def test_a_bridged_call_dials_the_other_party_and_announces_the_first_party() -> None:
    step = advance(new_call(), Routed(Bridge(S, B, caller_is_first=True)), T0)
    call = step.call
    assert call.state is CallState.DIALLING and call.dialled
    assert (call.session_uuid, call.callee, call.caller_is_first) == (S.uuid, B, True)
    assert call.deadline == T0 + 30 + 600 + RECONCILE_GRACE
    assert step.counterpart == ""
    event = only(step)
    assert (event.url, event.method, event.created, event.session_uuid) == (CALLBACK, "POST", T0, S.uuid)
    assert event.fields == {
        "EventName": "SessionFirstPartyAnswer",
        "EventTimestamp": format_time(T0),
        "SessionUUID": S.uuid,
        "VirtualNumber": V[1:],
        "From": A[1:],
        "To": B[1:],
    }


def test_the_second_party_calling_back_is_not_the_first() -> None:
    call = advance(new_call(B), Routed(Bridge(S, A, caller_is_first=False)), T0).call
    assert (call.callee, call.caller_is_first) == (A, False)


def test_a_registered_caller_on_a_pin_session_is_announced_as_authorised() -> None:
    s = session(**PIN)
    step = advance(new_call(), Routed(Bridge(s, B, True, "AuthorizedCaller")), T0)
    assert names(step) == ["SessionFirstPartyAnswer", "SessionPinAuthenticationStatus"]
    pin = step.events[1].fields
    assert (pin["PinAuthenticationStatus"], pin["PinRetryCounter"]) == ("AuthorizedCaller", "0")


def test_whoever_reaches_a_single_party_session_is_its_way_back() -> None:
    s = session(first="", create_session_with_single_party=True)
    assert advance(new_call(X), Routed(Bridge(s, B, True)), T0).counterpart == X
    back = replace(s, last_counterpart=X)
    assert advance(new_call(B), Routed(Bridge(back, X, False)), T0).counterpart == ""


def test_a_call_asked_for_a_pin_waits_at_the_prompt() -> None:
    s = session(**PIN)
    step = advance(new_call(X), Routed(PromptPin(s)), T0)
    assert (step.call.state, step.call.session_uuid, step.call.pin_attempts) == (CallState.PIN, s.uuid, 0)
    assert names(step) == ["SessionFirstPartyAnswer"] and only(step).fields["To"] == ""


def test_a_rejected_or_played_call_ends_at_once_silently() -> None:
    prompt = session(unknown_caller_play="https://x/u.mp3")
    for decision in (Reject(UNKNOWN_CALLER), Reject(NO_SESSION), Play("https://x/u.mp3", prompt)):
        step = advance(new_call(X), Routed(decision), T0 + 2)
        call = step.call
        assert (call.state, call.ended, call.a_status) == (CallState.ENDED, T0 + 2, LegStatus.COMPLETED)
        assert (call.session_uuid, call.callee, call.duration) == (None, "", 0)
        assert step.events == ()


def test_a_session_without_callback_url_hears_nothing() -> None:
    quiet = session(callback_url="", recording_callback_url="", record=True)
    call = dialled(quiet)
    assert advance(new_call(), Routed(Bridge(quiet, B, True)), T0).events == ()
    assert leg(call, LegProgress.ANSWERED, T0 + 1, quiet).events == ()
    assert advance(call, HungUp(quiet), T0 + 9).events == ()
    assert (
        advance(call, Recorded(quiet, "https://media/r.wav"), T0 + 9).call.recording_url
        == "https://media/r.wav"
    )


# -- the PIN prompt --------------------------------------------------------------------------
def prompted(s: Session) -> Call:
    return advance(new_call(X), Routed(PromptPin(s)), T0).call


def test_the_right_pin_bridges_and_says_so() -> None:
    s = session(**PIN)
    step = advance(prompted(s), PinEntered(Bridge(s, B, True, "success")), T0 + 8)
    assert (step.call.state, step.call.callee, step.call.deadline) == (
        CallState.DIALLING, B, T0 + 8 + 630 + RECONCILE_GRACE,
    )  # fmt: skip
    event = only(step).fields
    assert (event["EventName"], event["PinAuthenticationStatus"], event["PinRetryCounter"]) == (
        "SessionPinAuthenticationStatus", "success", "0",
    )  # fmt: skip
    assert (event["From"], event["To"]) == (X[1:], B[1:])


def test_a_wrong_pin_is_counted_then_the_call_ends() -> None:
    s = session(**PIN)
    retry = advance(prompted(s), PinEntered(PromptPin(s, 1, after_wrong=True)), T0 + 8)
    assert (retry.call.state, retry.call.pin_attempts) == (CallState.PIN, 1)
    assert (only(retry).fields["PinAuthenticationStatus"], only(retry).fields["PinRetryCounter"]) == (
        "failed",
        "1",
    )
    final = advance(retry.call, PinEntered(Play("https://x/wrong.mp3", s)), T0 + 20)
    assert (final.call.state, final.call.ended, final.call.a_status) == (
        CallState.ENDED, T0 + 20, LegStatus.COMPLETED,
    )  # fmt: skip
    assert (only(final).fields["PinAuthenticationStatus"], only(final).fields["PinRetryCounter"]) == (
        "failed",
        "2",
    )


def test_the_same_wrong_pin_reported_twice_counts_once() -> None:
    s = session(**PIN)
    retry = advance(prompted(s), PinEntered(PromptPin(s, 1, after_wrong=True)), T0 + 8)
    assert advance(retry.call, PinEntered(PromptPin(s, 1, after_wrong=True)), T0 + 9) == Step(retry.call)


def test_a_pin_means_nothing_to_a_call_not_at_the_prompt() -> None:
    s = session(**PIN)
    for call in (new_call(X), dialled(s), advance(prompted(s), HungUp(s), T0 + 3).call):
        assert advance(call, PinEntered(Bridge(s, B, True, "success")), T0 + 9) == Step(call)


# -- the dialled party's leg -----------------------------------------------------------------
def test_the_dialled_leg_rings() -> None:
    step = leg(dialled(), LegProgress.RINGING, T0 + 1, leg_id="https://carrier/Call/b/")
    assert (step.call.b_status, step.call.b_leg, step.call.state) == (
        LegStatus.RINGING, "https://carrier/Call/b/", CallState.DIALLING,
    )  # fmt: skip
    assert names(step) == ["SessionSecondPartyRing"] and only(step).fields["To"] == B[1:]


def test_the_dialled_party_answers_and_recording_starts() -> None:
    step = leg(dialled(), LegProgress.ANSWERED, T0 + 5)
    call = step.call
    assert (call.state, call.answered, call.b_status) == (CallState.BRIDGED, T0 + 5, LegStatus.IN_PROGRESS)
    assert names(step) == ["SessionSecondPartyAnswer", "SessionRecordingInitiated"]
    recording = step.events[1]
    assert (recording.url, recording.fields["RecordingFormat"]) == (RECORDINGS, ".mp3")
    unrecorded = session()
    assert names(leg(dialled(unrecorded), LegProgress.ANSWERED, T0 + 5, unrecorded)) == [
        "SessionSecondPartyAnswer"
    ]


def test_the_dialled_party_hangs_up_after_talking() -> None:
    step = leg(talking(T0 + 5), LegProgress.ENDED, T0 + 53)
    call = step.call
    assert (call.b_status, call.billed, call.state) == (LegStatus.COMPLETED, 48, CallState.BRIDGED)
    fields = only(step).fields
    assert fields["EventName"] == "SessionSecondPartyHangup"
    assert (fields["Duration"], fields["BilledDuration"], fields["Amount"]) == ("53", "48", "0")
    assert (fields["PlivoHangupCause"], fields["PlivoHangupCauseCode"]) == ("NORMAL_CLEARING", "4000")


def test_a_busy_unanswered_or_failed_leg_is_no_answer() -> None:
    """Carriers' busy, no-answer, failed and cancelled all arrive as the leg's end before any answer."""
    for before in (dialled(), leg(dialled(), LegProgress.RINGING, T0 + 1).call):
        step = leg(before, LegProgress.ENDED, T0 + 31)
        assert (step.call.b_status, step.call.billed, step.call.answered) == (LegStatus.NO_ANSWER, 0, None)
        assert names(step) == ["SessionSecondPartyHangup"] and only(step).fields["BilledDuration"] == "0"


def test_the_leg_keeps_the_carriers_end_cause_and_the_first_one_only() -> None:
    busy = advance(dialled(), DialledLeg(S, LegProgress.ENDED, cause="USER_BUSY"), T0 + 3).call
    assert (busy.b_status, busy.b_cause) == (LegStatus.NO_ANSWER, "USER_BUSY")
    assert advance(busy, DialledLeg(S, LegProgress.ENDED, cause="NO_ANSWER"), T0 + 4) == Step(busy)
    over = advance(talking(), DialledLeg(S, LegProgress.ENDED, cause="completed"), T0 + 40).call
    assert (over.b_status, over.b_cause) == (LegStatus.COMPLETED, "completed")
    # Bounded: never a phone number, never more than a short word.
    for raw, kept in (("+14155550123", ""), ("486", "486"), ("X" * 60, "X" * 40), ("a<b>", "")):
        call = advance(dialled(), DialledLeg(S, LegProgress.ENDED, cause=raw), T0 + 3).call
        assert call.b_cause == kept
    # Only an end has a cause; the caller's hangup ends the leg without one.
    assert advance(dialled(), DialledLeg(S, LegProgress.RINGING, cause="ringing"), T0 + 1).call.b_cause == ""
    assert advance(dialled(), HungUp(S), T0 + 10).call.b_cause == ""


def test_a_later_report_names_the_leg_an_empty_one_keeps_it() -> None:
    call = leg(dialled(), LegProgress.RINGING, T0 + 1, leg_id="https://carrier/Call/b/").call
    assert leg(call, LegProgress.ANSWERED, T0 + 2).call.b_leg == "https://carrier/Call/b/"
    assert leg(call, LegProgress.ANSWERED, T0 + 2, leg_id="sip:b2").call.b_leg == "sip:b2"


def test_late_leg_reports_never_move_the_leg_back() -> None:
    answered = talking()
    assert leg(answered, LegProgress.RINGING, T0 + 9) == Step(answered)
    unanswered = leg(dialled(), LegProgress.ENDED, T0 + 31).call
    over = leg(talking(), LegProgress.ENDED, T0 + 40).call
    for ended in (unanswered, over):
        assert leg(ended, LegProgress.RINGING, T0 + 41) == Step(ended)
        assert leg(ended, LegProgress.ANSWERED, T0 + 41) == Step(ended)
        assert leg(ended, LegProgress.ENDED, T0 + 42) == Step(ended)


def test_a_repeated_leg_report_announces_nothing() -> None:
    answered = talking()
    assert leg(answered, LegProgress.ANSWERED, T0 + 6) == Step(answered)
    ringing = leg(dialled(), LegProgress.RINGING, T0 + 1).call
    assert leg(ringing, LegProgress.RINGING, T0 + 2) == Step(ringing)


def test_leg_reports_mean_nothing_before_dialling_or_after_the_end() -> None:
    s = session(**PIN)
    ended = advance(talking(), HungUp(S), T0 + 60).call
    for call, of in ((new_call(), S), (prompted(s), s), (ended, S)):
        for progress in LegProgress:
            assert leg(call, progress, T0 + 61, of, "https://carrier/Call/late/") == Step(call)


# -- the caller hangs up ---------------------------------------------------------------------
def test_the_caller_hangs_up_after_both_talked() -> None:
    before = leg(talking(T0 + 5), LegProgress.ENDED, T0 + 53).call
    step = advance(before, HungUp(S), T0 + 54)
    call = step.call
    assert (call.state, call.ended, call.duration) == (CallState.ENDED, T0 + 54, 54)
    assert (call.a_status, call.b_status, call.billed) == (LegStatus.COMPLETED, LegStatus.COMPLETED, 48)
    assert names(step) == ["SessionFirstPartyHangup", "SessionPartiesHangup"]
    for event in step.events:
        assert (event.fields["Duration"], event.fields["BilledDuration"]) == ("54", "48")
        assert (event.fields["From"], event.fields["To"]) == (A[1:], B[1:])


def test_the_caller_hanging_up_ends_the_dialled_leg_too() -> None:
    call = advance(talking(T0 + 5), HungUp(S), T0 + 65).call
    assert (call.b_status, call.billed) == (LegStatus.COMPLETED, 60)
    ringing = leg(dialled(), LegProgress.RINGING, T0 + 1, leg_id="https://carrier/Call/b/").call
    call = advance(ringing, HungUp(S), T0 + 10).call
    assert (call.b_status, call.billed, call.duration) == (LegStatus.NO_ANSWER, 0, 10)
    never_reported = advance(dialled(), HungUp(S), T0 + 10).call
    assert (never_reported.b_leg, never_reported.b_status) == ("", LegStatus.UNREPORTED)


def test_a_call_never_routed_to_a_party_ends_silently() -> None:
    s = session(**PIN)
    step = advance(prompted(s), HungUp(s), T0 + 12)
    assert (step.call.state, step.call.ended, step.call.duration) == (CallState.ENDED, T0 + 12, 12)
    assert step.events == ()


def test_a_call_whose_session_is_gone_ends_silently() -> None:
    step = advance(talking(), HungUp(None), T0 + 30)
    assert step.call.state is CallState.ENDED and step.events == ()


def test_a_second_hangup_changes_nothing() -> None:
    ended = advance(talking(), HungUp(S), T0 + 30).call
    assert advance(ended, HungUp(S), T0 + 31) == Step(ended)


# -- the recording ---------------------------------------------------------------------------
def test_the_recording_arrives_after_the_hangup() -> None:
    ended = advance(talking(T0 + 5), HungUp(S), T0 + 30).call
    step = advance(ended, Recorded(S, "https://media/r.wav", "r1", "25"), T0 + 32)
    assert step.call == replace(ended, recording_url="https://media/r.wav")
    event = only(step)
    assert event.url == RECORDINGS
    assert {
        k: event.fields[k] for k in ("EventName", "RecordingURL", "RecordingUUID", "RecordingDuration")
    } == {
        "EventName": "SessionRecordingCompleted",
        "RecordingURL": "https://media/r.wav",
        "RecordingUUID": "r1",
        "RecordingDuration": "25",
    }
    assert (event.fields["RecordingStartTime"], event.fields["RecordingEndTime"]) == (
        format_time(T0 + 5), format_time(T0 + 32),
    )  # fmt: skip


def test_a_recording_is_taken_once_and_only_with_a_url() -> None:
    call = talking()
    recorded = advance(call, Recorded(S, "https://media/r.wav"), T0 + 9).call
    assert advance(recorded, Recorded(S, "https://media/r.wav"), T0 + 10) == Step(recorded)
    assert advance(call, Recorded(S, ""), T0 + 9) == Step(call)
    gone = advance(call, Recorded(None, "https://media/r.wav"), T0 + 9)
    assert gone.call.recording_url == "https://media/r.wav" and gone.events == ()


# -- rules for every order of reports --------------------------------------------------------
PIN_SESSION = session(**PIN, record=True)
SINGLE = session(first="", create_session_with_single_party=True)
FIRST_DECISIONS = [
    Bridge(S, B, True),
    Bridge(PIN_SESSION, B, True, "AuthorizedCaller"),
    Bridge(SINGLE, B, True),
    PromptPin(PIN_SESSION),
    Play("https://x/u.mp3", session(unknown_caller_play="https://x/u.mp3")),
    Reject(UNKNOWN_CALLER),
]
PIN_DECISIONS = [
    Bridge(PIN_SESSION, A, False, "success"),
    PromptPin(PIN_SESSION, 1, after_wrong=True),
    PromptPin(PIN_SESSION, 2, after_wrong=True),
    Play("https://x/wrong.mp3", PIN_SESSION),
]
SESSIONS = st.sampled_from([S, PIN_SESSION])
LEGS = st.builds(
    DialledLeg, SESSIONS, st.sampled_from(LegProgress), st.sampled_from(["", "sip:b1", "sip:b2"])
)
REPORTS: st.SearchStrategy[Report] = st.one_of(
    LEGS,
    LEGS,
    st.builds(PinEntered, st.sampled_from(PIN_DECISIONS)),
    st.builds(Routed, st.sampled_from(FIRST_DECISIONS + PIN_DECISIONS)),
    st.builds(PinEntered, st.sampled_from(FIRST_DECISIONS)),
    st.builds(HungUp, st.one_of(st.none(), SESSIONS)),
    st.builds(
        Recorded, st.one_of(st.none(), SESSIONS), st.sampled_from(["", "https://media/1", "https://media/2"])
    ),
)
# A new call's story: how it was routed, then what the carrier reported, each some seconds later.
STORIES = st.tuples(
    st.sampled_from(FIRST_DECISIONS), st.lists(st.tuples(REPORTS, st.integers(0, 120)), max_size=10)
)
ONCE = {
    "SessionFirstPartyAnswer",
    "SessionSecondPartyRing",
    "SessionSecondPartyAnswer",
    "SessionSecondPartyHangup",
    "SessionFirstPartyHangup",
    "SessionPartiesHangup",
    "SessionRecordingInitiated",
}
MOMENTS = ["SessionSecondPartyRing", "SessionSecondPartyAnswer", "SessionSecondPartyHangup"]
RANK = {
    LegStatus.UNREPORTED: 0,
    LegStatus.RINGING: 1,
    LegStatus.IN_PROGRESS: 2,
    LegStatus.COMPLETED: 3,
    LegStatus.NO_ANSWER: 3,
}
Story = tuple[Decision, list[tuple[Report, int]]]


def play(story: Story) -> list[tuple[Call, Report, int, Step]]:
    """The story's reports applied in turn to a new call: (call, report, when, step) each."""
    decision, later = story
    call, now, steps = new_call(), T0, []
    for report, wait in [(Routed(decision), 0), *later]:
        now += wait
        step = advance(call, report, now)
        steps.append((call, report, now, step))
        call = step.call
    return steps


@given(STORIES, st.integers(0, 60))
def test_the_same_report_twice_changes_nothing_the_second_time(story: Story, wait: int) -> None:
    for _, report, now, step in play(story):
        assert advance(step.call, report, now + wait) == Step(step.call)


@given(STORIES, REPORTS)
def test_only_its_recording_moves_a_finished_call(story: Story, report: Report) -> None:
    call = advance(play(story)[-1][3].call, HungUp(S), T0 + 10_000).call
    step = advance(call, report, T0 + 10_001)
    if isinstance(report, Recorded):
        assert step.call == replace(call, recording_url=report.url or call.recording_url)
    else:
        assert step == Step(call)


@given(STORIES)
def test_events_come_only_with_a_change(story: Story) -> None:
    for before, _, _, step in play(story):
        assert step.call != before or step == Step(before)


LEG_STORIES = st.tuples(
    st.sampled_from(FIRST_DECISIONS[:3]),
    st.lists(st.tuples(st.builds(DialledLeg, st.just(S), st.sampled_from(LegProgress)), st.integers(0, 30))),
)


@given(st.one_of(LEG_STORIES, STORIES))
def test_in_any_order_legs_only_move_forward_and_each_moment_is_announced_once(story: Story) -> None:
    announced: list[str] = []
    for before, _, now, step in play(story):
        after = step.call
        assert RANK[after.b_status] >= RANK[before.b_status]
        assert RANK[after.a_status] >= RANK[before.a_status]
        if before.state is CallState.ENDED:
            assert after.state is CallState.ENDED and after.ended == before.ended
        if after.answered is not None:
            assert before.answered in (None, after.answered) and after.answered <= now
        announced += names(step)
    assert all(announced.count(name) <= 1 for name in ONCE)
    moments = [name for name in announced if name in MOMENTS]
    assert moments == sorted(moments, key=MOMENTS.index)
    if "SessionPartiesHangup" in announced:
        after_end = announced[announced.index("SessionPartiesHangup") + 1 :]
        assert set(after_end) <= {"SessionRecordingCompleted"}
