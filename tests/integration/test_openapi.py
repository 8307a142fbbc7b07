"""``GET /openapi.json``: a valid OpenAPI 3.1 document that names every route the application
serves, and whose response schemas the server's real replies satisfy."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from starlette.routing import Route

from maskline.config import Config
from maskline.domain import errors
from maskline.http.app import create_app
from maskline.http.routes import ROUTES
from tests.databases import Databases
from tests.support import FakeClock, ServerThread, Tenant, fresh_number

SESSIONS = "/v1/Account/{auth_id}/Masking/Session/"
SESSION = "/v1/Account/{auth_id}/Masking/Session/{session_uuid}/"
NUMBERS = "/v1/Account/{auth_id}/Masking/Number/"
NUMBER = "/v1/Account/{auth_id}/Masking/Number/{number}/"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@pytest.fixture(scope="module")
def document(server: ServerThread) -> dict[str, Any]:
    reply = httpx.get(f"{server.url}/openapi.json", trust_env=False)  # no credentials needed
    assert reply.status_code == 200 and reply.headers["content-type"] == "application/json"
    return reply.json()


def resolve(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        for part in node["$ref"].removeprefix("#/").split("/"):
            document = document[part.replace("~1", "/").replace("~0", "~")]
        node = document
    return node


def conforms(document: dict[str, Any], reply: httpx.Response, documented: dict[str, Any]) -> None:
    """``reply`` is the documented response: media type, required headers and body schema."""
    documented = resolve(document, documented)
    media = reply.headers["content-type"].split(";")[0]
    assert media in documented["content"], (media, documented)
    for name, header in documented.get("headers", {}).items():
        assert not header.get("required") or name in reply.headers, name
    schema = {**documented["content"][media]["schema"], "components": document["components"]}
    body = reply.json() if media == "application/json" else reply.text
    jsonschema_rs.validator_for(schema, validate_formats=True).validate(body)


def check(document: dict[str, Any], reply: httpx.Response, path: str, method: str, status: int) -> Any:
    """The reply has the expected status, which the operation documents, in the documented shape."""
    assert reply.status_code == status, reply.text
    conforms(document, reply, document["paths"][path][method]["responses"][str(status)])
    return reply.json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema
    for schema in document["components"]["schemas"].values():
        jsonschema_rs.meta.validate(schema)  # JSON Schema 2020-12, OpenAPI 3.1's dialect
    operations = [op for item in document["paths"].values() for k, op in item.items() if k != "parameters"]
    ids = [op["operationId"] for op in operations]
    assert len(ids) == len(set(ids))
    for operation in operations:
        for reply in operation["responses"].values():
            resolve(document, reply)  # every reference leads somewhere


def test_every_route_is_documented(document: dict[str, Any]) -> None:
    """The routes of the application, in the trailing-slash form the SDKs send, and their methods:
    the route table's, and nothing else; but the operator console's pages, which are HTML for a
    browser (docs/console.md)."""
    documented_routes = [route for route in ROUTES if not route.console]
    assert set(document["paths"]) == {route.path for route in documented_routes}
    for route in documented_routes:
        documented = {m.upper() for m in document["paths"][route.path] if m != "parameters"}
        assert documented == set(route.methods), route.path
        assert [
            p["name"]
            for p in map(partial(resolve, document), document["paths"][route.path].get("parameters", []))
        ] == list(route.parameters)
    front = create_app(Config(database_url="sqlite://")).app  # type: ignore[attr-defined]
    served: dict[str, set[str]] = {}
    for route in front.app.routes:
        assert isinstance(route, Route)
        console = any(route.path == r.path for r in ROUTES if r.console)
        if route.path != "/{path:path}" and not console:  # the catch-all answering 404
            served.setdefault(route.path, set()).update(set(route.methods or ()) - {"HEAD"})
    served.update({path: set() for path in front.endpoints})  # the Masking API's methods: below
    assert set(served) == set(document["paths"])
    for path, methods in served.items():
        if methods:
            assert {m.upper() for m in document["paths"][path] if m != "parameters"} == methods, path


def test_every_operation_of_the_route_table_is_served(server: ServerThread, tenant: Tenant) -> None:
    """Each operation reaches its handler: never the 404 of unknown paths, never a 405."""
    values = {
        "auth_id": tenant.auth_id,
        "session_uuid": "0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40",
        "number": "14155550100",
        "carrier": "plivo",
        "action": "answer",
    }
    unknown_path = errors.ResourceNotFound().message
    with httpx.Client(auth=(tenant.auth_id, tenant.auth_token), trust_env=False) as client:
        for route in ROUTES:
            url = server.url + route.path.format(**values)
            for method in route.methods:
                reply = client.request(method, url)
                assert reply.status_code != 405, (method, route.path)
                if reply.status_code == 404 and reply.headers["content-type"] == "application/json":
                    assert reply.json()["error"] != unknown_path, (method, route.path)


def test_the_masking_api_answers_exactly_the_documented_methods(
    document: dict[str, Any], server: ServerThread, tenant: Tenant
) -> None:
    """With credentials, a documented method is taken and any other is 405 (the documented error)."""
    with httpx.Client(auth=(tenant.auth_id, tenant.auth_token), trust_env=False) as client:
        for path in (SESSIONS, SESSION, NUMBERS, NUMBER):
            url = server.url + path.format(
                auth_id=tenant.auth_id,
                session_uuid="0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40",
                number="14155550100",
            )
            documented = {m.upper() for m in document["paths"][path] if m != "parameters"}
            for method in METHODS:
                reply = client.request(method, url)
                if method in documented:
                    assert reply.status_code != 405, (method, path)
                else:
                    assert reply.status_code == 405, (method, path)
                    if method != "HEAD":
                        conforms(document, reply, {"$ref": "#/components/responses/MethodNotAllowed"})


@pytest.fixture
def api(server: ServerThread, tenant: Tenant) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=server.url, auth=(tenant.auth_id, tenant.auth_token), trust_env=False
    ) as client:
        yield client


def test_session_replies_are_the_documented_ones(
    document: dict[str, Any], api: httpx.Client, tenant: Tenant
) -> None:
    sessions = SESSIONS.format(auth_id=tenant.auth_id)
    parties = {"first_party": fresh_number(), "second_party": fresh_number()}
    created = check(document, api.post(sessions, json=parties), SESSIONS, "post", 201)
    session = SESSION.format(auth_id=tenant.auth_id, session_uuid=created["session_uuid"])

    check(document, api.get(session), SESSION, "get", 200)
    listed = check(document, api.get(sessions, params={"limit": 1}), SESSIONS, "get", 200)
    assert listed["response"]["objects"]
    check(document, api.post(session, json={"session_expiry": 600, "record": True}), SESSION, "post", 200)
    check(document, api.delete(session), SESSION, "delete", 200)

    check(document, api.post(sessions, json={"second_party": fresh_number()}), SESSIONS, "post", 400)
    check(document, api.get(sessions, params={"limit": 21}), SESSIONS, "get", 400)
    check(document, api.delete(session), SESSION, "delete", 400)  # already expired
    check(document, api.get(session, auth=(tenant.auth_id, "wrong-token")), SESSION, "get", 401)
    unknown = SESSION.format(auth_id=tenant.auth_id, session_uuid="0c7f2d8e-4b1a-4e0b-8f53-2b9a6d1c7e40")
    check(document, api.get(unknown), SESSION, "get", 404)


def test_number_replies_are_the_documented_ones(
    document: dict[str, Any], api: httpx.Client, tenant: Tenant
) -> None:
    numbers = NUMBERS.format(auth_id=tenant.auth_id)
    added = check(
        document, api.post(numbers, json={"numbers": [fresh_number("+1628")]}), NUMBERS, "post", 201
    )
    number = NUMBER.format(auth_id=tenant.auth_id, number=added["numbers"][0]["number"])
    check(document, api.get(numbers), NUMBERS, "get", 200)
    check(document, api.get(number), NUMBER, "get", 200)
    check(document, api.delete(number), NUMBER, "delete", 200)
    check(document, api.post(numbers, json={"numbers": ["12"]}), NUMBERS, "post", 400)
    check(document, api.get(NUMBER.format(auth_id=tenant.auth_id, number="14155559999")), NUMBER, "get", 404)


def test_operator_and_webhook_replies_are_the_documented_ones(
    document: dict[str, Any], server: ServerThread
) -> None:
    with httpx.Client(base_url=server.url, trust_env=False) as client:
        check(document, client.get("/healthz"), "/healthz", "get", 200)
        check(document, client.get("/readyz"), "/readyz", "get", 200)
        check(document, client.get("/openapi.json"), "/openapi.json", "get", 200)
        metrics = client.get("/metrics")  # the test server has no token: loopback clients are answered
        assert metrics.status_code == 200
        conforms(document, metrics, document["paths"]["/metrics"]["get"]["responses"]["200"])
        webhook = "/webhooks/{carrier}/{auth_id}/{action}"
        for carrier, status in (("plivo", 403), ("twilio", 403), ("other", 404)):
            reply = client.post(f"/webhooks/{carrier}/MA{'0' * 18}/answer", data={"CallUUID": "x"})
            assert reply.status_code == status
            conforms(document, reply, document["paths"][webhook]["post"]["responses"][str(status)])


def test_the_documented_defaults_are_the_ones_the_server_runs_with(
    databases: Databases, clock: FakeClock
) -> None:
    """Defaults an operator changed through the environment show in the document, and a session
    created without parameters gets every default the document names."""
    env = {
        "MASKLINE_SESSION_EXPIRY": "600",
        "MASKLINE_RING_TIMEOUT": "30",
        "MASKLINE_LIST_MAX_WINDOW_DAYS": "10",
    }
    configured = Config.from_env(env)
    server = ServerThread(
        databases.new(), clock, defaults=configured.defaults, windows=configured.windows
    ).start()
    try:
        document = httpx.get(f"{server.url}/openapi.json", trust_env=False).json()
        create = document["components"]["schemas"]["CreateSession"]["properties"]
        assert (create["session_expiry"]["default"], create["ring_timeout"]["default"]) == (600, 30)
        assert create["call_time_limit"]["default"] == 14400  # not changed: the built-in one
        update = document["components"]["schemas"]["UpdateSession"]["properties"]
        assert "default" not in update["session_expiry"]  # absent on update: unchanged
        filters = document["paths"][SESSIONS]["get"]["parameters"]
        assert "at most 10 days" in next(f for f in filters if f["name"] == "created_time")["description"]

        tenant = server.tenant()
        pin = {
            "is_pin_authentication_required": True,
            "first_party_pin": "1234",
            "second_party_pin": "4321",
            "pin_prompt_play": "https://example.com/prompt.mp3",
        }
        with httpx.Client(auth=(tenant.auth_id, tenant.auth_token), trust_env=False) as api:
            for extra in ({}, pin):
                parties = {"first_party": fresh_number(), "second_party": fresh_number()}
                reply = api.post(
                    server.url + SESSIONS.format(auth_id=tenant.auth_id), json={**parties, **extra}
                )
                assert reply.status_code == 201, reply.text
                session = reply.json()["session"]
                assert session["duration"] == 600
                defaulted = [
                    n for n, s in create.items() if "default" in s and n in session and n not in extra
                ]
                assert {"ring_timeout", "call_time_limit", "record", "callback_method"} <= set(defaulted)
                for name in defaulted:
                    with_pin_only = "With PIN authentication only." in create[name]["description"]
                    if extra or not with_pin_only:
                        assert session[name] == create[name]["default"], name
    finally:
        server.stop()
