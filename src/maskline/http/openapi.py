"""The OpenAPI 3.1 document of everything maskline serves, answered at ``GET /openapi.json``.

Little of it is written here: its paths and operations are the route table's (``http/routes.py``),
its request schemas the parameter table's (``domain/params.py``) with the defaults the server runs
with, and its reply schemas the reply Structs' own (``http/render.py``). What is written here is
what the tables do not say: each operation's replies, errors and security, the list filters and
the operator's and carriers' endpoints. The tests hold it to what the server does:
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
from maskline.domain.message_log import MAX_TEXT
from maskline.domain.params import PARAMS, Defaults, Param, Update, any_case
from maskline.http.render import REPLIES
from maskline.http.routes import ROUTES, Route
from maskline.http.wire import Error

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
    """The parameters' schemas, and those of the other spellings some SDKs send (docs/api.md,
    "Other spellings")."""
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
        "SendMessage": {
            "type": "object",
            "description": "Unknown keys are ignored.",
            "properties": {
                "to": {"enum": ["first_party", "second_party"], "description": "The party the text goes to."},
                "text": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_TEXT,
                    "description": "The text; not only blanks. Never logged; stored only when the"
                    " operator keeps message bodies.",
                },
            },
            "required": ["to", "text"],
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


# -- replies: the reply Structs' own schemas ------------------------------------------------------
def _object(properties: dict[str, Schema]) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _structs(types: tuple[Any, ...]) -> dict[str, msgspec.inspect.StructType]:
    """The Structs of ``types`` and those within them, by name."""
    found: dict[str, msgspec.inspect.StructType] = {}

    def visit(info: Any) -> None:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls.__name__ in found:
                return
            found[info.cls.__name__] = info
            for f in info.fields:
                visit(f.type)
        for attribute in ("item_type", "types"):
            inner = getattr(info, attribute, ())
            for each in inner if isinstance(inner, tuple) else (inner,):
                visit(each)

    for info in msgspec.inspect.multi_type_info(types):
        visit(info)
    return found


def _may_be_left_out(field: msgspec.inspect.Field) -> bool:
    """Whether a field is ``UNSET`` unless given (msgspec's inspection drops ``UnsetType``)."""
    return (
        not field.required
        and field.default is msgspec.NODEFAULT
        and field.default_factory is msgspec.NODEFAULT
    )


def _reply_schemas() -> dict[str, Schema]:
    """The schemas of the replies. A reply has every field of its Struct but those that may be
    left out (``UNSET``), and no other; a default is how the reply is built, not the client's
    business, and is left out."""
    types = (*REPLIES, Error)
    _, components = msgspec.json.schema_components(types, ref_template="#/components/schemas/{name}")
    structs = _structs(types)
    for name, schema in components.items():
        for prop in schema.get("properties", {}).values():
            prop.pop("default", None)
        if name in structs:
            fields = structs[name].fields
            schema["required"] = [f.encode_name for f in fields if not _may_be_left_out(f)]
            schema["additionalProperties"] = False
    return components


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
        "BadGateway": _error("The carrier did not accept the message."),
        "InternalError": _error("An unexpected failure, never after a write was committed."),
        "Unavailable": _error(
            "The process is working on too many requests, or cannot reach its database.",
            retry,
        ),
    }


def _replies(success: dict[str, Schema], *errors: str) -> dict[str, Schema]:
    """The replies of an operation: its success, the given errors, and what any request may get."""
    replies = dict(success)
    for status, name in (
        ("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden"), ("502", "BadGateway")
    ):  # fmt: skip
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
        "sendMessage": {
            "responses": _replies(
                {"202": _json(_ref("schemas", "MessageQueued"), "Handed to the carrier.")},
                *api,
                "BadGateway",
            ),
            "requestBody": _body("SendMessage", required=True),
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
        "replaceNumber": {
            "responses": _replies(
                {"200": _json(_ref("schemas", "NumberReplaced"), "Retired; its live sessions moved.")},
                *api,
                "Forbidden",
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
        "description": "The carrier's call fields (CallUUID or CallSid, From, To, Digits, DialAction, ...)"
        " or message fields (From, To, Text, MessageUUID; MessageSid, Body, NumMedia, MediaUrl0, ...).",
    }
    common = {
        "responses": _replies(replies),
        "security": [
            {"plivoSignature": [], "plivoNonce": []},
            {"plivoMessageSignature": [], "plivoMessageNonce": []},
            {"twilioSignature": []},
        ],
        "parameters": [
            _query(name, {"type": "string"}, "Set by maskline in the URLs it hands the carrier.")
            for name in ("call", "session", "party", "message")
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
    security: list[dict[str, list[str]]] = [{"sipSecret": []}, {}]
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
                "answer, hangup, message (Plivo) or voice, status, sms (Twilio), pin, dial-status,"
                " recording, callee-prompt, message-status; any other is acknowledged with an empty"
                " document.",
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
        if route.console:  # pages for a browser, not the API
            continue
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
                "plivoMessageSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Plivo-Signature-V2",
                    "description": "Plivo's message callbacks: each nonce is taken once.",
                },
                "plivoMessageNonce": {"type": "apiKey", "in": "header", "name": "X-Plivo-Signature-V2-Nonce"},
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
