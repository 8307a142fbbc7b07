"""The error catalogue: one class per error, each with its status, a stable code and a message
that renders; and no error text, nor any comparison of errors, anywhere else in the code."""

from __future__ import annotations

import ast
import inspect
import re
import string
from pathlib import Path

import pytest

import maskline
from maskline.domain import errors
from maskline.domain.errors import MaskingError

SRC = Path(maskline.__file__).parent
CATALOGUE = SRC / "domain" / "errors.py"
SAMPLES: dict[str, object] = {
    "field": "first_party",
    "auth_id": "MA" + "A" * 18,
    "number": "+14155550100",
    "country": "ZZ",
    "limit": 65536,
    "days": 30,
}


def _every_subclass(cls: type[MaskingError]) -> list[type[MaskingError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_every_subclass(sub)]
    return found


ERRORS = [cls for cls in _every_subclass(MaskingError) if not cls.__name__.startswith("_")]


def _sample(cls: type[MaskingError]) -> MaskingError:
    names = list(inspect.signature(cls).parameters)
    return cls(*(SAMPLES[name] for name in names))


def test_every_error_is_public_and_every_public_name_an_error() -> None:
    assert sorted(errors.__all__) == sorted(["MaskingError", *(cls.__name__ for cls in ERRORS)])
    assert len(ERRORS) == len(set(ERRORS)) > 40


@pytest.mark.parametrize("cls", ERRORS, ids=lambda cls: cls.__name__)
def test_each_error_has_a_status_a_code_and_a_message(cls: type[MaskingError]) -> None:
    assert 400 <= cls.status <= 599
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", cls.code)
    assert {"status", "code", "template"} <= set(vars(cls))  # said by the class itself, not inherited
    error = _sample(cls)
    blanks = {name for _, name, _, _ in string.Formatter().parse(cls.template) if name}
    assert blanks == set(inspect.signature(cls).parameters)  # each argument is said, and only those
    assert error.message and "{" not in error.message and "}" not in error.message
    for value in error.args:
        assert str(value) in error.message
    assert str(error) == error.message
    assert error.args == tuple(SAMPLES[name] for name in inspect.signature(cls).parameters)
    assert error.retry_after is None or (error.status == 503 and error.retry_after > 0)


def test_codes_are_distinct() -> None:
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes))


def test_errors_are_told_apart_by_type_alone() -> None:
    # Two errors saying the same thing are still two errors: nothing compares them by value.
    assert errors.PoolExhausted() != errors.PoolExhausted()
    error = errors.OutOfRange("pin_retry")
    assert error.message == "Invalid parameter. pin_retry is outside the allowed range."
    with pytest.raises(errors.PoolExhausted):
        raise errors.PoolExhausted()


# -- the rest of the code --------------------------------------------------------------------------
def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(SRC.rglob("*.py"))]


def _names_the_catalogue(node: ast.AST) -> bool:
    """Whether ``node`` is (or calls, or reads from) an error of the catalogue."""
    for part in ast.walk(node):
        if isinstance(part, ast.Attribute) and isinstance(part.value, ast.Name) and part.value.id == "errors":
            return True
        if isinstance(part, ast.Name) and part.id == "MaskingError":
            return True
        if isinstance(part, ast.Attribute) and part.attr in ("message", "template", "code"):
            return True
    return False


def _text(node: ast.AST | None) -> bool:
    """Whether ``node`` is written-out text: a string or bytes literal, or an f-string."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (str, bytes)) and bool(node.value)
    return isinstance(node, ast.JoinedStr)


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _written_error_text(tree: ast.Module) -> list[int]:
    """Lines that write an error's text in place: a response whose body is literal text, an
    ``"error"`` entry holding literal text, words as bytes (which only a reply written to the
    socket needs), or an exception of the web framework's."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes) and b" " in node.value:
            lines.append(node.lineno)
        if isinstance(node, ast.Call):
            callee = _callee(node)
            body = node.args[0] if node.args else None
            body = next((k.value for k in node.keywords if k.arg in ("content", "body")), body)
            if callee.endswith(("Response", "Reply", "_response")) and _text(body):
                lines.append(node.lineno)
            if callee in ("HTTPException", "WebSocketException"):
                lines.append(node.lineno)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "error" and _text(value):
                    lines.append(node.lineno)
    return sorted(lines)


def test_no_error_text_is_written_outside_the_catalogue() -> None:
    found = {
        str(path.relative_to(SRC)): lines
        for path, tree in _modules()
        if path != CATALOGUE and (lines := _written_error_text(tree))
    }
    assert found == {}


def test_the_scan_sees_error_text_written_in_place() -> None:
    tree = ast.parse(
        'Response("Forbidden", 403)\n'
        'PlainTextResponse(f"{name} refused", status_code=403)\n'
        'reply({"error": "Session not found"}, 404)\n'
        "raise HTTPException(404)\n"
        'reply({"error": errors.SessionNotFound().message}, 404)\n'
        'JSONResponse({"status": "ok"})\n'
        '_TIMEOUT = (408, b"Request timeout")\n'
        'head = [(b"content-type", b"text/plain")]\n'
    )
    assert _written_error_text(tree) == [1, 2, 3, 4, 7]


_EQUALITY = (ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Is, ast.IsNot)


def _operands(node: ast.AST) -> list[ast.expr]:
    """The operands of an equality or membership test; none of anything else."""
    if isinstance(node, ast.Compare) and any(isinstance(op, _EQUALITY) for op in node.ops):
        return [node.left, *node.comparators]
    return []


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(part, ast.Name) and part.id == name for part in ast.walk(node))


def _comparisons_of_errors(tree: ast.Module) -> list[int]:
    """Lines that compare an error of the catalogue (or its words), or an exception caught as a
    name (``except X as error: if error.status == 404``), with anything."""
    lines = {node.lineno for node in ast.walk(tree) if any(map(_names_the_catalogue, _operands(node)))}
    for handler in ast.walk(tree):
        if isinstance(handler, ast.ExceptHandler) and handler.name:
            for node in (part for statement in handler.body for part in ast.walk(statement)):
                if any(_mentions(operand, handler.name) for operand in _operands(node)):
                    lines.add(node.lineno)
    return sorted(lines)


def test_nothing_compares_errors() -> None:
    """Errors are caught by type: none is compared with another, nor told apart by its words."""
    found = {
        str(path.relative_to(SRC)): lines
        for path, tree in _modules()
        if (lines := _comparisons_of_errors(tree))
    }
    assert found == {}


def test_the_scan_sees_errors_compared() -> None:
    tree = ast.parse(
        "error == errors.pool_exhausted()\n"
        "error.message != text\n"
        "isinstance(error, errors.PoolExhausted)\n"
        "error.code in codes\n"
        "try:\n"
        "    retire()\n"
        "except MaskingError as error:\n"
        "    if error.status == 404:\n"
        "        raise NumberNotFound() from None\n"
        "    if status == 404:\n"
        "        raise\n"
    )
    assert _comparisons_of_errors(tree) == [1, 2, 4, 8]


def test_every_error_of_the_catalogue_is_said_somewhere() -> None:
    used = {
        node.attr
        for _, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "errors"
    }
    assert sorted(cls.__name__ for cls in ERRORS if cls.__name__ not in used) == []
