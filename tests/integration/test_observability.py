"""What the running server tells its operator: health, readiness, metrics, and JSON logs with a
request id in which phone numbers are masked."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from maskline import telemetry, version
from maskline.http.metrics import Metrics
from maskline.http.routes import route_of
from maskline.telemetry import JsonFormatter, mask_phones, request_id
from tests.support import ServerProcess, maskline

AUTH_ID, TOKEN = "MA" + "O" * 18, "observability-token"
SESSION = f"/v1/Account/{AUTH_ID}/Masking/Session/"
POOL = [f"+1628561{i:04d}" for i in range(8)]
OTHER = "+14155559999"


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def setup_account(url: str) -> None:
    maskline("account", "create", "--auth-id", AUTH_ID, "--auth-token", TOKEN, database=url)
    maskline("number", "add", *POOL, "--account", AUTH_ID, database=url)


def test_health_metrics_and_json_logs(database: str) -> None:
    setup_account(database)
    server = ServerProcess(database)
    try:
        with httpx.Client(base_url=server.url, auth=(AUTH_ID, TOKEN), trust_env=False) as client:
            assert client.get("/healthz").json() == {"status": "ok", "version": version()}
            assert client.get("/readyz").json() == {"status": "ok"}
            created = client.post(
                SESSION,
                json={"first_party": "+14155550161", "second_party": "+14155550162"},
                headers={"X-Request-Id": "req-42"},
            )
            assert created.status_code == 201 and created.headers["x-request-id"] == "req-42"
            listed = client.get(SESSION, params={"first_party": "+14155550161"})
            assert listed.status_code == 200
            assert re.fullmatch(r"[0-9a-f]{32}", listed.headers["x-request-id"])  # made up when not sent
            odd = client.get(SESSION, headers={"X-Request-Id": "no spaces or quotes'"})
            assert odd.headers["x-request-id"] != "no spaces or quotes'"
            assert client.post(SESSION, json={"first_party": "+1415555016"}).status_code == 400
            scraped = samples(client.get("/metrics").text)
    finally:
        output = server.stop()
    route = frozenset({("route", "/v1/Account/{auth_id}/Masking/Session/"), ("method", "POST")})
    assert scraped["maskline_http_requests_total", route | {("status", "201")}] == 1
    assert scraped["maskline_http_requests_total", route | {("status", "400")}] == 1
    assert scraped["maskline_http_request_duration_seconds_count", route] == 2
    assert scraped["maskline_sessions_created_total", frozenset()] == 1
    assert scraped["maskline_sessions_live", frozenset()] == 1
    assert scraped["maskline_events_backlog", frozenset()] == 0
    pool = frozenset({("pool", AUTH_ID), ("country", "US")})
    assert scraped["maskline_pool_numbers_in_service", pool] == len(POOL)
    assert scraped["maskline_pool_numbers_in_use", pool] == 1

    logged = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert logged and all({"time", "level", "logger", "message"} <= entry.keys() for entry in logged)
    access = [e for e in logged if e["logger"] == "maskline.access"]
    [mine] = [e for e in access if e.get("request_id") == "req-42"]
    assert (mine["method"], mine["route"], mine["status"], mine["account"]) == (
        "POST",
        "/v1/Account/{auth_id}/Masking/Session/",
        201,
        AUTH_ID,
    )
    for number in ("14155550161", "14155550162", "1415555016"):
        assert number not in output  # not the parties, not the query string, not the bad input


@pytest.mark.parametrize("workers", [2])
def test_metrics_add_up_over_the_server_processes(database: str, workers: int) -> None:
    if not database.startswith("postgresql"):
        pytest.skip("the embedded SQLite database serves one process")
    setup_account(database)
    server = ServerProcess(database, "--workers", str(workers))
    try:

        async def creates() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, auth=(AUTH_ID, TOKEN), trust_env=False) as c:
                replies = await asyncio.gather(
                    *(
                        c.post(SESSION, json={"first_party": f"+1415555{i:04d}", "second_party": OTHER})
                        for i in range(6)
                    )
                )
                return [r.status_code for r in replies]

        assert asyncio.run(creates()) == [201] * 6
        for _ in range(4):  # whichever process answers, it counts every process's creates
            scraped = samples(httpx.get(f"{server.url}/metrics", trust_env=False).text)
            assert scraped["maskline_sessions_created_total", frozenset()] == 6
    finally:
        server.stop()


def test_readiness_fails_without_a_database() -> None:
    def broken() -> tuple[object, object, object]:
        raise ConnectionRefusedError("database down")

    reply = asyncio.run(Metrics(broken, token="").readyz(None))  # type: ignore[arg-type]
    assert reply.status_code == 503 and json.loads(bytes(reply.body)) == {"status": "unavailable"}


def test_phone_numbers_are_masked_to_their_last_four_digits() -> None:
    assert mask_phones("call from +14155550161 to 4155550162") == "call from +*******0161 to ******0162"
    assert mask_phones("+44 20 7946 0958 and 020-7946-0958") == "+********0958 and *******0958"
    assert mask_phones("attempt 3 of 12, 250 ms, 2026") == "attempt 3 of 12, 250 ms, 2026"
    # A session's uuid is no phone number, whatever runs of digits it holds: it names the session.
    uuid = "c1234567-89ab-4def-8123-456789012345"
    assert mask_phones(f"session {uuid} of +14155550161") == f"session {uuid} of +*******0161"
    record = logging.LogRecord("maskline", logging.WARNING, "", 1, "bridging %s", ("+14155550161",), None)
    token = request_id.set("abc123")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["message"] == "bridging +*******0161" and line["request_id"] == "abc123"
    assert line["level"] == "warning" and line["logger"] == "maskline"


def test_routes_are_templates_and_never_paths() -> None:
    assert route_of(f"/v1/Account/{AUTH_ID}/Masking/Session/") == (
        "/v1/Account/{auth_id}/Masking/Session/",
        AUTH_ID,
    )
    assert route_of(f"/v1/Account/{AUTH_ID}//Masking/Number/+14155550161") == (
        "/v1/Account/{auth_id}/Masking/Number/{number}/",
        AUTH_ID,
    )
    assert route_of("/webhooks/plivo/MAX/answer") == ("/webhooks/{carrier}/{auth_id}/{action}", "MAX")
    assert route_of("/metrics") == ("/metrics", "")
    assert route_of("/wp-admin/+14155550161") == ("other", "")


def test_log_times_are_utc_with_milliseconds_across_seconds() -> None:
    def logged_at(created: float) -> str:
        record = logging.LogRecord("maskline", logging.INFO, "", 1, "tick", (), None)
        record.created = created
        return str(json.loads(JsonFormatter().format(record))["time"])

    # The formatted second is kept between lines: a later second must not reuse it.
    assert logged_at(1_700_000_000.25) == "2023-11-14T22:13:20.250Z"
    assert logged_at(1_700_000_000.999) == "2023-11-14T22:13:20.999Z"
    assert logged_at(1_700_000_061.0) == "2023-11-14T22:14:21.000Z"
    assert logged_at(0.5) == "1970-01-01T00:00:00.500Z"


def test_access_lines_wait_for_the_end_of_the_loop_turn_and_keep_the_log_in_order() -> None:
    stream = io.StringIO()
    handler = telemetry.JsonLines(stream)
    saved = telemetry._handler
    telemetry._handler = handler
    other = logging.getLogger("maskline.observability-test")
    other.handlers[:], other.propagate = [handler], False
    access = logging.getLogger("maskline.access")
    access.setLevel(logging.INFO)
    try:

        async def turn() -> tuple[str, str]:
            telemetry.log_access("GET", "/metrics", 200, 1.5, "", "rid-1")
            telemetry.log_access("POST", "other", 404, 0.25, 'MA"x', "")
            waiting = stream.getvalue()
            other.warning("after the requests, from +14155550161")
            await asyncio.sleep(0)
            return waiting, stream.getvalue()

        waiting, written = asyncio.run(turn())
        telemetry.log_access("GET", "/healthz", 200, 2.0, "", "rid-2")  # no loop: written at once
    finally:
        telemetry._handler = saved
        other.handlers[:] = []
        access.setLevel(logging.NOTSET)
    assert waiting == ""
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["message"] for e in lines] == [
        "GET /metrics 200",
        "POST other 404",
        "after the requests, from +*******0161",
        "GET /healthz 200",
    ]
    assert lines[0]["request_id"] == "rid-1" and "request_id" not in lines[1]
    assert {k: lines[1][k] for k in ("level", "logger", "method", "route", "status", "duration_ms")} == {
        "level": "info",
        "logger": "maskline.access",
        "method": "POST",
        "route": "other",
        "status": 404,
        "duration_ms": 0.25,
    }
    assert lines[1]["account"] == 'MA"x' and re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0]["time"]
    )
    assert written.count("\n") == 3


def test_what_a_path_or_header_carries_reaches_the_log_only_in_shape(tmp_path: Path) -> None:
    """Account ids from paths and client request ids are logged only when they have an id's
    shape: a path can carry a phone number, or a great deal of text."""
    database = f"sqlite:///{tmp_path / 'shapes.db'}"
    setup_account(database)
    server = ServerProcess(database)
    junk = "14155550177" + "x" * 6000
    try:
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            assert (
                client.get(f"/v1/Account/{junk}/Masking/Session/", auth=(AUTH_ID, TOKEN)).status_code == 401
            )
            reply = client.get(SESSION, auth=(AUTH_ID, TOKEN), headers={"X-Request-Id": junk})
            assert reply.status_code == 200 and reply.headers["x-request-id"] != junk
            assert client.post(f"/webhooks/plivo/{junk}/answer", data={"From": "1"}).status_code == 403
            assert client.post(f"/webhooks/twilio/{AUTH_ID}/voice", data={"From": "1"}).status_code == 403
    finally:
        output = server.stop()
    lines = output.splitlines()
    assert "14155550177" not in output and "xxxxxx" not in output
    assert max(len(line) for line in lines) < 1000
    logged = [json.loads(line) for line in lines if line.startswith("{")]
    assert {e.get("account") for e in logged if e["logger"] == "maskline.access"} >= {"-", AUTH_ID}
    refusals = [e["message"] for e in logged if e["logger"] == "maskline.webhooks"]
    assert refusals == [
        "webhook refused: bad signature (plivo, account -)",
        f"webhook refused: bad signature (twilio, account {AUTH_ID})",
    ]
