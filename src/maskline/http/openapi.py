"""The OpenAPI 3.1 document of everything maskline serves, answered at ``GET /openapi.json``.

It is built in Python rather than shipped as JSON because most of it repeats: every Masking API
operation has the same error replies, the session object sits in four responses, every integer
parameter takes the same spellings and the list filters come in families of five. The document
describes what the server does, tolerances included (contract §4.2); the tests hold it to that:
``tests/integration/test_openapi.py`` compares it with the routes and real replies, and
``tests/integration/test_fuzz.py`` fuzzes the server from it.
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from maskline import version
from maskline.config import Config
from maskline.domain.listing import MAX_LIMIT, STATUSES, Windows
from maskline.domain.params import PARAMS, Defaults, Param, Update, any_case
from maskline.http.routes import ROUTES, Route

Schema = dict[str, Any]

_NULL: Schema = {"type": "null"}
_TIME_SUFFIXES = ("", "__gt", "__gte", "__lt", "__lte")
_TIME_FILTER = "^\\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,6})?)?\\s*$"


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _text(text: str) -> Schema:
    return {"anyOf": [{"type": "string"}, _NULL], "description": text}


# -- requests: the parameter table's, with the defaults the server runs with -------------------
def _parameter(param: Param, defaults: Defaults, *, update: bool = False) -> Schema:
    """A parameter's schema: the values its reader takes, its description, and on create its
    default (the running one, for those the operator may change)."""
    text = param.on_update if update and param.on_update else param.description
    if param.pin:
        text += " With PIN authentication only."
    schema: Schema = {**param.read.schema(), "description": " ".join(filter(None, (text, param.read.note)))}
    default = defaults.of(param)
    if not update and default is not None:
        schema["default"] = default
    if param.example is not None:
        schema["examples"] = [param.example]
    return schema


def _properties(params: list[Param], defaults: Defaults, *, update: bool = False) -> dict[str, Schema]:
    """The parameters' schemas, and those of the other spellings some SDKs send (contract §10)."""
    properties = {p.name: _parameter(p, defaults, update=update) for p in params}
    for param in params:
        for alias in param.aliases:
            properties[alias] = {
                **properties[param.name],
                "description": f"An SDK's spelling of {param.name}.",
            }
    return properties


def _both_parties_unless_single() -> Schema:
    """Both parties are required, unless create_session_with_single_party (either spelling) is true."""
    true = {"anyOf": [{"const": True}, {"type": "string", "pattern": any_case("true")}]}
    (single,) = (p for p in PARAMS if p.name == "create_session_with_single_party")
    flags = [{"required": [name], "properties": {name: true}} for name in (single.name, *single.aliases)]
    return {"if": {"not": {"anyOf": flags}}, "then": {"required": ["first_party", "second_party"]}}


def _request_schemas(defaults: Defaults) -> dict[str, Schema]:
    ignored = ", ".join(p.name for p in PARAMS if p.update is Update.IGNORED)
    return {
        "CreateSession": {
            "type": "object",
            "description": "Unknown keys are ignored; null is the same as absent.",
            "properties": _properties(list(PARAMS), defaults),
            **_both_parties_unless_single(),
        },
        "UpdateSession": {
            "type": "object",
            "description": f"{ignored} are accepted and ignored; any other create parameter is"
            " refused (400); unknown keys are ignored.",
            "properties": _properties(
                [p for p in PARAMS if p.update is not Update.REFUSED], defaults, update=True
            ),
        },
        "AddNumbers": {
            "type": "object",
            "description": "numbers, or number for one; numbers wins when both are given.",
            "properties": {
                "numbers": {
                    "anyOf": [
                        {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        {"type": "string"},
                    ]
                },
                "number": {"type": "string"},
                "subaccount": _text("A subaccount of the caller whose pool gets the numbers."),
                "country": _text("ISO 3166-1 alpha-2 code for geomatch; default: the number's region."),
            },
        },
    }


# -- replies ------------------------------------------------------------------------------------
def _object(properties: dict[str, Schema], optional: tuple[str, ...] = ()) -> Schema:
    required = [name for name in properties if name not in optional]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def _nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, _NULL]}


def _session(listed: bool) -> Schema:
    string, integer, number, boolean = ({"type": t} for t in ("string", "integer", "number", "boolean"))
    party = _ref("schemas", "Digits")
    method = {"enum": ["GET", "POST"]}
    properties: dict[str, Schema] = {
        "session_uuid": {"type": "string", "format": "uuid"},
        "first_party": party,
        "second_party": party,
        "virtual_number": party,
        "status": {"enum": ["active", "in-progress", "expired"]},
        "initiate_call_to_first_party": boolean,
        "callback_url": string,
        "callback_method": method,
        "created_time": _ref("schemas", "Timestamp"),
        "modified_time": _ref("schemas", "Timestamp"),
        "expiry_time": _ref("schemas", "Timestamp"),
        "duration": integer,
        "amount": number,
        "call_time_limit": integer,
        "ring_timeout": integer,
        "first_party_play_url": string,
        "second_party_play_url": string,
        "record": boolean,
        "record_file_format": {"enum": ["mp3", "wav"]},
        "recording_callback_url": string,
        "recording_callback_method": method,
        "interaction": _nullable({"type": "array", "items": _ref("schemas", "Interaction")}),
        "total_call_amount": number,
        "total_call_count": integer,
        "total_call_billed_duration": integer,
        "total_session_amount": number,
        "last_interaction_time": {"anyOf": [_ref("schemas", "Timestamp"), {"const": ""}]},
        "is_pin_authentication_required": boolean,
        "generate_pin": _nullable(boolean),
        "generate_pin_length": _nullable(integer),
        "first_party_pin": _nullable(string),
        "second_party_pin": _nullable(string),
        "pin_prompt_play": _nullable(string),
        "pin_retry": _nullable(integer),
        "pin_retry_wait": _nullable(integer),
        "incorrect_pin_play": _nullable(string),
        "unknown_caller_play": string,
        "create_session_with_single_party": boolean,
        "virtual_number_cooloff_period": integer,
        "force_pin_authentication": boolean,
        "subaccount": {"type": "string", "description": "Only on sessions of a subaccount."},
    }
    if listed:
        properties["resource_uri"] = string
    return _object(properties, optional=("subaccount",))


def _page(item: str) -> Schema:
    nullable_link = _nullable({"type": "string"})
    meta = _object(
        {
            "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
            "next": nullable_link,
            "offset": {"type": "integer", "minimum": 0},
            "previous": nullable_link,
            "total_count": {"type": "integer", "minimum": 0},
        }
    )
    return _object({"meta": meta, "objects": {"type": "array", "items": _ref("schemas", item)}})


def _reply_schemas() -> dict[str, Schema]:
    api_id = _ref("schemas", "ApiId")
    session = _ref("schemas", "Session")
    string = {"type": "string"}
    return {
        "ApiId": {"type": "string", "format": "uuid", "description": "A new id for every request."},
        "Error": _object({"api_id": api_id, "error": string}),
        "Digits": {"type": "string", "pattern": "^[0-9]*$", "description": "A number without '+'."},
        "Timestamp": {
            "type": "string",
            "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \\+0000 UTC$",
            "examples": ["2026-01-03 13:35:51 +0000 UTC"],
        },
        "Interaction": _object(
            {
                "start_time": _ref("schemas", "Timestamp"),
                "end_time": {"anyOf": [_ref("schemas", "Timestamp"), {"const": ""}]},
                "type": {"const": "call"},
                "total_call_amount": {"type": "number"},
                "call_billed_duration": {"type": "integer"},
                "recording_resource_url": _nullable(string),
                "auth_id": string,
                "total_call_count": {"type": "integer", "minimum": 1, "maximum": 2},
                "duration": {"type": "number"},
                "first_party_resource_url": string,
                "first_party_status": string,
                "second_party_resource_url": string,
                "second_party_status": string,
            },
            optional=(
                "first_party_resource_url",
                "first_party_status",
                "second_party_resource_url",
                "second_party_status",
            ),
        ),
        "Session": _session(listed=False),
        "ListedSession": _session(listed=True),
        "SessionCreated": _object(
            {
                "api_id": api_id,
                "session_uuid": {"type": "string", "format": "uuid"},
                "virtual_number": {"type": "string", "pattern": "^\\+[0-9]+$"},
                "message": {"const": "Session created"},
                "session": session,
            }
        ),
        "SessionFound": _object({"api_id": api_id, "response": session}),
        "SessionUpdated": _object(
            {"api_id": api_id, "message": {"const": "Session updated"}, "session": session}
        ),
        "SessionExpired": _object({"api_id": api_id, "message": {"const": "Session expired"}}),
        "SessionPage": _object({"api_id": api_id, "response": _page("ListedSession")}),
        "Number": _object(
            {
                "number": _ref("schemas", "Digits"),
                "country": string,
                "subaccount": {"type": "string", "description": "'' for the main account's own pool."},
                "status": {"enum": ["in_service", "retired"]},
                "live_session_count": {"type": "integer", "minimum": 0},
                "added_time": _ref("schemas", "Timestamp"),
                "resource_uri": string,
            }
        ),
        "NumbersAdded": _object(
            {
                "api_id": api_id,
                "message": {"const": "Numbers added"},
                "numbers": {"type": "array", "items": _ref("schemas", "Number")},
            }
        ),
        "NumberFound": _object({"api_id": api_id, "response": _ref("schemas", "Number")}),
        "NumberRetired": _object({"api_id": api_id, "message": {"const": "Number retired"}}),
        "NumberPage": _object({"api_id": api_id, "response": _page("Number")}),
        "Health": _object(
            {
                "status": {"enum": ["ok", "unavailable"]},
                "version": {"type": "string", "description": "maskline's version (/healthz only)"},
            },
            optional=("version",),
        ),
    }


def _json(schema: Schema, description: str, headers: dict[str, Schema] | None = None) -> Schema:
    reply: Schema = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        reply["headers"] = headers
    return reply


def _header(text: str) -> Schema:
    return {"description": text, "required": True, "schema": {"type": "string"}}


def _error(text: str, headers: dict[str, Schema] | None = None) -> Schema:
    return _json(_ref("schemas", "Error"), text, headers)


def _error_replies() -> dict[str, Schema]:
    retry = {"Retry-After": _header("Seconds to wait.")}
    return {
        "BadRequest": _error("A parameter is missing or invalid; the first failure in the contract's order."),
        "Unauthorized": _error(
            "Missing or wrong credentials, or a path auth_id other than the caller's.",
            {"WWW-Authenticate": _header('Basic realm="maskline"')},
        ),
        "Forbidden": _error("Subaccounts cannot manage numbers."),
        "NotFound": _error("No such session or number for this account, or no such resource path."),
        "MethodNotAllowed": _error("The method is not one of the path's (checked after the credentials)."),
        "TooManyRequests": _error("The account or the client address is over its rate limit.", retry),
        "InternalError": _error("An unexpected failure, never after a write was committed."),
        "Unavailable": _error(
            "The process is working on too many requests, or cannot reach its database.",
            retry,
        ),
    }


def _replies(success: dict[str, Schema], *errors: str) -> dict[str, Schema]:
    """The replies of an operation: its success, the given errors, and what any request may get."""
    replies = dict(success)
    for status, name in (("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden")):
        if name in errors:
            replies[status] = _ref("responses", name)
    if "Unauthorized" in errors:  # a Masking API operation
        replies["404"] = _ref("responses", "NotFound")
        replies["429"] = _ref("responses", "TooManyRequests")
        replies["500"] = _ref("responses", "InternalError")
    replies["503"] = _ref("responses", "Unavailable")
    return replies


# -- operations ---------------------------------------------------------------------------------
def _path_parameter(name: str, schema: Schema, text: str) -> Schema:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": text}


def _query(name: str, schema: Schema, text: str) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": text}


def _list_filters(windows: Windows) -> list[Schema]:
    parameters = [
        _query(name, {"type": "string"}, "Exact number, with or without '+'.")
        for name in ("first_party", "second_party", "virtual_number")
    ]
    parameters.append(_query("status", {"enum": list(STATUSES)}, "Default all; active includes in-progress."))
    time = {"type": "string", "pattern": _TIME_FILTER, "examples": ["2026-01-03 13:35"]}
    time_text = (
        f"UTC time as YYYY-MM-DD HH:MM[:ss[.uuuuuu]]; the window spans at most {windows.max_days} days;"
        f" without one, sessions created in the last {windows.default_days} days are listed."
    )
    for family in ("created_time", "expiry_time"):
        parameters += [_query(family + s, time, time_text) for s in _TIME_SUFFIXES]
    count = {"type": "integer", "minimum": 0, "maximum": 10**12 - 1}
    for family, text in (("duration", "Seconds."), ("session_duration", "Alias of duration.")):
        parameters += [_query(family + s, count, text) for s in _TIME_SUFFIXES]
    parameters += _paging()
    parameters.append(_query("subaccount", {"type": "string"}, "Only this subaccount's sessions."))
    parameters.append(_query("sub_account", {"type": "string"}, "The Node SDK's spelling of subaccount."))
    return parameters


def _paging() -> list[Schema]:
    return [
        _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "Page size; default 20."),
        _query("offset", {"type": "integer", "minimum": 0, "maximum": 10**12 - 1}, "Default 0."),
    ]


def _body(name: str, required: bool) -> Schema:
    return {"required": required, "content": {"application/json": {"schema": _ref("schemas", name)}}}


def _session_operations(windows: Windows) -> dict[str, Schema]:
    def follow(operation_id: str) -> Schema:
        parameters = {"auth_id": "$request.path.auth_id", "session_uuid": "$response.body#/session_uuid"}
        return {"operationId": operation_id, "parameters": parameters}

    created = _json(_ref("schemas", "SessionCreated"), "Created.")
    created["links"] = {name: follow(name) for name in ("getSession", "updateSession", "expireSession")}
    api = ("BadRequest", "Unauthorized")
    return {
        "createSession": {
            "responses": _replies({"201": created}, *api),
            "requestBody": _body("CreateSession", required=True),
        },
        "listSessions": {
            "responses": _replies({"200": _json(_ref("schemas", "SessionPage"), "A page.")}, *api),
            "parameters": _list_filters(windows),
        },
        "getSession": {
            "responses": _replies(
                {"200": _json(_ref("schemas", "SessionFound"), "The session.")}, "Unauthorized"
            )
        },
        "updateSession": {
            "responses": _replies({"200": _json(_ref("schemas", "SessionUpdated"), "Updated.")}, *api),
            "requestBody": _body("UpdateSession", required=False),
        },
        "expireSession": {
            "responses": _replies({"200": _json(_ref("schemas", "SessionExpired"), "Expired.")}, *api)
        },
    }


def _number_operations() -> dict[str, Schema]:
    api = ("BadRequest", "Unauthorized")
    return {
        "addNumbers": {
            "responses": _replies(
                {"201": _json(_ref("schemas", "NumbersAdded"), "Added.")}, *api, "Forbidden"
            ),
            "requestBody": _body("AddNumbers", required=True),
        },
        "listNumbers": {
            "responses": _replies({"200": _json(_ref("schemas", "NumberPage"), "A page.")}, *api),
            "parameters": _paging(),
        },
        "getNumber": {
            "responses": _replies(
                {"200": _json(_ref("schemas", "NumberFound"), "The number.")}, "Unauthorized"
            )
        },
        "retireNumber": {
            "responses": _replies(
                {"200": _json(_ref("schemas", "NumberRetired"), "Retired.")}, *api, "Forbidden"
            )
        },
    }


def _webhook_operations() -> dict[str, Schema]:
    def text(description: str) -> Schema:
        return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}

    xml = {
        "description": "Plivo XML or TwiML.",
        "content": {"application/xml": {"schema": {"type": "string"}}},
    }
    not_found = text("Not a carrier maskline speaks.")
    not_found["content"]["application/json"] = {"schema": _ref("schemas", "Error")}
    not_found["description"] += " A path that names no webhook gets the JSON error of unknown paths."
    replies = {
        "200": xml,
        "403": text("Unsigned or wrongly signed; checked first, after the body's size."),
        "404": not_found,
        "413": text("A body over 64 KiB, refused before it is read."),
    }
    form = {
        "type": "object",
        "additionalProperties": {"type": "string"},
        "description": "The carrier's call fields (CallUUID or CallSid, From, To, Digits, DialAction, ...).",
    }
    common = {
        "responses": _replies(replies),
        "security": [{"plivoSignature": [], "plivoNonce": []}, {"twilioSignature": []}],
        "parameters": [
            _query(name, {"type": "string"}, "Set by maskline in the URLs it hands the carrier.")
            for name in ("call", "session", "party")
        ],
    }
    return {
        "carrierWebhook": {
            **common,
            "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": form}}},
        },
        "carrierWebhookGet": common,
    }


def _sip_operations() -> dict[str, Schema]:
    string, integer = {"type": "string"}, {"type": "integer"}
    forbidden = _error("Neither the secret nor an allowed source address.")
    call = {"callid": string, "from": string, "to": string}
    route_body = {"type": "object", "properties": call, "description": "On POST, instead of the query."}
    bridge = _object(
        {
            "action": {"const": "bridge"},
            "dest": string,
            "caller_id": string,
            "time_limit": integer,
            "ring_timeout": integer,
        }
    )
    reject = _object({"action": {"const": "reject"}, "code": integer, "reason": string})
    route_replies = {
        "200": _json(
            {"oneOf": [bridge, reject]}, "Bridge to dest with caller_id, or reject with a SIP code."
        ),
        "403": forbidden,
        "503": _error(
            "Cannot decide (the proxy then answers 503): the database cannot be reached, say; or the"
            " process is overloaded."
        ),
    }
    security = [{"sipSecret": []}, {}]
    query = [
        _query(name, {"type": "string"}, "The call's " + name + ".") for name in ("callid", "from", "to")
    ]
    event_body = {
        "type": "object",
        "properties": {"event": {"enum": ["answered", "ended"]}, **call},
        "description": "Values of other types are taken as their text.",
    }
    return {
        "sipRoute": {"responses": route_replies, "security": security, "parameters": query},
        "sipRoutePost": {
            "responses": route_replies,
            "security": security,
            "requestBody": {"content": {"application/json": {"schema": route_body}}},
        },
        "sipEvent": {
            "responses": _replies(
                {
                    "200": _json(_object({"ok": {"const": True}}), "Noted."),
                    "400": _error("No callid, or an event other than answered or ended."),
                    "403": forbidden,
                }
            ),
            "security": security,
            "requestBody": {"content": {"application/json": {"schema": event_body}}},
        },
    }


def _operator_operations() -> dict[str, Schema]:
    health = _ref("schemas", "Health")
    metrics_text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "healthz": {
            "responses": _replies({"200": _json(health, 'Alive: {"status": "ok", "version": "X.Y.Z"}.')}),
            "security": [],
        },
        "readyz": {
            "responses": {
                "200": _json(health, "Ready."),
                "503": _json(
                    {"anyOf": [health, _ref("schemas", "Error")]},
                    'The database cannot be reached ({"status": "unavailable"}), or the process is'
                    " overloaded (an error).",
                    {"Retry-After": {"description": "Only when overloaded.", "schema": {"type": "string"}}},
                ),
            },
            "security": [],
        },
        "metrics": {
            "responses": _replies(
                {
                    "200": {"description": "Prometheus text format.", "content": metrics_text},
                    "403": {
                        "description": "Without MASKLINE_METRICS_TOKEN configured, only loopback"
                        " clients are answered; with it, only requests bearing it.",
                        "content": metrics_text,
                    },
                }
            ),
            "security": [{"metricsToken": []}, {}],
        },
        "openapi": {
            "responses": _replies({"200": _json({"type": "object"}, "The OpenAPI 3.1 document.")}),
            "security": [],
        },
    }


def _path_parameters(route: Route) -> list[Schema]:
    """The documented parameters of a route's template."""
    if route.api:
        documented = {
            "auth_id": _ref("parameters", "auth_id"),
            "session_uuid": _path_parameter(
                "session_uuid", {"type": "string"}, "Any other value than a session's is 404."
            ),
            "number": _path_parameter("number", {"type": "string"}, "The number, with or without '+'."),
        }
    else:
        documented = {
            "carrier": _path_parameter("carrier", {"enum": ["plivo", "twilio"]}, "The carrier."),
            "auth_id": _path_parameter(
                "auth_id", {"type": "string"}, "The maskline account the carrier serves."
            ),
            "action": _path_parameter(
                "action",
                {"type": "string"},
                "answer, hangup (Plivo) or voice, status (Twilio), pin, dial-status, recording,"
                " callee-prompt; any other is acknowledged with an empty document.",
            ),
        }
    return [documented[name] for name in route.parameters]


def _paths(config: Config) -> dict[str, Schema]:
    """Every route of the route table, each operation with what the document says of it."""
    details = {
        **_session_operations(config.windows),
        **_number_operations(),
        **_webhook_operations(),
        **_sip_operations(),
        **_operator_operations(),
    }
    paths: dict[str, Schema] = {}
    for route in ROUTES:
        item: Schema = {"parameters": _path_parameters(route)} if route.parameters else {}
        for op in route.operations:
            item[op.method.lower()] = {
                "operationId": op.operation_id,
                "tags": [route.tag],
                "summary": op.summary,
                **details.pop(op.operation_id),
            }
        paths[route.path] = item
    assert not details, f"documented operations that no route has: {sorted(details)}"
    return paths


def document(config: Config) -> dict[str, Any]:
    """The whole OpenAPI document, of a server running with ``config``."""
    paths = _paths(config)
    auth_id = _path_parameter(
        "auth_id", {"type": "string"}, "MA or SA and 18 letters or digits: the caller's own id, else 401."
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "maskline",
            "version": version(),
            "description": "Phone-number masking speaking Plivo's Number Masking Session API, plus"
            " maskline's number pool resource, the carriers' webhooks, the SIP proxy's routing"
            " endpoints and the operator's."
            " Paths of the Masking API also work without the trailing slash and with doubled"
            " slashes; any other method on them is answered 405 (after the credentials are"
            " checked, with the path's methods in Allow), and any other path 404, both with the"
            " Error body.",
        },
        "tags": [
            {"name": "Session", "description": "Plivo's Masking Session API."},
            {"name": "Number", "description": "maskline's number pool."},
            {
                "name": "Webhooks",
                "description": "Called by Plivo or Twilio, signed with the carrier's token.",
            },
            {"name": "SIP", "description": "Called by the operator's SIP proxy (sip/kamailio.cfg)."},
            {"name": "Operator", "description": "Health, readiness, metrics and this document."},
        ],
        "security": [{"basicAuth": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "basicAuth": {"type": "http", "scheme": "basic", "description": "auth_id and auth_token."},
                "metricsToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "MASKLINE_METRICS_TOKEN.",
                },
                "plivoSignature": {"type": "apiKey", "in": "header", "name": "X-Plivo-Signature-V3"},
                "plivoNonce": {"type": "apiKey", "in": "header", "name": "X-Plivo-Signature-V3-Nonce"},
                "twilioSignature": {"type": "apiKey", "in": "header", "name": "X-Twilio-Signature"},
                "sipSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Maskline-Secret",
                    "description": "MASKLINE_SIP_SECRET; without it, only MASKLINE_SIP_ALLOW addresses.",
                },
            },
            "parameters": {"auth_id": auth_id},
            "schemas": {**_request_schemas(config.defaults), **_reply_schemas()},
            "responses": _error_replies(),
        },
    }


class OpenApi:
    """``GET /openapi.json``: the document, to anyone (it holds no secret). It is built once, the
    first time it is asked for, from the running configuration."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._served: bytes | None = None

    async def endpoint(self, request: Request) -> Response:
        if self._served is None:
            self._served = msgspec.json.encode(document(self._config))
        return Response(self._served, media_type="application/json")
