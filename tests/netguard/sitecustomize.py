"""Network guard for tests: only loopback connections are allowed.

Imported by pytest (tests/conftest.py) and, through PYTHONPATH, by every
Python subprocess a test starts (crawls, the demo server, Datasette), so no
test can reach anything but 127.0.0.1 / ::1. A blocked attempt raises
OSError before any packet is sent.
"""

from __future__ import annotations

import ipaddress
import socket

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


class BlockedConnection(OSError):
    pass


def is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def check(sock: socket.socket, address: object) -> None:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return
    host = address[0] if isinstance(address, tuple) else address
    if not is_loopback(host):
        raise BlockedConnection(f"network guard: connection to {address!r} blocked in tests")


def _connect(self, address):
    check(self, address)
    return _real_connect(self, address)


def _connect_ex(self, address):
    check(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if host is not None and not is_loopback(host):
        raise BlockedConnection(f"network guard: name lookup of {host!r} blocked in tests")
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.socket.connect = _connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _getaddrinfo


install()
