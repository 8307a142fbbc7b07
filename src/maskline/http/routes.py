"""Every path maskline serves, written once.

The application binds a handler to each operation, the API front matches the Masking API's paths
with it, request observation names a request's route from it, and the OpenAPI document lists its
paths and operations from it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from maskline.http.wire import collapse_slashes

_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    operation_id: str  # the handler's name in the application and the OpenAPI operationId
    summary: str


@dataclass(frozen=True, slots=True)
class Route:
    path: str  # the template, in the trailing-slash form the SDKs send for the Masking API
    tag: str  # the OpenAPI tag
    operations: tuple[Operation, ...]
    # The Masking API: authenticated, and taken with or without the trailing slash and with runs
    # of slashes (docs/api.md, "Paths and slashes"); answered 405 for any other method.
    api: bool = False
    # Matched as the client sent it: carriers sign webhook URLs as they called them.
    as_called: bool = False
    # A page of the operator console (docs/console.md): HTML for a browser, signed in with a
    # cookie, not part of the API's document; ``nav`` names it in the console's menu.
    console: bool = False
    nav: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(_PARAMETER.findall(self.path))

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(op.method for op in self.operations)


_MASKING = "/v1/Account/{auth_id}/Masking"

ROUTES: tuple[Route, ...] = (
    Route(
        f"{_MASKING}/Session/",
        "Session",
        (
            Operation("POST", "createSession", "Create a session"),
            Operation("GET", "listSessions", "List sessions, newest first"),
        ),
        api=True,
    ),
    Route(
        f"{_MASKING}/Session/{{session_uuid}}/",
        "Session",
        (
            Operation("GET", "getSession", "Get a session, expired ones included"),
            Operation("POST", "updateSession", "Update a live session"),
            Operation(
                "DELETE",
                "expireSession",
                "Expire a live session (it is kept, as expired); any body is ignored",
            ),
        ),
        api=True,
    ),
    Route(
        f"{_MASKING}/Session/{{session_uuid}}/Message/",
        "Session",
        (
            Operation(
                "POST",
                "sendMessage",
                "Send a text from the session's virtual number to one of its parties",
            ),
        ),
        api=True,
    ),
    Route(
        f"{_MASKING}/Number/",
        "Number",
        (
            Operation("POST", "addNumbers", "Put numbers in service (main accounts only)"),
            Operation("GET", "listNumbers", "List the account's numbers"),
        ),
        api=True,
    ),
    Route(
        f"{_MASKING}/Number/{{number}}/",
        "Number",
        (
            Operation("GET", "getNumber", "Get a number"),
            Operation(
                "DELETE",
                "retireNumber",
                "Retire a number: no new sessions; live ones keep it (main accounts only)",
            ),
        ),
        api=True,
    ),
    Route(
        f"{_MASKING}/Number/{{number}}/Replace/",
        "Number",
        (
            Operation(
                "POST",
                "replaceNumber",
                "Replace a number: retire it and move its live sessions to other numbers of their pools"
                " (main accounts only)",
            ),
        ),
        api=True,
    ),
    Route(
        "/webhooks/{carrier}/{auth_id}/{action}",
        "Webhooks",
        (
            Operation("POST", "carrierWebhook", "A carrier's request about a call or a text message"),
            Operation(
                "GET", "carrierWebhookGet", "A carrier's request about a call, as Plivo may be set up to"
            ),
        ),
        as_called=True,
    ),
    Route(
        "/sip/route",
        "SIP",
        (
            Operation("GET", "sipRoute", "Whom a new SIP call goes to (asked by the SIP proxy)"),
            Operation("POST", "sipRoutePost", "Whom a new SIP call goes to (asked by the SIP proxy)"),
        ),
    ),
    Route(
        "/sip/event",
        "SIP",
        (Operation("POST", "sipEvent", "The callee answered, or the call ended (told by the SIP proxy)"),),
    ),
    Route(
        "/healthz", "Operator", (Operation("GET", "healthz", "The process answers, and says its version"),)
    ),
    Route("/readyz", "Operator", (Operation("GET", "readyz", "The process can reach its database"),)),
    Route(
        "/metrics",
        "Operator",
        (Operation("GET", "metrics", "Prometheus metrics: counters, live sessions, pool capacity plans"),),
    ),
    Route("/openapi.json", "Operator", (Operation("GET", "openapi", "This document"),)),
    # The operator console; its POSTs carry the sign-in's CSRF token (docs/console.md).
    Route(
        "/console", "Console", (Operation("GET", "consoleHome", "The console's first page"),), console=True
    ),
    Route(
        "/console/sign-in",
        "Console",
        (
            Operation("GET", "consoleSignInForm", "The sign-in form"),
            Operation("POST", "consoleSignIn", "Sign in with an account's auth_id and auth_token"),
        ),
        console=True,
    ),
    Route(
        "/console/sign-out",
        "Console",
        (Operation("POST", "consoleSignOut", "End the sign-in"),),
        console=True,
    ),
    Route(
        "/console/sessions",
        "Console",
        (
            Operation("GET", "consoleSessions", "The newest sessions"),
            Operation("POST", "consoleSessionSearch", "Sessions found by the filters of the form"),
        ),
        console=True,
        nav="Sessions",
    ),
    Route(
        "/console/sessions/{session_uuid}",
        "Console",
        (Operation("GET", "consoleSession", "A session: settings, calls, messages, callbacks"),),
        console=True,
    ),
    Route(
        "/console/sessions/{session_uuid}/reveal",
        "Console",
        (Operation("POST", "consoleReveal", "Show one of a session's numbers in full, and record it"),),
        console=True,
    ),
    Route(
        "/console/lookup",
        "Console",
        (
            Operation("GET", "consoleLookupForm", "The who-called-whom form"),
            Operation("POST", "consoleLookup", "Who a caller reached through a virtual number near a time"),
        ),
        console=True,
        nav="Lookup",
    ),
    Route(
        "/console/pools",
        "Console",
        (
            Operation(
                "GET", "consolePools", "The pools, the one that runs out first first, with their history"
            ),
        ),
        console=True,
        nav="Pools",
    ),
    Route(
        "/console/pools/done",
        "Console",
        (Operation("GET", "consoleNumbersDone", "What the last number action did"),),
        console=True,
    ),
    Route(
        "/console/pools/add",
        "Console",
        (Operation("POST", "consoleAddNumbers", "Put numbers in service, once confirmed"),),
        console=True,
    ),
    Route(
        "/console/pools/retire",
        "Console",
        (Operation("POST", "consoleRetireNumber", "Retire a number, once confirmed"),),
        console=True,
    ),
    Route(
        "/console/pools/replace",
        "Console",
        (Operation("POST", "consoleReplaceNumber", "Replace a number, once confirmed"),),
        console=True,
    ),
    Route(
        "/console/carrier",
        "Console",
        (Operation("GET", "consoleCarrier", "The carrier and the webhook URLs to set at it"),),
        console=True,
        nav="Carrier",
    ),
    Route(
        "/console/static/console.css",
        "Console",
        (Operation("GET", "consoleStyle", "The console's style sheet"),),
        console=True,
    ),
)


Matcher = tuple[Callable[[str], "re.Match[str] | None"], dict[str, tuple[Route, tuple[tuple[str, int], ...]]]]


def _matcher(routes: tuple[Route, ...]) -> Matcher:
    """One expression for ``routes``: a trie of their paths' segments, in which an empty group
    named after a route ends its alternative; and by that name, the route and the group of each
    of its parameters."""
    trie: dict[Any, Any] = {}
    for index, route in enumerate(routes):
        template = route.path.rstrip("/") if route.api else route.path  # the front strips it
        node = trie
        for segment in template.split("/")[1:]:
            node = node.setdefault(segment, {})
        node[index] = None
    found: dict[str, tuple[Route, tuple[tuple[str, int], ...]]] = {}
    groups = 0

    def pattern(node: dict[Any, Any], parameters: tuple[tuple[str, int], ...]) -> str:
        nonlocal groups
        alternatives = []
        for key in sorted(node, key=lambda k: isinstance(k, int)):  # a route's end last
            if isinstance(key, int):
                groups += 1
                found[f"r{key}"] = (routes[key], parameters)
                alternatives.append(f"(?P<r{key}>)")
            elif parameter := _PARAMETER.fullmatch(key):
                groups += 1
                alternatives.append("/([^/]+)" + pattern(node[key], (*parameters, (parameter[1], groups))))
            else:
                alternatives.append("/" + re.escape(key) + pattern(node[key], parameters))
        return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"

    return re.compile(pattern(trie, ())).fullmatch, found


def _found(matcher: Matcher, path: str) -> tuple[Route, dict[str, str]] | None:
    match = matcher[0](path)
    if match is None:
        return None
    route, parameters = matcher[1][match.lastgroup]  # type: ignore[index]
    return route, {name: match[group] for name, group in parameters}


class RouteTable:
    """Finds the route of a path and its parameters."""

    def __init__(self, routes: tuple[Route, ...] = ROUTES) -> None:
        self.routes = routes
        self._as_called = tuple(r.path.split("{")[0] for r in routes if r.as_called)
        # perf: one match of one expression on every request, instead of one per route, and
        # the API front's of the Masking API's routes alone, which other paths fail at once
        # (docs/benchmarks.md, "Where the Session API's time goes")
        self._api = _matcher(tuple(r for r in routes if r.api))
        self._all = _matcher(routes)

    def normalise(self, path: str) -> str:
        """``path`` with each run of ``/`` made one and no trailing one (docs/api.md, "Paths and
        slashes"; never a redirect); a path that must be taken as called is left as it is."""
        if (path.endswith("/") or "//" in path) and not path.startswith(self._as_called):
            return collapse_slashes(path).rstrip("/") or "/"
        return path

    def api(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The Masking API's route of a normalised path, and its parameters."""
        return _found(self._api, path)

    def find(self, path: str) -> tuple[Route, dict[str, str]] | None:
        """The route of a normalised path, and its parameters."""
        return _found(self._all, path)

    def name(self, path: str) -> tuple[str, str]:
        """The route template of ``path`` (``other`` for a path no route serves) and the account
        it names, for metrics and logs, which never show the path itself."""
        found = self.find(self.normalise(path))
        if found is None:
            return "other", ""
        route, parameters = found
        return route.path, parameters.get("auth_id", "")


TABLE = RouteTable(ROUTES)
route_of = TABLE.name
