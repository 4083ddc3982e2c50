from __future__ import annotations

import re

import pytest

from gateway.core.client_address import TrustedProxies, client_address

PROXIES = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1, fd00::/8")


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    """No setting: X-Forwarded-For is ignored, whoever sends it."""
    assert client_address("127.0.0.1", ["203.0.113.9"], TrustedProxies()) == "127.0.0.1"


def test_an_untrusted_peer_cannot_claim_another_address() -> None:
    """A client talking directly to the gateway is itself, whatever header it forges."""
    assert client_address("198.51.100.7", ["203.0.113.9"], PROXIES) == "198.51.100.7"


def test_the_rightmost_untrusted_hop_is_the_client() -> None:
    """Entries the client wrote itself (left of the real one) are not believed."""
    forged_then_real = ["1.2.3.4, 203.0.113.9, 10.1.2.3"]
    assert client_address("10.0.0.1", forged_then_real, PROXIES) == "203.0.113.9"


def test_several_header_lines_are_one_list() -> None:
    """Proxies that add a header line each, rather than appending, are read in order."""
    assert client_address("10.0.0.1", ["203.0.113.9", "10.1.2.3"], PROXIES) == "203.0.113.9"


def test_a_chain_of_trusted_proxies_only_gives_its_leftmost() -> None:
    assert client_address("127.0.0.1", ["10.9.9.9, 10.1.1.1"], PROXIES) == "10.9.9.9"


def test_a_garbled_entry_stops_at_the_last_certain_hop() -> None:
    """A value that is not an address is never returned as the client."""
    assert client_address("10.0.0.1", ["<script>, 10.1.2.3"], PROXIES) == "10.1.2.3"
    assert client_address("10.0.0.1", ["unknown"], PROXIES) == "10.0.0.1"


def test_no_header_from_a_trusted_proxy_gives_the_proxy() -> None:
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"


def test_ipv6_hops_are_understood() -> None:
    assert client_address("fd00::1", ["2001:db8::5"], PROXIES) == "2001:db8::5"


def test_no_peer_is_no_address() -> None:
    assert client_address(None, ["203.0.113.9"], PROXIES) is None


def test_a_bad_setting_names_the_bad_item() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        TrustedProxies.parse("127.0.0.1, 10.0.0.0/33")
