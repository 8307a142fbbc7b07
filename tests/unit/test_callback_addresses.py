"""Which addresses a callback may reach: public ones only, and an IPv6 address that stands for
an IPv4 one (mapped, compatible, NAT64, 6to4, Teredo) is judged by the IPv4 inside."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

import pytest
from hypothesis import given
from hypothesis import strategies as st

from maskline.domain.events import embedded_ipv4, is_public_address, names_private_host

ipv4s = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
bits16 = st.integers(0, 2**16 - 1)
bits80 = st.integers(0, 2**80 - 1)


def public(v4: IPv4Address) -> bool:
    return is_public_address(str(v4))


# Non-public IPv4 addresses, drawn from the ranges an attacker aims at as well as at random.
private_ipv4s = st.one_of(
    st.sampled_from(
        [
            "127.0.0.0/8",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "169.254.0.0/16",
            "100.64.0.0/10",
            "0.0.0.0/8",
            "224.0.0.0/4",
            "240.0.0.0/4",
            "192.0.0.0/24",
            "198.18.0.0/15",
            "192.0.2.0/24",
        ]  # fmt: skip
    ).flatmap(
        lambda net: st.integers(0, ipaddress.IPv4Network(net).num_addresses - 1).map(
            lambda i, net=net: ipaddress.IPv4Network(net)[i]
        )
    ),
    ipv4s.filter(lambda v4: not public(v4)),
)
# Mostly 1.0.0.0 to 99.255.255.255 less 10.0.0.0/8, and the rest of the space filtered.
public_ipv4s = st.one_of(
    st.integers(1 << 24, (10 << 24) - 1).map(IPv4Address),
    st.integers(11 << 24, (100 << 24) - 1).map(IPv4Address),
    ipv4s.filter(public),
)


def forms(v4: IPv4Address, high: int, low: int, other: IPv4Address) -> dict[str, IPv6Address]:
    """Every IPv6 form that carries ``v4`` (``high``/``low`` fill the bits the form leaves free,
    ``other`` is the other IPv4 address of a Teredo address)."""
    n = int(v4)
    teredo = (0x20010000 << 96) | (high << 32)
    return {
        "mapped": IPv6Address((0xFFFF << 32) | n),
        "compatible": IPv6Address(n),
        "translated": IPv6Address((0xFFFF << 48) | n),
        "nat64": IPv6Address((0x64FF9B << 96) | n),
        "6to4": IPv6Address((0x2002 << 112) | (n << 80) | (low & (2**80 - 1))),
        "teredo server": IPv6Address(teredo | (n << 64) | (~int(other) & 0xFFFFFFFF)),
        "teredo client": IPv6Address(teredo | (int(other) << 64) | (~n & 0xFFFFFFFF)),
    }


@given(private_ipv4s, bits16, bits80, public_ipv4s)
def test_every_form_of_a_non_public_ipv4_is_refused(
    v4: IPv4Address, high: int, low: int, other: IPv4Address
) -> None:
    assert not is_public_address(str(v4)) and names_private_host(f"http://{v4}/cb")
    for name, v6 in forms(v4, high, low, other).items():
        assert v4 in embedded_ipv4(v6), name
        assert not is_public_address(str(v6)), name
        assert names_private_host(f"http://[{v6}]:8080/cb"), name


@given(public_ipv4s, bits16, bits80, public_ipv4s)
def test_a_public_ipv4_may_be_reached_through_any_form(
    v4: IPv4Address, high: int, low: int, other: IPv4Address
) -> None:
    # The decision: a form that stands for a public IPv4 address (NAT64 on an IPv6-only host,
    # 6to4, a mapped address) is as public as that address.
    for name, v6 in forms(v4, high, low, other).items():
        assert is_public_address(str(v6)), name
        assert not names_private_host(f"https://[{v6}]/cb"), name


@given(bits80)
def test_local_use_nat64_is_refused_whatever_it_carries(low: int) -> None:
    # 64:ff9b:1::/48 (RFC 8215) is the operator's own NAT64: where the IPv4 address sits depends
    # on a prefix length only that network knows, and it is never a public destination.
    v6 = IPv6Address((0x64FF9B0001 << 80) | low)
    assert not is_public_address(str(v6))


_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


@given(st.builds(IPv6Address, st.integers(0, 2**128 - 1)))
def test_an_ipv6_address_is_public_only_if_what_it_carries_is(v6: IPv6Address) -> None:
    inside = embedded_ipv4(v6)
    if v6 in _LOCAL_NAT64:
        assert not is_public_address(str(v6))
    elif inside:
        assert is_public_address(str(v6)) == all(public(v4) for v4 in inside)
    else:
        assert is_public_address(str(v6)) == (v6.is_global and not v6.is_multicast)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::127.0.0.1]:18111/cb",
        "http://[64:ff9b::7f00:1]:18111/cb",
        "http://[2002:7f00:1::]:18111/cb",
        "http://[64:ff9b::a00:1]/cb",
        "http://[::ffff:169.254.169.254]/latest",
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/cb",  # Teredo, client 127.0.0.1
        "http://[64:ff9b:1::8.8.8.8]/cb",
        "http://[fe80::1%25eth0]/cb",
        "http://127.1/cb",
        "http://2130706433/cb",
        "http://0x7f000001/cb",
        "http://0177.0.0.1/cb",
        "http://10.1/cb",
        "http://169.254.43518/cb",
    ],
)
def test_urls_naming_a_private_address_in_any_spelling(url: str) -> None:
    assert names_private_host(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/cb",
        "https://8.8.8.8/cb",
        "https://[2606:4700::1111]/cb",
        "http://[64:ff9b::808:808]/cb",
        "http://[2002:808:808::1]/cb",
        "http://8.8.2056/cb",  # 8.8.8.8 in the three-part spelling
        "https://1.example/cb",
    ],
)
def test_urls_naming_a_public_address_or_a_name(url: str) -> None:
    assert not names_private_host(url)


@given(st.text(alphabet="0123456789abcdefxX.-_+ ", max_size=24))
def test_any_host_is_judged_without_failing(host: str) -> None:
    """A host the URL parser returns, whatever its spelling, is an address or a name: judging it
    never raises (a create would answer 500)."""
    assert names_private_host(f"http://{host}/cb") in (True, False)
