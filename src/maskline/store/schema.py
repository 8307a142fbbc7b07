"""The database schema, defined once with SQLAlchemy Core for every backend.

Queries on the request path are hand-written SQL on the raw driver (SQLAlchemy is used for the
schema and its migrations only: it costs too much per statement). Times are whole epoch seconds.
A change here needs a migration in ``migrations/versions`` (a test compares the two).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
    true,
)

metadata = MetaData()

# A row id: 64 bits on PostgreSQL; on SQLite an INTEGER PRIMARY KEY, which is the rowid.
RowId = BigInteger().with_variant(Integer(), "sqlite")

accounts = Table(
    "accounts",
    metadata,
    Column("auth_id", String(20), primary_key=True),
    Column("parent_id", String(20), ForeignKey("accounts.auth_id"), nullable=True),
    Column("token_hash", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
)

numbers = Table(
    "numbers",
    metadata,
    Column("id", Integer, primary_key=True),  # also the number's rank for first-fit
    Column("number", String(20), nullable=False, unique=True),
    Column("main_id", String(20), ForeignKey("accounts.auth_id"), nullable=False),
    Column("pool_id", String(20), ForeignKey("accounts.auth_id"), nullable=False),
    Column("country", String(2), nullable=False),
    Column("state", String(16), nullable=False),
    Column("added", BigInteger, nullable=False),
    Column("last_used", BigInteger, nullable=False, default=0),
    Index("ix_numbers_pool", "pool_id", "state", "country"),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("account_id", String(20), ForeignKey("accounts.auth_id"), nullable=False),
    Column("main_id", String(20), nullable=False),
    Column("first_party", String(20), nullable=False),
    Column("second_party", String(20), nullable=False),
    Column("virtual_number", String(20), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("modified", BigInteger, nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("cooloff_until", BigInteger, nullable=False),  # expiry + cool-off period
    Column("calls_live", Integer, nullable=False, default=0),
    Column("total_call_count", Integer, nullable=False, default=0),
    Column("total_call_billed_duration", Integer, nullable=False, default=0),
    Column("last_interaction", BigInteger, nullable=True),
    Column("last_counterpart", String(20), nullable=False, server_default=""),
    Column("message_count", Integer, nullable=False, server_default=text("0")),
    Column("settings", Text, nullable=False),  # JSON of SessionSettings
    # What an unknown caller on the number may meet: a PIN prompt, an unknown_caller_play.
    Column("pin", Boolean, nullable=False, server_default=false()),
    Column("prompt", Boolean, nullable=False, server_default=false()),
    Index("ix_sessions_main_created", "main_id", "created"),
    Index("ix_sessions_number_end", "virtual_number", "cooloff_until"),
    Index("ix_sessions_expiry", "expiry"),
    # an account's sessions by their end: how long its latest ones lasted (quarantine weighs it)
    Index("ix_sessions_pool_end", "account_id", "expiry", "id"),
)

Index(
    "ix_sessions_pin",
    sessions.c.virtual_number,
    sessions.c.expiry,
    sqlite_where=sessions.c.pin,
    postgresql_where=sessions.c.pin,
)
Index(
    "ix_sessions_prompt",
    sessions.c.virtual_number,
    sessions.c.created,
    sqlite_where=sessions.c.prompt,
    postgresql_where=sessions.c.prompt,
)

# The carrier that serves an account's numbers, and what it signs webhooks with.
carriers = Table(
    "carriers",
    metadata,
    Column("account_id", String(20), ForeignKey("accounts.auth_id"), primary_key=True),
    Column("carrier", String(16), nullable=False),  # plivo | twilio
    Column("auth_token", Text, nullable=False),  # the carrier's token: needed to check HMACs
    Column("carrier_auth_id", String(64), nullable=False),
    Column("public_url", Text, nullable=False),
)

# One row per call to (or placed for) a virtual number: the interaction log.
calls = Table(
    "calls",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("account_id", String(20), nullable=False),
    Column("call_id", String(64), nullable=False),  # the carrier's id of the caller's leg
    Column("session_uuid", String(36), nullable=True),  # prompting, then connected session
    Column("virtual_number", String(20), nullable=False),
    Column("caller", String(20), nullable=False),
    Column("callee", String(20), nullable=False, server_default=""),
    Column("caller_is_first", Boolean, nullable=False, server_default=true()),
    Column("state", String(16), nullable=False),
    Column("pin_attempts", Integer, nullable=False, server_default=text("0")),
    Column("started", BigInteger, nullable=False),
    Column("answered", BigInteger, nullable=True),  # the dialled party answered
    Column("ended", BigInteger, nullable=True),
    Column("a_leg", Text, nullable=False, server_default=""),  # resource URLs of the two legs
    Column("b_leg", Text, nullable=False, server_default=""),
    Column("a_status", String(32), nullable=False, server_default=""),
    Column("b_status", String(32), nullable=False, server_default=""),
    Column("recording_url", Text, nullable=False, server_default=""),
    Column("duration", Integer, nullable=False, server_default=text("0")),
    Column("billed", Integer, nullable=False, server_default=text("0")),
    Index("ux_calls_call_id", "account_id", "call_id", unique=True),
    Index("ix_calls_session", "session_uuid"),
    Column("deadline", BigInteger, nullable=True),
    Index("ix_calls_started", "started"),
    Column("b_cause", String(40), nullable=False, server_default=""),  # why the dialled leg ended
    Index("ix_calls_number_started", "virtual_number", "started"),  # a number's calls in a window
)
Index(
    "ix_calls_live_deadline",
    calls.c.deadline,
    sqlite_where=calls.c.state.in_(["dialling", "bridged"]),
    postgresql_where=calls.c.state.in_(["dialling", "bridged"]),
)

# The outbox of session events for customers' callback URLs, delivered at least once.
events = Table(
    "events",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("account_id", String(20), nullable=False),
    Column("session_uuid", String(36), nullable=False),
    Column("sequence", Integer, nullable=False),  # SequenceNumber: per session, from 1
    Column("url", Text, nullable=False),
    Column("method", String(8), nullable=False),
    Column("payload", Text, nullable=False),  # JSON object of the form fields
    Column("dedup", String(64), nullable=True, unique=True),
    Column("pending", Boolean, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt", BigInteger, nullable=False),
    Column("delivered", BigInteger, nullable=True),
    Column("last_error", Text, nullable=False, server_default=""),
    Column("created", BigInteger, nullable=False),
    Index("ux_events_sequence", "session_uuid", "sequence", unique=True),
    Index("ix_events_created", "created"),
)
Index(
    "ix_events_due",
    events.c.next_attempt,
    sqlite_where=events.c.pending,
    postgresql_where=events.c.pending,
)

# One row per key a session holds on its virtual number (allocation spec §9), while it holds
# it: the primary key is the allocation guard (no key held twice on one number) and, read by
# party, what a party holds. Only held rows live here, so that a create writes one entry per
# key; a hold that ends moves to ``departures``.
holds = Table(
    "holds",
    metadata,
    Column("party", String(24), primary_key=True),
    Column("virtual_number", String(20), primary_key=True),
    Column("session_id", RowId, ForeignKey("sessions.id"), nullable=False),
    Column("ends_at", BigInteger, nullable=False),  # the session's expiry
    Column("hold_until", BigInteger, nullable=False),  # expiry plus per-party cool-off
    Index("ix_holds_session", "session_id"),  # ids only grow: appended, never written at random
    sqlite_with_rowid=False,
)

# When each party left each number (the quarantine policy weighs it), a row per hold that ended:
# keyed by time within the party, so that a departure is appended where the party's newest are and
# the party's most recent departures are one range of the key.
departures = Table(
    "departures",
    metadata,
    Column("party", String(24), primary_key=True),
    Column("ends_at", BigInteger, primary_key=True),
    Column("virtual_number", String(20), primary_key=True),
    Index("ix_departures_ends", "ends_at"),  # what the purge drops, found without a scan
    sqlite_with_rowid=False,
)


# Named values shared by every process on the database: the revision of the number pools
# (cached pools are read again when it moves) and how far the sweep has gone.
counters = Table(
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)
COUNTERS = ("numbers", "swept_until")  # the rows the first migration puts in

# Who asked to receive no more messages from which number (docs/messages.md, "Opting out"): a
# row per (party, virtual number), from their STOP until their START.
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("party", String(20), primary_key=True),
    Column("virtual_number", String(20), primary_key=True),
    Column("since", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# The nonces of the message webhooks' signatures already taken, per account: Plivo's message
# signature covers the URL and the nonce, not the form, so each nonce is good once
# (docs/security.md, "Webhook signatures").
webhook_nonces = Table(
    "webhook_nonces",
    metadata,
    Column("account_id", String(20), primary_key=True),
    Column("nonce", String(64), primary_key=True),
    Column("seen", BigInteger, nullable=False),
    Index("ix_webhook_nonces_seen", "seen"),  # what the purge drops, found without a scan
    sqlite_with_rowid=False,
)

# One row per text relayed through a session or sent into it by the business: the session's
# message interactions (docs/messages.md, "Messages in a session"). ``body`` stays NULL unless
# the operator keeps bodies (MASKLINE_MESSAGE_RETAIN_BODIES); the rows go with their session.
messages = Table(
    "messages",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("account_id", String(20), nullable=False),  # whose carrier carried it
    Column("message_id", String(64), nullable=False),  # the carrier's id
    Column("session_uuid", String(36), nullable=False),
    Column("virtual_number", String(20), nullable=False),
    Column("direction", String(8), nullable=False),  # relayed | sent
    Column("from_party", String(16), nullable=False),
    Column("to_party", String(16), nullable=False),
    Column("sender", String(20), nullable=False),
    Column("recipient", String(20), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("updated", BigInteger, nullable=True),
    Column("segments", Integer, nullable=True),
    Column("media", Integer, nullable=False, server_default=text("0")),
    Column("body", Text, nullable=True),
    Index("ux_messages_message_id", "account_id", "message_id", unique=True),
    Index("ix_messages_session", "session_uuid"),
)

# The operator console (docs/console.md): one row per signed-in browser, keyed by the hash of
# the random token its cookie carries, so that signing out (or expiry) ends it for good.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("auth_id", String(20), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("last_seen", BigInteger, nullable=False),
    # what the sign-in's last number action did (JSON, numbers masked), until its page shows it
    Column("notice", Text, nullable=True),
    Index("ix_console_sessions_last_seen", "last_seen"),
)

# The secret console cookies are signed with, made by the first process that needs it and read
# by every other (unless the operator sets MASKLINE_CONSOLE_SECRET).
console_secrets = Table(
    "console_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("secret", Text, nullable=False),
)

# Who revealed which full number of which session, and when: the console's audit of reveals.
console_reveals = Table(
    "console_reveals",
    metadata,
    Column("id", RowId, primary_key=True),
    Column("auth_id", String(20), nullable=False),
    Column("session_uuid", String(36), nullable=False),
    Column("field", String(16), nullable=False),  # first_party, second_party or virtual_number
    Column("at", BigInteger, nullable=False),
    Index("ix_console_reveals_at", "at"),
)
