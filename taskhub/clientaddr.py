"""The client's address behind trusted reverse proxies (``TASKHUB_TRUSTED_PROXIES``).

A proxy appends the address it received the request from to ``X-Forwarded-For``;
whatever is left of that came from further away, possibly from the client itself,
and proves nothing. So the client is the right-most entry that is not one of our
own proxies, and only when the request really came from one of them; with no
trusted proxies (the default) the header is ignored and ``REMOTE_ADDR`` is the
client. Rate limits, ``/metrics``' internal-address check and the request log
all use :func:`client_address`.

Imported by the settings, so it imports nothing from Django at module level.
"""

from __future__ import annotations

import ipaddress
import re

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_SPLIT = re.compile(r"[\s,]+")


def parse_networks(value: str) -> tuple[Network, ...]:
    """``TASKHUB_TRUSTED_PROXIES``: addresses or networks (``10.0.0.0/8``, ``fd00::/8``), comma or space separated.

    A bare address is a network of one. An entry that is neither raises
    ``ValueError`` naming it: a typo here must stop the server at start-up,
    not quietly trust nobody (or the wrong hosts).
    """
    networks = []
    for entry in _SPLIT.split(value.strip()):
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"TASKHUB_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
        networks.append(network)
    return tuple(networks)


def parse_address(raw: str | None) -> Address | None:
    """One address as proxies write it (``1.2.3.4``, ``1.2.3.4:80``, ``2001:db8::1``, ``[2001:db8::1]:443``), or None.

    IPv4-mapped IPv6 addresses (``::ffff:1.2.3.4``, what a dual-stack socket
    reports) become the IPv4 address, so that one client has one address.
    ``unknown``, obfuscated identifiers (``_hidden``) and anything else that is
    not an address give None.
    """
    text = (raw or "").strip().strip('"')
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        if end == -1 or (text[end + 1:] and not re.fullmatch(r":\d{1,5}", text[end + 1:])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # v4:port
        text, port = text.split(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def resolve(remote_addr: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address from the peer's address, the ``X-Forwarded-For`` value and the trusted proxies.

    Walks ``X-Forwarded-For`` from the right while the hop that wrote each
    entry is a trusted proxy, and stops at the first entry that is not one.
    An entry that is not an address (garbage, ``unknown``, an empty field)
    ends the walk too, since nothing left of it can be believed: the client
    is then the nearest hop identified so far.
    """
    peer = parse_address(remote_addr)
    if peer is None:
        return remote_addr or ""
    if not trusted or not _trusted(peer, trusted):
        return str(peer)  # not from one of our proxies: its X-Forwarded-For is the client's own say-so
    client = peer
    for entry in reversed((forwarded_for or "").split(",")):
        address = parse_address(entry)
        if address is None:
            break
        client = address
        if not _trusted(address, trusted):
            break
    return str(client)


def client_address(request) -> str:
    """The address of the client that sent ``request`` (see the module's docstring)."""
    from django.conf import settings

    return resolve(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR"),
                   settings.TASKHUB_TRUSTED_PROXIES)
