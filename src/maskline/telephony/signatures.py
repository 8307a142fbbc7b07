"""Webhook signatures, checked with the carriers' own validators before anything else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from plivo.utils import validate_v3_signature
from plivo.utils.signature_v3 import construct_get_url, construct_post_url, get_signature_v3
from twilio.request_validator import RequestValidator

Params = Mapping[str, str | list[str]]


def plivo_valid(method: str, url: str, params: Params, headers: Mapping[str, str], token: str) -> bool:
    """Plivo's V3 scheme: ``X-Plivo-Signature-V3`` over the URL, the nonce and the form."""
    signature = headers.get("x-plivo-signature-v3", "")
    nonce = headers.get("x-plivo-signature-v3-nonce", "")
    if not signature or not nonce or method not in ("GET", "POST"):
        return False
    try:
        return bool(validate_v3_signature(method, url, nonce, token, signature, dict(params)))
    except Exception:  # a malformed header or URL is just a bad signature
        return False


MAX_NONCE = 64  # longer than any nonce Plivo sends (20 digits): refused, not stored


def plivo_message_nonce(
    method: str, url: str, params: Params, headers: Mapping[str, str], token: str
) -> str | None:
    """The nonce of a Plivo message callback's valid signature, None if it has none.

    Plivo signs message callbacks with the V2 scheme (``X-Plivo-Signature-V2``, or
    ``X-Plivo-Signature-Ma-V2`` made with the same token by a main account): HMAC-SHA256 over the
    URL without its query and the nonce, what ``plivo.utils.validate_signature`` checks. It
    does not cover the form: the caller takes each nonce once (docs/security.md). A V3
    signature, which does cover it, is taken as well."""
    if plivo_valid(method, url, params, headers, token):
        nonce = headers.get("x-plivo-signature-v3-nonce", "")
        return nonce if len(nonce) <= MAX_NONCE else None
    nonce = headers.get("x-plivo-signature-v2-nonce", "")
    signatures = [headers.get("x-plivo-signature-v2", ""), headers.get("x-plivo-signature-ma-v2", "")]
    if not nonce or len(nonce) > MAX_NONCE or not any(signatures):
        return None
    expected = plivo_v2_signature(url, nonce, token)
    for signature in signatures:
        # compared in constant time (the SDK's validate_signature compares with ==)
        if signature and hmac.compare_digest(signature.encode("utf-8", "replace"), expected.encode()):
            return nonce
    return None


def plivo_v2_signature(url: str, nonce: str, token: str) -> str:
    """Plivo's V2 signature of ``url`` (its query left out) with ``nonce``."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    digest = hmac.new(token.encode(), (base + nonce).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def twilio_valid(url: str, params: Params, headers: Mapping[str, str], token: str) -> bool:
    """Twilio's ``X-Twilio-Signature``: HMAC-SHA1 over the URL and the sorted form."""
    signature = headers.get("x-twilio-signature", "")
    if not signature:
        return False
    try:
        return bool(RequestValidator(token).validate(url, dict(params), signature))
    except Exception:
        return False


def plivo_sign(method: str, url: str, params: Params, token: str) -> dict[str, str]:
    """Headers that sign a request the way Plivo signs its callbacks, so that receivers can
    check them with ``plivo.utils.validate_v3_signature``."""
    nonce = secrets.token_hex(12)
    flat = dict(params)
    base = construct_post_url(url, flat) if method == "POST" else construct_get_url(url, flat)
    signature = get_signature_v3(token, base.decode("utf-8"), nonce).decode("ascii")
    return {"X-Plivo-Signature-V3": signature, "X-Plivo-Signature-V3-Nonce": nonce}
