"""The network guard really is in force, in this process and in subprocesses."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from tests.conftest import guarded_env, netguard


@pytest.mark.parametrize("host", ["127.0.0.1", "127.5.6.7", "::1", "localhost",
                                  "::ffff:127.0.0.1"])
def test_loopback_allowed(host: str) -> None:
    assert netguard.is_loopback(host)


@pytest.mark.parametrize("host", ["192.0.2.1", "10.0.0.1", "belarusdigest.com", "::ffff:8.8.8.8",
                                  "2001:db8::1", "", None])
def test_everything_else_refused(host: object) -> None:
    assert not netguard.is_loopback(host)
    with socket.socket() as sock, pytest.raises(netguard.BlockedConnection):
        netguard.check(sock, (host, 80))


def test_guard_installed_here() -> None:
    assert socket.socket.connect is netguard._connect
    assert socket.getaddrinfo is netguard._getaddrinfo
    with pytest.raises(netguard.BlockedConnection):
        socket.getaddrinfo("belarusdigest.com", 443)


def test_guard_installed_in_subprocesses() -> None:
    code = ("import socket\n"
            "try:\n    socket.getaddrinfo('belarusdigest.com', 443)\n"
            "except OSError as e:\n    print('blocked' if 'network guard' in str(e) else e)\n")
    out = subprocess.run([sys.executable, "-c", code], env=guarded_env(), capture_output=True,
                         text=True, timeout=60).stdout
    assert out.strip() == "blocked"
