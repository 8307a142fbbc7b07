"""The framework internals maskline relies on for speed or for limits, pinned: when an upgrade
of uvicorn, Starlette or Python changes one, a test here fails and names what to look at."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
import textwrap
from typing import Any

from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from maskline.edge import EdgeProtocol
from maskline.http.wire import JsonReply

# What maskline.edge reads or calls of uvicorn's protocol beyond its public hooks.
UVICORN_INTERNALS = (
    "parser", "flow", "url", "headers", "expect_100_continue", "timeout_keep_alive",
    "timeout_keep_alive_task", "timeout_keep_alive_handler", "pipeline", "cycle", "transport",
    "loop", "logger", "_unset_keepalive_if_required", "_should_upgrade", "handle_websocket_upgrade",
    "_unsupported_upgrade_warning", "send_400_response",
)  # fmt: skip


def test_uvicorn_still_has_what_the_edge_uses_of_its_protocol() -> None:
    source = inspect.getsource(HttpToolsProtocol)
    missing = [
        name for name in UVICORN_INTERNALS if f"self.{name}" not in source and f"def {name}(" not in source
    ]
    assert missing == []


def test_uvicorn_reads_the_url_and_headers_as_the_edge_inlines_it() -> None:
    """The edge's on_url and on_header do what uvicorn's do, after counting: uvicorn's own must
    be what was inlined."""
    assert _body(HttpToolsProtocol.on_url) == ["self.url += url"]
    assert _body(HttpToolsProtocol.on_header) == [
        "name = name.lower()",
        'if name == b"expect" and value.lower() == b"100-continue":',
        "self.expect_100_continue = True",
        "self.headers.append((name, value))",
    ]
    for hook in ("on_url", "on_header", "on_headers_complete", "on_message_complete", "data_received"):
        assert hook in vars(EdgeProtocol) and hasattr(HttpToolsProtocol, hook), hook


def _body(method: Any) -> list[str]:
    lines = textwrap.dedent(inspect.getsource(method)).splitlines()[1:]
    return [line.strip() for line in lines if line.strip()]


def test_a_json_reply_built_without_response_init_is_sent_as_starlette_sends_one() -> None:
    """JsonReply sets the four attributes Response.__call__ reads instead of calling
    Response.__init__ (which builds its headers the general way)."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    body = b'{"api_id":"x","error":"e"}'
    asyncio.run(JsonReply(body, 400)({"type": "http", "method": "GET"}, receive, send))
    assert sent == [
        {
            "type": "http.response.start",
            "status": 400,
            "headers": [(b"content-length", b"%d" % len(body)), (b"content-type", b"application/json")],
        },
        {"type": "http.response.body", "body": body},
    ]
    starlette = Response(body, 400, media_type="application/json")
    assert sorted(starlette.raw_headers) == sorted(JsonReply(body, 400).raw_headers)


def test_logging_still_skips_the_caller_lookup_when_told_to() -> None:
    """maskline.telemetry sets logging._srcfile to None so that no record looks up its caller."""
    probe = (
        "import logging\n"
        "from maskline.telemetry import configure_logging\n"
        "assert hasattr(logging, '_srcfile')\n"
        "configure_logging()\n"
        "record = []\n"
        "logger = logging.getLogger('maskline.probe')\n"
        "logger.handlers[:] = []\n"
        "logger.propagate = False\n"
        "class Keep(logging.Handler):\n"
        "    def emit(self, r): record.append(r)\n"
        "logger.addHandler(Keep())\n"
        "logger.warning('x')\n"
        "print(record[0].funcName, record[0].lineno)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["(unknown", "function)", "0"]
