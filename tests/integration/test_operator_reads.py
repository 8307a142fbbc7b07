"""What the operator reads back, on both databases, from data made through the services: who
called whom near a time, a session's calls, texts and event deliveries, the pools at a glance and
their history as a series."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from maskline.domain import errors
from maskline.domain.call_transitions import LegProgress
from maskline.domain.calls import Carrier, CarrierKind
from maskline.domain.delivery import DeliveryState
from maskline.domain.events import Outgoing
from maskline.domain.lookup import NOT_RECORDED, Outcome, Refusal
from maskline.domain.model import Account, NumberState
from maskline.domain.routing import Bridge, Reject
from maskline.domain.series import HOUR, SeriesPoint
from maskline.http.carrier_setup import carrier_setup
from maskline.service.calls import CallService
from maskline.service.capacity import CapacityPlanner, plan_pools
from maskline.service.events import EventDeliverer
from maskline.service.health import HealthMonitor
from maskline.service.lookup import who_called
from maskline.service.messages import MessageService
from maskline.service.pool_status import PoolFigures
from maskline.service.timeline import Timelines
from maskline.telemetry import COUNTERS
from tests.integration.harness import MAIN, Harness
from tests.integration.test_allocation_rules import GB_NUMBER, GB_PARTY, PARTIES, US

SUB_ID = "SA" + "1" * 18
A, B, C, D, E, STRANGER = PARTIES[:6]


class Line:
    """A carrier connected to the main account, and the call and message services behind its
    webhooks."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.calls = CallService(h.store.calls, h.store.sessions, h.store.numbers, h.store.accounts, h.clock)
        self.texts = MessageService(h.store.messages, h.store.sessions, h.clock, accounts=h.store.accounts)
        h.run(
            self.calls.set_carrier(
                MAIN, CarrierKind.PLIVO, "carrier-token", "https://mask.example.com", "MAPLIVO"
            )
        )
        carrier = h.run(self.calls.carrier(MAIN.auth_id))
        assert carrier is not None
        self.carrier: Carrier = carrier

    def call(
        self, call_id: str, caller: str, number: str, answered_after: int | None = 5, talk: int = 30
    ) -> Any:
        """A call as the webhooks drive it: answered by maskline, the dialled party answering
        after ``answered_after`` seconds (None: never), then the caller hanging up."""
        h = self.h
        decision = h.run(self.calls.answer(self.carrier, call_id, caller, number))
        if isinstance(decision, Bridge):
            if answered_after is not None:
                h.clock.advance(answered_after)
                h.run(self.calls.leg(self.carrier, call_id, call_id + "-b", LegProgress.ANSWERED))
                h.clock.advance(talk)
            else:
                h.clock.advance(30)
                h.run(self.calls.leg(self.carrier, call_id, call_id + "-b", LegProgress.ENDED, "NO_ANSWER"))
            h.run(self.calls.hangup(self.carrier, call_id))
        return decision

    def text(self, message_id: str, sender: str, number: str) -> None:
        self.h.run(self.texts.receive(self.carrier, sender, number, "hello", message_id=message_id))


def lookup(h: Harness, number: str, caller: str, at: Any, account: Account = MAIN, **options: Any) -> Any:
    return h.run(
        who_called(h.store.calls, h.store.sessions, h.store.messages, account, number, caller, at, **options)
    )


def test_who_called_whom_a_connected_call_a_refused_one_and_none(harness: Any) -> None:
    h = harness(US[:3])
    line = Line(h)
    ab = h.create(A, B, session_expiry=3600)
    number = ab.virtual_number
    h.clock.advance(60)
    asked = int(h.clock())
    assert isinstance(line.call("c-ab", A, number), Bridge)
    line.text("m-1", A, number)
    h.clock.advance(100)
    assert isinstance(line.call("c-stranger", STRANGER, number), Reject)

    found = lookup(h, number, A[1:], asked + 20)  # the caller as a person might type it
    (connected,) = found.calls
    assert connected.outcome is Outcome.CONNECTED and connected.refusal is None and connected.offset == -20
    assert (connected.call.session_uuid, connected.call.callee) == (ab.uuid, B)
    assert (connected.call.answered, connected.call.ended) == (asked + 5, asked + 35)
    assert connected.call.duration == 35 and connected.call.billed == 30 and connected.call.legs == 2
    assert [(p.session.uuid, p.counterpart, p.live_at) for p in found.sessions] == [(ab.uuid, B, True)]
    assert [(m.message.message_id, m.message.session_uuid) for m in found.messages] == [("m-1", ab.uuid)]
    assert found.summary == "" and not connected.received and not found.messages[0].received

    # Who called B from the number: the same call and text, asked by the party called.
    called = lookup(h, number, B, asked + 20)
    assert [(c.call.call_id, c.call.caller, c.received) for c in called.calls] == [("c-ab", A, True)]
    assert [(m.message.message_id, m.received) for m in called.messages] == [("m-1", True)]
    assert [(p.session.uuid, p.counterpart) for p in called.sessions] == [(ab.uuid, A)]

    # Refused calls are recorded (no session, no callee); the sessions tell why.
    (refused,) = lookup(h, number, STRANGER, datetime.fromtimestamp(asked + 135, UTC)).calls
    assert refused.outcome is Outcome.REFUSED and refused.refusal is Refusal.UNKNOWN_CALLER
    assert (refused.call.session_uuid, refused.call.callee, refused.call.legs) == (None, "", 1)

    # Nothing recorded then: say so, and whom the caller would have reached.
    h.clock.advance(1000)
    quiet = lookup(h, number, B, int(h.clock()))
    assert quiet.calls == () and quiet.summary == NOT_RECORDED and quiet.messages == ()
    assert [(p.session.uuid, p.counterpart, p.live_at) for p in quiet.sessions] == [(ab.uuid, A, True)]

    # After the session ended, the caller is refused because it ended.
    h.clock.advance(3600)
    assert isinstance(line.call("c-late", A, number), Reject)
    (late,) = lookup(h, number, A, int(h.clock()), tolerance=60).calls
    assert late.refusal is Refusal.EXPIRED
    assert lookup(h, number, A, int(h.clock()), tolerance=60).sessions == ()  # ended long before

    with pytest.raises(errors.InvalidNumber):
        lookup(h, "not a number", A, asked)


def test_a_subaccount_sees_only_its_own_calls_and_its_main_account_sees_them_too(harness: Any) -> None:
    h = harness(US[:2])
    line = Line(h)
    sub = h.subaccount(SUB_ID)
    h.add([US[5]], subaccount=sub.auth_id)
    mine = h.create(C, D, account=sub, session_expiry=3600)
    theirs = h.create(A, B, session_expiry=3600)
    at = int(h.clock())
    line.call("c-sub", C, mine.virtual_number, answered_after=None)
    line.call("c-main", A, theirs.virtual_number)

    (seen,) = lookup(h, mine.virtual_number, C, at, account=sub).calls
    assert seen.outcome is Outcome.NOT_ANSWERED and seen.call.b_cause == "NO_ANSWER"
    assert lookup(h, mine.virtual_number, C, at).calls[0].call.call_id == "c-sub"  # the main account
    hidden = lookup(h, theirs.virtual_number, A, at, account=sub)
    assert hidden.calls == () and hidden.sessions == ()


def test_a_sessions_calls_texts_and_event_deliveries(harness: Any) -> None:
    h = harness(US[:2])
    line = Line(h)
    ab = h.create(A, B, session_expiry=3600, callback_url="https://hooks.example.com/maskline")
    timelines = Timelines(h.store.sessions, h.store.calls, h.store.messages, h.store.outbox)
    assert h.run(timelines.of(MAIN, ab.uuid)).events == ()
    line.call("c-1", A, ab.virtual_number)
    h.clock.advance(60)
    line.call("c-2", B, ab.virtual_number, answered_after=None)
    line.text("m-1", B, ab.virtual_number)

    story = h.run(timelines.of(MAIN, ab.uuid))
    assert story.session.uuid == ab.uuid
    assert [(c.call_id, c.caller, c.callee) for c in story.calls] == [("c-1", A, B), ("c-2", B, A)]
    assert [m.message_id for m in story.messages] == ["m-1"]
    assert {e.state for e in story.events} == {DeliveryState.WAITING}
    assert [e.sequence for e in story.events] == list(range(1, len(story.events) + 1))
    assert (
        story.events[0].name == "SessionFirstPartyAnswer"
        and story.events[0].next_attempt == story.events[0].created
    )

    # Delivered, refused for good, delivered, failing for now: as the deliverer records them.
    answers = {"SessionFirstPartyAnswer": ("", False), "SessionSecondPartyAnswer": ("HTTP 410", False),
               "SessionFirstPartyHangup": ("", False)}  # fmt: skip

    class Receiver:
        async def send(self, event: Outgoing, signing_token: str | None) -> tuple[str, bool]:
            return answers.get(str(event.fields["EventName"]), ("timed out", True))

    deliverer = EventDeliverer(h.store.outbox, h.store.accounts, h.clock, Receiver(), COUNTERS)

    async def deliver() -> None:
        for _ in range(2):  # the events after a failed one come back for the second run
            await deliverer.deliver_due()
            await deliverer.wait_idle()

    h.run(deliver())
    now = int(h.clock())
    first_call = h.run(timelines.of(MAIN, ab.uuid)).events[:4]
    assert [(e.name, e.state, e.attempts) for e in first_call] == [
        ("SessionFirstPartyAnswer", DeliveryState.DELIVERED, 1),
        ("SessionSecondPartyAnswer", DeliveryState.GIVEN_UP, 1),
        ("SessionFirstPartyHangup", DeliveryState.DELIVERED, 1),
        ("SessionPartiesHangup", DeliveryState.RETRYING, 1),
    ]
    assert first_call[0].delivered_at == now and first_call[0].next_attempt is None
    assert first_call[1].last_error == "HTTP 410" and first_call[1].next_attempt is None
    assert first_call[3].next_attempt == now + 5 and first_call[3].last_error == "timed out"
    assert all(e.url == "https://hooks.example.com/maskline" for e in first_call)

    sub = h.subaccount(SUB_ID)
    with pytest.raises(errors.SessionNotFound):
        h.run(timelines.of(sub, ab.uuid))


def figures(h: Harness, **history: int) -> PoolFigures:
    """The pools' figures as the console's page reads them, over the harness's store."""
    planner = CapacityPlanner(h.store.sessions, h.store.numbers, h.clock, h.config.policy, COUNTERS)
    health = HealthMonitor(h.store.calls, h.clock, COUNTERS)
    return PoolFigures(h.store.sessions, h.store.numbers, planner, health, h.clock, COUNTERS, **history)


def test_the_pools_at_a_glance_are_the_plans_figures_with_their_numbers(harness: Any) -> None:
    h = harness(US[:4])
    sub = h.subaccount(SUB_ID)
    h.add([US[5], US[6], US[7]], subaccount=sub.auth_id)
    h.add([GB_NUMBER])
    h.create(A, B, session_expiry=3600)
    h.create(A, C, session_expiry=3600)  # A's second session: Δ is 2
    h.create(D, E, session_expiry=3600)
    h.create(C, D, account=sub, session_expiry=3600)
    h.create(A, D, account=sub, session_expiry=3600)
    h.create(GB_PARTY, A, session_expiry=3600)
    h.run(h.numbers.retire(MAIN, [US[1]]))  # A's session with C still lives on it
    h.run(h.numbers.retire(MAIN, [US[2], US[3]]))  # nothing on them: not listed
    now = int(h.clock())

    kept = figures(h)
    pools = h.run(kept.overview(MAIN)).figure
    plan = {
        (r.pool, r.country): r
        for r in h.run(
            plan_pools(h.store.sessions, h.store.numbers, MAIN.auth_id, now, 86400, h.config.policy)
        )
    }
    assert len(pools) == len(plan) == 3
    for p in pools:
        row = plan[p.pool, p.country]
        for figure in (
            "in_service",
            "in_use",
            "delta_now",
            "delta_peak",
            "held_peak",
            "needed",
            "rule",
            "sessions",
        ):
            assert getattr(p, figure) == getattr(row, figure), figure
        assert p.headroom == row.headroom
    # The main US pool is short already (1 number for 2 needed), the GB one has no room left
    # (1 for 1), the subaccount's has some (3 for 2).
    assert [(p.pool, p.country) for p in pools] == [
        (MAIN.auth_id, "US"),
        (MAIN.auth_id, "GB"),
        (SUB_ID, "US"),
    ]
    us = pools[0]
    assert (us.in_service, us.live_sessions, us.delta_now, us.needed, us.headroom) == (1, 3, 2, 2, -1)
    assert [(n.number, n.state, n.live_sessions) for n in us.numbers] == [
        (US[0], NumberState.IN_SERVICE, 2),
        (US[1], NumberState.RETIRED, 1),
    ]
    assert us.numbers[0].health is not None and not us.numbers[0].flagged
    assert us.numbers[1].health is None  # retired: not judged

    (own,) = h.run(kept.overview(sub)).figure
    assert own == pools[2] and (own.in_service, own.needed, own.spare) == (3, 2, 0.5)


def brute_series(h: Harness, pool: str, since: int, until: int, step: int) -> list[SeriesPoint]:
    rows = h.query(
        "SELECT s.created, s.expiry, s.first_party, s.second_party FROM sessions s"
        " JOIN numbers n ON n.number = s.virtual_number WHERE n.pool_id = ? AND n.country = 'US'",
        pool,
    )
    points = []
    for t in range(since, until + 1, step):
        live = [r for r in rows if r[0] <= t < r[1]]
        parties = Counter(p for r in live for p in r[2:] if p)
        points.append(SeriesPoint(t, len(live), max(parties.values(), default=0)))
    return points


def test_the_history_series_counts_live_sessions_and_delta_at_each_step(harness: Any) -> None:
    h = harness(US[:6])
    sub = h.subaccount(SUB_ID)
    h.add([US[7]], subaccount=sub.auth_id)
    start = int(h.clock())
    for i in range(40):  # sessions of many lengths, some overlapping, some ended early
        first, second = PARTIES[i % 5], PARTIES[5 + i % 7]
        single = {} if i % 6 else {"create_session_with_single_party": True}
        made = h.create(first, second if i % 6 else "", session_expiry=1800 + 1800 * (i % 5), **single)
        if i % 4 == 0:
            h.clock.advance(200)
            h.expire(made)
        h.clock.advance(20 * 60 + i)
    h.create(A, B, account=sub, session_expiry=7200)  # another pool: not counted
    now = int(h.clock())

    series = h.run(figures(h, days=1, step=HOUR // 4).history(MAIN, MAIN.auth_id, "US")).figure
    since = now - 86400
    assert series == brute_series(h, MAIN.auth_id, since, now, HOUR // 4)
    assert len(series) == 97 and max(p.live for p in series) > 1 and max(p.delta for p in series) > 1
    assert all(p.live == 0 for p in series if p.at < start)
    # A subaccount sees its own pool's history, never another's.
    hourly = figures(h, days=1)
    assert h.run(hourly.history(sub, MAIN.auth_id, "US")).figure == []
    own = h.run(hourly.history(sub, SUB_ID, "US")).figure
    assert own == brute_series(h, SUB_ID, since, now, HOUR) and own[-1].live == 1


def test_the_carrier_of_an_account_and_the_urls_to_set_there(harness: Any) -> None:
    h = harness(US[:1])
    assert h.run(carrier_setup(h.store.accounts, MAIN)) is None
    Line(h)
    sub = h.subaccount(SUB_ID)
    for account in (MAIN, sub):
        setup = h.run(carrier_setup(h.store.accounts, account))
        assert setup is not None
        assert (setup.account_id, setup.kind, setup.public_url) == (
            MAIN.auth_id,
            CarrierKind.PLIVO,
            "https://mask.example.com",
        )
        assert setup.inherited is (account is sub)
        assert [w.url for w in setup.webhooks][
            0
        ] == f"https://mask.example.com/webhooks/plivo/{MAIN.auth_id}/answer"


def test_the_number_actions_are_scoped_and_answer_plain_records(harness: Any) -> None:
    h = harness(US[:2])
    sub = h.subaccount(SUB_ID)
    ab = h.create(A, B, session_expiry=3600)
    added = h.run(h.numbers.add(MAIN, [US[3]]))
    assert [(n.number, n.state) for n in added] == [(US[3], NumberState.IN_SERVICE)]
    (moves,) = h.run(h.numbers.replace(MAIN, [ab.virtual_number], h.sessions))
    assert moves.number == ab.virtual_number and [s.uuid for s in moves.moved] == [ab.uuid]
    assert h.run(h.numbers.retire(MAIN, [US[3]])) == (US[3],)
    for action in (lambda: h.numbers.add(sub, [US[4]]), lambda: h.numbers.retire(sub, [US[1]])):
        with pytest.raises(errors.ForbiddenForSubaccount):
            h.run(action())
