"""The pure parts of what the operator reads back: what a recorded call says (outcome, why a
refused one reached nobody), where an event stands in its delivery, which pool runs out first,
a series' step points, and the webhook URLs to set at a carrier."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from maskline.domain.calls import Call, CallState, Carrier, CarrierKind
from maskline.domain.delivery import DeliveryState, delivery_state
from maskline.domain.lookup import NOT_RECORDED, Outcome, Refusal, assemble, epoch, outcome, refusal
from maskline.domain.model import Session
from maskline.domain.params import SessionSettings
from maskline.domain.pool_status import PoolStatus, running_out_first
from maskline.domain.series import SeriesPoint, fill, steps
from maskline.http.carrier_setup import carrier_webhooks
from maskline.http.routes import TABLE
from maskline.telephony.xml import webhook_urls

T = 1_767_225_600
A, B, C = "+14152000001", "+14152000002", "+14152000003"
NUMBER = "+16285550000"


def session(first: str, second: str, created: int, expiry: int, uuid: str = "s1") -> Session:
    return Session(uuid, "MA" + "0" * 18, "MA" + "0" * 18, first, second, NUMBER, created, created, expiry,
                   SessionSettings(call_time_limit=600, ring_timeout=30))  # fmt: skip


def call(**fields: object) -> Call:
    values: dict[str, object] = {
        "call_id": "c1",
        "started": T,
        "state": CallState.ENDED,
        "ended": T,
        **fields,
    }
    return Call("MA" + "0" * 18, virtual_number=NUMBER, caller=A, **values)  # type: ignore[arg-type]


def test_the_outcome_of_a_call_is_read_from_its_record() -> None:
    assert outcome(call(callee=B, session_uuid="s1", answered=T + 5)) is Outcome.CONNECTED
    assert outcome(call(callee=B, session_uuid="s1", b_cause="USER_BUSY")) is Outcome.NOT_ANSWERED
    assert outcome(call(callee=B, session_uuid="s1", state=CallState.DIALLING)) is Outcome.RINGING
    assert outcome(call(callee=B, session_uuid="s1", state=CallState.BRIDGED)) is Outcome.TALKING
    assert outcome(call(session_uuid="s1", state=CallState.PIN)) is Outcome.AT_PIN_PROMPT
    assert outcome(call(session_uuid="s1")) is Outcome.PIN_FAILED
    assert outcome(call()) is Outcome.REFUSED


def test_why_a_refused_call_reached_nobody() -> None:
    refused = call()
    assert refusal(refused, []) is Refusal.UNKNOWN_CALLER
    assert refusal(refused, [session(A, B, T - 600, T - 60)]) is Refusal.EXPIRED
    assert refusal(refused, [session(A, "", T - 600, T + 60)]) is Refusal.NO_COUNTERPART
    assert refusal(refused, [session(A, B, T - 600, T + 60)]) is Refusal.OUT_OF_SCOPE
    assert refusal(refused, [session(A, B, T + 10, T + 600)]) is Refusal.UNKNOWN_CALLER  # not yet


def test_a_lookup_puts_the_nearest_call_first_and_says_when_none_was_recorded() -> None:
    calls = [call(call_id="early", started=T - 200), call(call_id="late", started=T + 30, callee=B,
             session_uuid="s1", answered=T + 35)]  # fmt: skip
    sessions = [session(A, B, T - 900, T + 900), session(A, C, T - 9000, T - 8000, "old")]
    found = assemble(NUMBER, A, T, 300, calls, sessions, [])
    assert [(f.call.call_id, f.offset, f.outcome) for f in found.calls] == [
        ("late", 30, Outcome.CONNECTED),
        ("early", -200, Outcome.REFUSED),
    ]
    assert found.calls[1].refusal is Refusal.OUT_OF_SCOPE and found.calls[0].refusal is None
    assert [(p.session.uuid, p.counterpart, p.live_at) for p in found.sessions] == [("s1", B, True)]
    assert found.summary == ""
    nothing = assemble(NUMBER, A, T, 300, [], sessions, [])
    assert nothing.summary == NOT_RECORDED and (nothing.since, nothing.until) == (T - 300, T + 300)


def test_a_time_is_epoch_seconds_or_a_datetime() -> None:
    moment = datetime.fromtimestamp(T, UTC)
    assert epoch(T) == epoch(T + 0.9) == epoch(moment) == epoch(moment.replace(tzinfo=None)) == T
    assert epoch(moment.astimezone(timezone(timedelta(hours=2)))) == T


@pytest.mark.parametrize(
    ("pending", "attempts", "delivered", "state"),
    [
        (True, 0, None, DeliveryState.WAITING),
        (True, 2, None, DeliveryState.RETRYING),
        (False, 7, None, DeliveryState.GIVEN_UP),
        (False, 1, None, DeliveryState.GIVEN_UP),  # refused for good at the first attempt
        (False, 3, T, DeliveryState.DELIVERED),
    ],
)
def test_an_events_delivery_state(
    pending: bool, attempts: int, delivered: int | None, state: DeliveryState
) -> None:
    assert delivery_state(pending, attempts, delivered) is state


def pool(name: str, in_service: int, needed: int) -> PoolStatus:
    return PoolStatus(name, "US", in_service, 0, 0, 0, 0, 0, needed, 0, 0)


def test_the_pool_with_the_least_room_to_grow_runs_out_first() -> None:
    big, small = pool("big", 100, 90), pool("small", 10, 8)
    short, idle, idle_small = pool("short", 5, 6), pool("idle", 20, 0), pool("idle2", 3, 0)
    ordered = running_out_first([idle, small, big, short, idle_small])
    assert [p.pool for p in ordered] == ["short", "big", "small", "idle2", "idle"]
    assert (short.headroom, short.spare, idle.spare, big.rule_live) == (-1, -1 / 6, None, 0)
    assert replace(big, delta_peak=3).rule_live == 5


def test_step_points_cover_the_window_and_fill_the_gaps() -> None:
    assert steps(0, 10, 5) == 3 and steps(0, 9, 5) == 2 and steps(10, 0, 5) == 0
    with pytest.raises(ValueError):
        steps(0, 10, 0)
    assert fill(100, 3, 10, {1: (4, 2)}) == [
        SeriesPoint(100, 0, 0),
        SeriesPoint(110, 4, 2),
        SeriesPoint(120, 0, 0),
    ]


@pytest.mark.parametrize("kind", [CarrierKind.PLIVO, CarrierKind.TWILIO])
def test_the_webhook_urls_come_from_the_routing_table_and_match_what_the_cli_prints(
    kind: CarrierKind,
) -> None:
    carrier = Carrier("MA" + "0" * 18, kind, "token", "id", "https://mask.example.com/")
    settings = carrier_webhooks(carrier)
    assert {s.name: s.url for s in settings} == webhook_urls(carrier)
    for setting in settings:
        assert setting.method == "POST"
        path = setting.url.removeprefix("https://mask.example.com")
        route, parameters = TABLE.find(path)  # type: ignore[misc]
        assert route.path == "/webhooks/{carrier}/{auth_id}/{action}"
        assert parameters["carrier"] == kind.value and parameters["auth_id"] == carrier.account_id
    if kind is CarrierKind.PLIVO:
        assert [s.url for s in settings] == [
            "https://mask.example.com/webhooks/plivo/MA000000000000000000/answer",
            "https://mask.example.com/webhooks/plivo/MA000000000000000000/hangup",
            "https://mask.example.com/webhooks/plivo/MA000000000000000000/message",
        ]
    else:
        assert [s.name for s in settings] == ["voice_url", "status_callback", "sms_url"]


def test_a_sip_trunk_has_no_webhooks_to_set() -> None:
    assert carrier_webhooks(Carrier("MA" + "0" * 18, CarrierKind.SIP, "", "", "")) == ()
