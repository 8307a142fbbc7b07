"""Server settings, read from the environment (``MASKLINE_*``) by the CLI and the app factory."""

from __future__ import annotations

import enum
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.listing import Windows
from maskline.domain.messages import DEFAULT_HELP
from maskline.domain.params import CONFIGURABLE, Defaults, Integer

DEFAULT_DATABASE_URL = "sqlite:///./maskline.db"
_LOOPBACK = "127.0.0.1/32,::1/128"
MAX_REPLY = 1600  # the longest text a carrier sends as one message (Twilio's and Plivo's limit)


class SyncMode(enum.StrEnum):
    """When the embedded database's commits reach the disk (``MASKLINE_SQLITE_SYNC``)."""

    FULL = "full"  # before the write is answered: nothing answered is lost, even on power loss
    NORMAL = "normal"  # at checkpoints: faster; a power loss can lose the last answered writes


class ProxyHeader(enum.StrEnum):
    """The header a trusted proxy names the client in (``MASKLINE_PROXY_HEADER``)."""

    X_FORWARDED_FOR = "x-forwarded-for"
    FORWARDED = "forwarded"  # RFC 7239


class ConfigError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Config:
    database_url: str = DEFAULT_DATABASE_URL
    defaults: Defaults = field(default_factory=Defaults)
    windows: Windows = field(default_factory=Windows)
    retention_days: int = 90
    cooloff_scope: CooloffScope = CooloffScope.PER_PARTY
    policy: Policy = Policy.QUARANTINE
    sweep_interval: float = 1.0
    max_body_bytes: int = 65536
    allow_private_callbacks: bool = False
    plivo_api_url: str = ""  # e.g. https://api.plivo.com/v1/Account (the default when empty)
    twilio_api_url: str = ""
    delivery_interval: float = 0.5
    db_pool_size: int = 10  # PostgreSQL connections per process
    sqlite_durable: bool = True  # each commit is synced to disk before it is answered
    db_timeout: int = 5  # seconds a request waits for a PostgreSQL connection before its 503
    rate_limit: int = 0  # requests a second per main account; 0: no limit
    rate_burst: int = 0  # ... of which this many at once (0: twice the rate)
    auth_failures_per_minute: int = 30  # per client address; 0: no limit
    max_in_flight: int = 1000  # requests a process works on at once; more are answered 503
    max_connections: int = 4000  # open connections per process; beyond, uvicorn answers 503
    max_connections_per_address: int = 256  # open connections per client address; 0: no limit
    max_header_bytes: int = 16384  # a request's head (request line and header lines)
    header_timeout: int = 10  # seconds a request's head may take to arrive
    body_timeout: int = 20  # seconds a request's body may take to arrive, after its head
    keepalive_timeout: int = 5  # seconds an idle keep-alive connection is kept open
    sip_trunk: str = "127.0.0.1:5080"  # host[:port] the SIP proxy sends bridged calls to
    sip_secret: str = ""  # shared secret the proxy sends to /sip/*; empty: source addresses only
    sip_allow: tuple[str, ...] = tuple(_LOOPBACK.split(","))  # where /sip/* may be called from
    metrics_token: str = ""  # bearer token for /metrics; empty: loopback clients only
    trusted_proxies: tuple[str, ...] = ()  # networks whose forwarding header names the client
    proxy_header: str = "x-forwarded-for"  # the header they write: x-forwarded-for or forwarded
    plan_window: int = 86400  # seconds of history the /metrics capacity plan is made from
    plan_refresh: int = 300  # how often at most that plan (and the numbers' health) is made again
    replace_unhealthy_numbers: bool = False  # replace the numbers number health flags, every plan_refresh
    message_help: str = DEFAULT_HELP  # the answer to a HELP text
    message_unknown_sender_reply: str = ""  # the answer to a text no session takes; empty: none
    message_retain_bodies: bool = False  # keep message bodies with their session (off: never stored)
    console_idle_minutes: int = 30  # a console sign-in ends after this long without a request
    console_lifetime_hours: int = 12  # ... and this long after it began, whatever happens
    console_secret: str = ""  # signs console cookies; empty: a random one kept in the database

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Config:
        env = os.environ if env is None else env

        def integer(name: str, default: int, low: int, high: int) -> int:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            if not raw.isdigit() or not low <= int(raw) <= high:
                raise ConfigError(f"{name} should be a whole number from {low} to {high}, not {raw!r}")
            return int(raw)

        def choice(
            name: str, kind: type[CooloffScope | Policy | SyncMode | ProxyHeader], default: object
        ) -> object:
            raw = env.get(name)
            if not raw:
                return default
            try:
                return kind(raw)
            except ValueError:
                allowed = ", ".join(m.value for m in kind)
                raise ConfigError(f"{name} should be one of {allowed}, not {raw!r}") from None

        def networks(name: str, default: str) -> tuple[str, ...]:
            listed = tuple(n.strip() for n in env.get(name, default).split(",") if n.strip())
            for net in listed:
                try:
                    ipaddress.ip_network(net, strict=False)
                except ValueError:
                    raise ConfigError(
                        f"{name} should list addresses or networks (CIDR), not {net!r}"
                    ) from None
            return listed

        def text(name: str, default: str) -> str:
            raw = env.get(name)
            if raw is None:
                return default
            raw = raw.strip()
            if len(raw) > MAX_REPLY:
                raise ConfigError(f"{name} should be at most {MAX_REPLY} characters, not {len(raw)}")
            return raw or default

        def console_secret() -> str:
            raw = env.get("MASKLINE_CONSOLE_SECRET", "").strip()
            if raw and len(raw) < 32:
                raise ConfigError(f"MASKLINE_CONSOLE_SECRET should be at least 32 characters, not {len(raw)}")
            return raw

        defaults = {}
        for param in CONFIGURABLE:
            assert isinstance(param.read, Integer)  # the environment gives whole numbers
            defaults[param.name] = integer(param.env, param.default, param.read.low, param.read.high)
        values: dict[str, object] = {
            "database_url": env.get("MASKLINE_DATABASE_URL") or DEFAULT_DATABASE_URL,
            "defaults": Defaults(**defaults),
            "windows": Windows(
                default_days=integer("MASKLINE_LIST_WINDOW_DAYS", 7, 1, 365),
                max_days=integer("MASKLINE_LIST_MAX_WINDOW_DAYS", 30, 1, 365),
            ),
            "retention_days": integer("MASKLINE_RETENTION_DAYS", 90, 1, 3650),
            "db_pool_size": integer("MASKLINE_DB_POOL_SIZE", 10, 1, 1000),
            "db_timeout": integer("MASKLINE_DB_TIMEOUT", 5, 1, 600),
            "cooloff_scope": choice("MASKLINE_COOLOFF_SCOPE", CooloffScope, CooloffScope.PER_PARTY),
            "policy": choice("MASKLINE_ALLOCATION_POLICY", Policy, Policy.QUARANTINE),
            "allow_private_callbacks": env.get("MASKLINE_ALLOW_PRIVATE_CALLBACKS", "")
            in ("1", "true", "yes"),
            "sqlite_durable": choice("MASKLINE_SQLITE_SYNC", SyncMode, SyncMode.FULL) is SyncMode.FULL,
            "plivo_api_url": env.get("MASKLINE_PLIVO_API_URL", ""),
            "twilio_api_url": env.get("MASKLINE_TWILIO_API_URL", ""),
            "rate_limit": integer("MASKLINE_RATE_LIMIT", 0, 0, 1_000_000),
            "rate_burst": integer("MASKLINE_RATE_BURST", 0, 0, 1_000_000),
            "auth_failures_per_minute": integer("MASKLINE_AUTH_FAILURES_PER_MINUTE", 30, 0, 1_000_000),
            "max_in_flight": integer("MASKLINE_MAX_IN_FLIGHT", 1000, 1, 1_000_000),
            "max_connections": integer("MASKLINE_MAX_CONNECTIONS", 4000, 1, 1_000_000),
            "max_connections_per_address": integer("MASKLINE_MAX_CONNECTIONS_PER_ADDRESS", 256, 0, 1_000_000),
            "max_header_bytes": integer("MASKLINE_MAX_HEADER_BYTES", 16384, 1024, 1_048_576),
            "header_timeout": integer("MASKLINE_HEADER_TIMEOUT", 10, 1, 3600),
            "body_timeout": integer("MASKLINE_BODY_TIMEOUT", 20, 1, 3600),
            "keepalive_timeout": integer("MASKLINE_KEEPALIVE_TIMEOUT", 5, 1, 3600),
            "sip_trunk": env.get("MASKLINE_SIP_TRUNK") or "127.0.0.1:5080",
            "sip_secret": env.get("MASKLINE_SIP_SECRET", ""),
            "sip_allow": networks("MASKLINE_SIP_ALLOW", _LOOPBACK),
            "metrics_token": env.get("MASKLINE_METRICS_TOKEN", ""),
            "trusted_proxies": networks("MASKLINE_TRUSTED_PROXIES", ""),
            "proxy_header": choice("MASKLINE_PROXY_HEADER", ProxyHeader, ProxyHeader.X_FORWARDED_FOR),
            "plan_window": integer("MASKLINE_PLAN_WINDOW", 86400, 3600, 90 * 86400),
            "plan_refresh": integer("MASKLINE_PLAN_REFRESH", 300, 1, 86400),
            "replace_unhealthy_numbers": env.get("MASKLINE_REPLACE_UNHEALTHY_NUMBERS", "")
            in ("1", "true", "yes"),
            "message_help": text("MASKLINE_MESSAGE_HELP", DEFAULT_HELP),
            "message_unknown_sender_reply": text("MASKLINE_MESSAGE_UNKNOWN_SENDER_REPLY", ""),
            "message_retain_bodies": env.get("MASKLINE_MESSAGE_RETAIN_BODIES", "") in ("1", "true", "yes"),
            "console_idle_minutes": integer("MASKLINE_CONSOLE_IDLE_MINUTES", 30, 1, 24 * 60),
            "console_lifetime_hours": integer("MASKLINE_CONSOLE_LIFETIME_HOURS", 12, 1, 24 * 30),
            "console_secret": console_secret(),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
