"""Settings from the environment: defaults, values, and a clear error for a bad one."""

from __future__ import annotations

import pytest

from maskline.config import DEFAULT_DATABASE_URL, Config, ConfigError
from maskline.domain.allocation import CooloffScope, Policy
from maskline.domain.messages import DEFAULT_HELP


def test_defaults_when_nothing_is_set() -> None:
    config = Config.from_env({})
    assert config.database_url == DEFAULT_DATABASE_URL
    assert (config.db_pool_size, config.retention_days, config.cooloff_scope) == (
        10,
        90,
        CooloffScope.PER_PARTY,
    )
    assert config.sqlite_durable  # answered writes survive power loss unless the operator says
    # Late calls to an old number reach no stranger unless the operator chooses otherwise.
    assert config.policy is Config().policy is Policy.QUARANTINE
    assert Config.from_env({"MASKLINE_ALLOCATION_POLICY": "first_fit"}).policy is Policy.FIRST_FIT
    assert not Config.from_env({"MASKLINE_SQLITE_SYNC": "normal"}).sqlite_durable
    # Numbers flagged unhealthy are reported; replacing them is the operator's choice.
    assert not config.replace_unhealthy_numbers
    assert Config.from_env({"MASKLINE_REPLACE_UNHEALTHY_NUMBERS": "1"}).replace_unhealthy_numbers


def test_message_replies() -> None:
    config = Config.from_env({})
    assert config.message_help == DEFAULT_HELP  # HELP is always answered
    assert config.message_unknown_sender_reply == ""  # an unknown sender hears nothing unless set
    env = {
        "MASKLINE_MESSAGE_HELP": " Acme: help at acme.example ",
        "MASKLINE_MESSAGE_UNKNOWN_SENDER_REPLY": "No.",
    }
    config = Config.from_env(env)
    assert (config.message_help, config.message_unknown_sender_reply) == ("Acme: help at acme.example", "No.")
    assert Config.from_env({"MASKLINE_MESSAGE_HELP": "  "}).message_help == DEFAULT_HELP
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"MASKLINE_MESSAGE_UNKNOWN_SENDER_REPLY": "x" * 1601})
    assert (
        str(refused.value)
        == "MASKLINE_MESSAGE_UNKNOWN_SENDER_REPLY should be at most 1600 characters, not 1601"
    )


def test_values_and_overrides() -> None:
    env = {
        "MASKLINE_DB_POOL_SIZE": "25",
        "MASKLINE_COOLOFF_SCOPE": "global",
        "MASKLINE_DATABASE_URL": "sqlite:///a.db",
    }
    config = Config.from_env(env, database_url="postgresql://db/maskline")
    assert (config.db_pool_size, config.cooloff_scope) == (25, CooloffScope.GLOBAL)
    assert config.database_url == "postgresql://db/maskline"  # --database wins over the environment


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "MASKLINE_DB_POOL_SIZE",
            "0",
            "MASKLINE_DB_POOL_SIZE should be a whole number from 1 to 1000, not '0'",
        ),
        (
            "MASKLINE_DB_POOL_SIZE",
            "ten",
            "MASKLINE_DB_POOL_SIZE should be a whole number from 1 to 1000, not 'ten'",
        ),
        (
            "MASKLINE_COOLOFF_SCOPE",
            "some",
            "MASKLINE_COOLOFF_SCOPE should be one of per_party, global, not 'some'",
        ),
        (
            "MASKLINE_TRUSTED_PROXIES",
            "10.0.0.0/8,nonsense",
            "MASKLINE_TRUSTED_PROXIES should list addresses or networks (CIDR), not 'nonsense'",
        ),
        ("MASKLINE_SQLITE_SYNC", "off", "MASKLINE_SQLITE_SYNC should be one of full, normal, not 'off'"),
    ],
)
def test_a_bad_value_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({name: value})
    assert str(refused.value) == message


def test_edge_limits_from_the_environment() -> None:
    from maskline.edge import EdgeLimits

    assert EdgeLimits.of(Config.from_env({})) == EdgeLimits()  # the defaults agree
    env = {
        "MASKLINE_MAX_CONNECTIONS_PER_ADDRESS": "0",
        "MASKLINE_MAX_HEADER_BYTES": "32768",
        "MASKLINE_HEADER_TIMEOUT": "3",
        "MASKLINE_BODY_TIMEOUT": "30",
        "MASKLINE_KEEPALIVE_TIMEOUT": "2",
    }
    env["MASKLINE_TRUSTED_PROXIES"] = "10.0.0.0/8,fd00::/8"  # a proxy's clients share its address
    limits = EdgeLimits.of(Config.from_env(env))
    assert (limits.per_address, limits.max_header_bytes) == (0, 32768)
    assert (limits.header_timeout, limits.body_timeout, limits.keepalive_timeout) == (3, 30, 2)
    assert [str(n) for n in limits.exempt] == ["10.0.0.0/8", "fd00::/8"]
    with pytest.raises(ConfigError, match="MASKLINE_MAX_HEADER_BYTES should be a whole number from 1024"):
        Config.from_env({"MASKLINE_MAX_HEADER_BYTES": "100"})
