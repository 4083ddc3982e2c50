"""Who the client is, network-wise: the socket peer, or what trusted proxies say.

`X-Forwarded-For` is a list that anyone can start: only the entries appended by
proxies the operator trusts mean anything. So the list is read from the right, past
every trusted proxy, and the first address that is not one is the client. A peer that
is not a trusted proxy is the client itself, whatever it claims. This is the rule of
nginx's `real_ip_recursive on` and of most load balancers' documentation.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str) -> TrustedProxies:
        """Comma-separated addresses or CIDR blocks, e.g. `10.0.0.0/8, 127.0.0.1`."""
        networks: list[Network] = []
        for item in (part.strip() for part in text.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or CIDR block") from None
        return cls(tuple(networks))

    def trust(self, address: str) -> bool:
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)


NO_TRUSTED_PROXIES = TrustedProxies()


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies
) -> str | None:
    """The client's address given the socket peer and every `X-Forwarded-For` value in
    the order received. Never returns an entry that is not a valid IP address: a
    garbled list stops the walk at the last hop that was certainly a proxy."""
    if peer is None or not trusted.networks or not trusted.trust(peer):
        return peer
    hops: Sequence[str] = [
        entry.strip() for value in forwarded_for for entry in value.split(",") if entry.strip()
    ]
    client = peer
    for hop in reversed(hops):
        if _ip(hop) is None:
            return client
        client = hop
        if not trusted.trust(hop):
            return hop
    return client


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None
