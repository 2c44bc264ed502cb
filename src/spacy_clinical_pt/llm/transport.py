"""How the model client reaches a server: the endpoint check (no credentials, loopback unless opted in) and sockets
whose every read keeps to one deadline per attempt (`client.OpenAICompatible` uses both)."""

from __future__ import annotations

import io
import ipaddress
import socket
import time
from typing import Any, Optional
from urllib.parse import SplitResult, urlsplit


def check_endpoint(url: str, allow_remote: bool, setting: str, schemes: tuple[str, ...]) -> SplitResult:
    """The parts of `url`, the config's `setting` ("base_url" or "proxy"); refuses another scheme than `schemes`,
    credentials, a bad port, and a host that is not loopback without `allow_remote`. No message repeats a URL
    that holds credentials."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        reason = ("the API key is read from api_key_env" if setting == "base_url"
                  else "a proxy that asks for a login is not supported")
        raise ValueError(f"{setting} must not hold credentials (user:password@): {reason}")
    if parts.scheme not in schemes:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ValueError(f"{setting} must be an {wanted} URL, not {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"{setting} has no host: {url!r}")
    try:
        parts.port
    except ValueError:
        raise ValueError(f"{setting} has no valid port: {url!r}") from None
    if not allow_remote and not is_loopback(host):
        where = host if setting == "base_url" else f"the proxy {host}"
        raise ValueError(
            f"notes would be sent to {where}; set `allow_remote = true` in the model config "
            f"(or `--allow-remote`) to opt in"
        )
    return parts


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine by its literal name or address (no DNS lookup: it could be spoofed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def remaining(deadline: float) -> float:
    """Seconds left until `deadline` (time.monotonic()); raises TimeoutError when none are."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("the attempt's deadline passed")
    return remaining


class DeadlineReader(io.RawIOBase):
    """The reading end of a socket where every read waits until `deadline` (time.monotonic()) at most, so that a
    reply sent slowly, byte by byte, cannot hold an attempt past its timeout."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)  # counted by the socket, which stays open while it is
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> Optional[int]:
        self._sock.settimeout(remaining(self._deadline))
        return self._raw.readinto(buffer)

    def close(self) -> None:
        self._raw.close()
        super().close()


class DeadlineSocket:
    """What `http.client.HTTPResponse` reads a reply from: the socket, through a `DeadlineReader`."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(DeadlineReader(self._sock, self._deadline))
