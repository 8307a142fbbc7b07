"""What the per-address connection cap counts a peer under: an IPv4 address, or an IPv6 /64
(one client can take every address of its /64, so counting addresses would cap nothing)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address

from hypothesis import given
from hypothesis import strategies as st

from maskline.edge import address_key

v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1)).filter(lambda a: a.ipv4_mapped is None)


@given(v4)
def test_an_ipv4_peer_is_counted_by_its_address_however_it_connects(address: IPv4Address) -> None:
    assert address_key(str(address)) == str(address)
    assert address_key(f"::ffff:{address}") == str(address)  # through a dual-stack socket


@given(v6, st.integers(0, 2**64 - 1))
def test_an_ipv6_peer_is_counted_by_its_64(address: IPv6Address, low: int) -> None:
    neighbour = IPv6Address(int(address) >> 64 << 64 | low)
    assert address_key(str(address)) == address_key(str(neighbour))
    assert address_key(str(address)).endswith("/64")


def test_other_64s_are_other_peers() -> None:
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8:0:2::1")
