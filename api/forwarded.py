"""What a request looks like from the outside when it came through reverse proxies: the public
scheme and host, and the client's address. Pure header parsing; ``api/context.py`` applies it.

Proxy headers are believed only from a **trusted proxy** (``SCIMGATE_TRUSTED_PROXIES``: the
direct peer's address is in one of the configured networks); from anyone else they are
ignored, since any client can send them.

- Scheme and host: RFC 7239 ``Forwarded`` (``proto=``, ``host=``) first, else
  ``X-Forwarded-Proto`` / ``X-Forwarded-Host``. ``Forwarded`` is read from the nearest proxy
  outwards, as far as each element's ``for=`` is itself a trusted proxy, so the outermost
  trusted proxy (the one the client reached) has the last word. ``X-Forwarded-*`` carry no
  hop address, so their last (rightmost) value counts: the one the nearest proxy set.
- A host is used only when it is a syntactically valid ``host[:port]``: DNS-style labels
  (letters, digits, ``-``, ``_``), an IPv4 address or a bracketed IPv6 address, and a port of
  1–65535. Anything else (userinfo, paths, spaces, control characters) is never reflected.
- The client's address: the ``for=`` chain of ``Forwarded``, else ``X-Forwarded-For``, walked
  from the right; the first address that is not a trusted proxy is the client (the rightmost
  untrusted hop: everything left of it could have been written by the client). An entry that
  is not an address stops the walk at the last hop that is known.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence

__all__ = [
    "Address",
    "Network",
    "is_trusted",
    "parse_address",
    "valid_host",
    "valid_proto",
    "socket_host",
    "forwarded_origin",
    "client_address",
]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST = re.compile(
    rf"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>{_LABEL}(?:\.{_LABEL})*\.?))(?::(?P<port>[0-9]{{1,5}}))?",
    re.ASCII,
)
_NODE = re.compile(r"\[(?P<ipv6>[^\]]+)\](?::[0-9A-Za-z_]+)?|(?P<ipv4>[0-9.]+)(?::[0-9A-Za-z_]+)?", re.ASCII)


def parse_address(text: str | None) -> Address | None:
    """An IP address as a proxy or a socket writes it: bare (``192.0.2.1``, ``2001:db8::1``) or
    as an RFC 7239 node (``"[2001:db8::1]:4711"``, ``192.0.2.1:80``); IPv4-mapped IPv6 addresses
    are unwrapped. None for anything else (``unknown``, obfuscated ``_hidden``, garbage)."""
    if not isinstance(text, str):
        return None
    text = text.strip().strip('"')
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        match = _NODE.fullmatch(text)
        if match is None:
            return None
        try:
            address = ipaddress.ip_address(match.group("ipv6") or match.group("ipv4"))
        except ValueError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: str | Address | None, trusted: Iterable[Network]) -> bool:
    """Whether ``address`` lies in one of the ``trusted`` networks."""
    if not trusted:  # no proxies configured (the default): nothing to parse
        return False
    if not isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        address = parse_address(address)
    if address is None:
        return False
    return any(address.version == network.version and address in network for network in trusted)


def valid_host(text: str | None) -> str | None:
    """``text`` lower-cased when it is a syntactically valid ``host[:port]``; None otherwise."""
    if not isinstance(text, str) or len(text) > 260:
        return None
    match = _HOST.fullmatch(text)
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 0 < int(port) <= 65535:
        return None
    if match.group("ipv6") is not None:
        try:
            ipaddress.IPv6Address(match.group("ipv6"))
        except ValueError:
            return None
    else:
        name = match.group("name").rstrip(".")
        if len(name) > 253:
            return None
        if name.rsplit(".", 1)[-1].isdigit():  # numeric top label: only an IPv4 address
            try:
                ipaddress.IPv4Address(name)
            except ValueError:
                return None
    return text.lower()


def valid_proto(text: str | None) -> str | None:
    """``http`` or ``https`` (any case, surrounding space ignored); None for anything else."""
    if not isinstance(text, str):
        return None
    lowered = text.strip().lower()
    return lowered if lowered in ("http", "https") else None


def socket_host(sockname) -> str | None:
    """``host:port`` of a listening socket's address (as ``getsockname`` gives it), or None."""
    if not isinstance(sockname, (tuple, list)) or len(sockname) < 2:
        return None
    address = parse_address(str(sockname[0]))
    if address is None:
        return None
    shown = f"[{address}]" if address.version == 6 else str(address)
    return f"{shown}:{sockname[1]}"


def _last(values: Sequence[str]) -> str | None:
    """The rightmost item of comma-separated header values (several headers read in order)."""
    items = [item.strip() for value in values for item in value.split(",")]
    items = [item for item in items if item]
    return items[-1] if items else None


def forwarded_origin(
    peer: str | None,
    trusted: Sequence[Network],
    forwarded: Sequence[Mapping[str, str]] = (),
    x_forwarded_proto: Sequence[str] = (),
    x_forwarded_host: Sequence[str] = (),
) -> tuple[str | None, str | None]:
    """(scheme, host) the proxies assert for the request, each None when not asserted (or
    not valid); (None, None) unless ``peer`` is a trusted proxy.

    ``forwarded`` is the parsed ``Forwarded`` header, one mapping per element in header
    order (aiohttp's ``request.forwarded``); the ``x_*`` arguments are every value of those
    headers, in order.
    """
    if not trusted or not is_trusted(peer, trusted):
        return None, None
    proto = host = None
    for element in reversed(forwarded):  # nearest proxy first, outwards while trusted
        proto = valid_proto(element.get("proto")) or proto
        host = valid_host(element.get("host")) or host
        if not is_trusted(element.get("for"), trusted):
            break
    if proto is None:
        proto = valid_proto(_last(x_forwarded_proto))
    if host is None:
        host = valid_host(_last(x_forwarded_host))
    return proto, host


def client_address(
    peer: str | None,
    trusted: Sequence[Network],
    forwarded: Sequence[Mapping[str, str]] = (),
    x_forwarded_for: Sequence[str] = (),
) -> str:
    """The client's IP address: the direct peer, or when that is a trusted proxy, the
    rightmost hop of the forwarding chain that is not one ("" when the peer is unknown)."""
    known = parse_address(peer)
    current = str(known) if known is not None else (peer or "")
    if known is None or not is_trusted(known, trusted):
        return current
    if any("for" in element for element in forwarded):
        chain = [element.get("for") for element in forwarded]
    else:
        chain = [item for value in x_forwarded_for for item in value.split(",")]
    for hop in reversed(chain):
        address = parse_address(hop)
        if address is None:
            return current  # not an address: the last hop known is as close as we can tell
        current = str(address)
        if not is_trusted(address, trusted):
            return current
    return current
