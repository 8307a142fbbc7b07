"""Webhook signatures, checked with the carriers' own validators before anything else."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

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
