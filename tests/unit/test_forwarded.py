"""The client behind a reverse proxy: read from the proxy's header only when the proxy is listed,
from the right, and never from what the client wrote itself."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from maskline.http.forwarded import client_address, parse_address

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("::1/128")]
XFF = "x-forwarded-for"
public_v4 = st.ip_addresses(v=4).filter(lambda a: a.is_global).map(str)


def test_an_unlisted_peer_is_the_client_whatever_it_says() -> None:
    assert client_address("203.0.113.9", XFF, ["198.51.100.1"], PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", XFF, [], []) == "203.0.113.9"


def test_a_listed_proxy_names_the_client() -> None:
    assert client_address("10.1.2.3", XFF, ["198.51.100.1"], PROXIES) == "198.51.100.1"
    # Two proxies in a row, the client's own guess on the far left.
    assert client_address("10.1.2.3", XFF, ["1.2.3.4, 198.51.100.1, 10.9.9.9"], PROXIES) == "198.51.100.1"
    # Several header lines are one list, in order.
    assert client_address("::1", XFF, ["1.2.3.4", "198.51.100.1"], PROXIES) == "198.51.100.1"


def test_forwarded_names_the_client_in_its_for_parameter() -> None:
    value = 'for=1.2.3.4, for="[2001:db8::17]:4711";proto=https;by=10.0.0.1'
    assert client_address("10.0.0.1", "forwarded", [value], PROXIES) == "2001:db8::17"


def test_without_a_header_the_client_is_the_proxy_and_one_it_cannot_name_is_unknown() -> None:
    assert client_address("10.1.2.3", XFF, [], PROXIES) == "10.1.2.3"
    # A proxy that writes "unknown" or an obfuscated name for its client does not make that
    # client the proxy itself (which, on loopback, would pass for a local operator).
    assert client_address("::1", XFF, ["1.2.3.4, unknown"], PROXIES) == "unknown"
    assert client_address("::1", "forwarded", ["for=_hidden"], PROXIES) == "unknown"
    assert client_address("10.1.2.3", XFF, ["1.2.3.4, unknown, 10.0.0.7"], PROXIES) == "unknown"


@given(st.lists(public_v4, max_size=4), public_v4, st.lists(st.sampled_from(["10.0.0.1", "::1"]), max_size=3))
def test_what_the_client_wrote_is_never_believed(spoofed: list[str], client: str, hops: list[str]) -> None:
    """The proxy appends the address it saw; whatever the client put before it is ignored."""
    header = ", ".join([*spoofed, client, *hops])
    assert client_address("10.0.0.2", XFF, [header], PROXIES) == client


@given(st.text(max_size=40))
def test_any_text_parses_to_an_address_or_none(text: str) -> None:
    address = parse_address(text)
    assert address is None or isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
