"""``/metrics``: the capacity plan of every pool as Prometheus gauges, for the operator only."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.requests import Request

from maskline.http.metrics import Metrics
from tests.databases import Databases
from tests.support import FakeClock, ServerThread, Tenant, fresh_number

TOKEN = "metrics-token-for-tests"


def pool_gauges(text: str, pool: str) -> dict[str, float]:
    """The ``maskline_pool_*`` gauges of one pool, by name."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("maskline_pool_") and sample.labels.get("pool") == pool:
                assert sample.labels["country"] == "US"
                found[sample.name.removeprefix("maskline_pool_")] = sample.value
    return found


def create(server: ServerThread, tenant: Tenant, first: str, second: str) -> None:
    reply = httpx.post(
        f"{server.url}/v1/Account/{tenant.auth_id}/Masking/Session/",
        json={"first_party": first, "second_party": second},
        auth=(tenant.auth_id, tenant.auth_token),
        trust_env=False,
    )
    assert reply.status_code == 201, reply.text


def test_pool_gauges_follow_the_traffic(databases: Databases) -> None:
    clock = FakeClock()
    server = ServerThread(databases.new(), clock, metrics_token=TOKEN, plan_refresh=60).start()
    try:
        tenant = server.tenant(numbers=4)
        a, b, c, d = (fresh_number() for _ in range(4))
        create(server, tenant, a, b)
        create(server, tenant, a, c)
        scrape = lambda: httpx.get(  # noqa: E731
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False
        )
        reply = scrape()
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/plain; version=")
        assert pool_gauges(reply.text, tenant.auth_id) == {
            "numbers_in_service": 4,
            "numbers_in_use": 2,
            "delta": 2,
            "delta_peak": 2,
            "delta_held_peak": 2,
            "numbers_needed": 2,
            "numbers_rule": 3,
            "headroom": 2,
        }
        # A third session for the same party: the plan is made again once it is stale.
        create(server, tenant, a, d)
        assert pool_gauges(scrape().text, tenant.auth_id)["delta"] == 2  # still the cached plan
        clock.advance(60)
        deadline = time.monotonic() + 10
        while (gauges := pool_gauges(scrape().text, tenant.auth_id))["delta"] != 3:
            assert time.monotonic() < deadline, gauges
            time.sleep(0.05)
        assert (gauges["numbers_needed"], gauges["numbers_rule"], gauges["headroom"]) == (3, 5, 1)
        # The operator's token, and nothing else, opens the endpoint.
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            refused = httpx.get(f"{server.url}/metrics", headers=headers, trust_env=False)
            assert refused.status_code == 403
            assert "maskline_pool" not in refused.text
    finally:
        server.stop()


def test_without_a_token_only_loopback_clients_are_answered() -> None:
    metrics = Metrics(lambda: None, token="")  # type: ignore[arg-type,return-value]

    def request(host: str) -> Request:
        scope = {"type": "http", "method": "GET", "path": "/metrics", "headers": [], "client": (host, 5)}
        return Request(scope)

    assert metrics._allowed(request("127.0.0.1")) and metrics._allowed(request("::1"))
    assert not metrics._allowed(request("10.0.0.5")) and not metrics._allowed(request("192.0.2.1"))


def test_flagged_numbers_per_pool_and_a_series_for_each_flagged_number_only(databases: Databases) -> None:
    from maskline.domain.calls import Call, CallState, LegStatus
    from maskline.domain.ports import Store

    clock = FakeClock()
    server = ServerThread(databases.new(), clock, metrics_token=TOKEN).start()
    try:
        tenant = server.tenant(numbers=5)
        sick = tenant.numbers[2]
        now = int(clock())
        calls = [
            Call(
                tenant.auth_id,
                f"call-{number}-{i}",
                number,
                "+14152040001",
                now - 3600 - i,
                CallState.ENDED,
                callee="+14152040002",
                answered=now - 3600 if answers else None,
                ended=now - 3000,
                b_status=LegStatus.COMPLETED if answers else LegStatus.NO_ANSWER,
                billed=600 if answers else 0,
                b_cause="" if answers else "USER_BUSY",
            )  # fmt: skip
            for number in tenant.numbers
            for i in range(50)
            for answers in [i < (10 if number == sick else 45)]
        ]

        async def record(store: Store) -> None:
            for call in calls:
                await store.calls.save_call(call, None)

        server._with_store(record)
        reply = httpx.get(
            f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False
        )
        samples = [s for f in text_string_to_metric_families(reply.text) for s in f.samples]
        pools = {
            (s.labels["pool"], s.labels["country"]): s.value
            for s in samples
            if s.name == "maskline_health_flagged_numbers"
        }
        assert pools == {(tenant.auth_id, "US"): 1}
        flagged = {s.labels["number"]: s.value for s in samples if s.name == "maskline_health_number_flagged"}
        assert flagged == {sick: 1}  # the four healthy numbers have no series
        rates = {
            s.labels["number"]: s.value for s in samples if s.name == "maskline_health_number_answer_rate"
        }
        assert rates == {sick: 0.2}
    finally:
        server.stop()
