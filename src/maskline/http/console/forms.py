"""Console forms: ``application/x-www-form-urlencoded`` bodies read within a size limit and parsed
with the standard library."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from maskline.bodies import read_bounded

MAX_FORM = 16384  # bytes: the console's forms are a few short fields
MAX_FIELDS = 32


class BadForm(Exception):
    """A body that is too large, has too many fields, or is not a form."""


async def read_form(request: Request, limit: int = MAX_FORM) -> dict[str, str]:
    """The fields of a form POST, the first value of each."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise BadForm()
    body = await read_bounded(request, limit)
    if body is None:
        raise BadForm()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise BadForm() from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form
