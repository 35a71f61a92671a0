"""The receivers a hook may name: an absolute http(s) URI with a host; and, when the operator says so
(`KAZOO_VM_WEBHOOK_REFUSE_PRIVATE`), none on loopback, private, link-local or otherwise reserved addresses,
as protection against server-side request forgery. Checked when a hook is saved and again, after name
resolution, before every delivery (a name may resolve elsewhere later)."""
from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

MAX_URI_LENGTH = 2048


def uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a receiver, or None."""
    if len(uri) > MAX_URI_LENGTH:
        return f"the uri is longer than {MAX_URI_LENGTH} characters"
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return "the uri cannot be parsed"
    if parts.scheme not in ("http", "https"):
        return "the uri must be http:// or https://"
    if not parts.hostname:
        return "the uri has no host"
    if port == 0 or any(char.isspace() for char in uri):
        return "the uri is not valid"
    return None


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def literal_private(uri: str) -> bool:
    """Whether the uri's host is an IP literal (or `localhost`) that is not a public address."""
    host = urlsplit(uri).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return is_private(host)
    except ValueError:
        return False


async def resolves_private(uri: str) -> bool:
    """Whether any address the uri's host resolves to is not public (unresolvable: False, the request fails)."""
    parts = urlsplit(uri)
    if literal_private(uri):
        return True
    try:
        found = await asyncio.get_running_loop().getaddrinfo(parts.hostname, parts.port or 443,
                                                             type=socket.SOCK_STREAM)
    except OSError:
        return False
    return any(is_private(info[4][0]) for info in found)
