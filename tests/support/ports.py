"""Free TCP ports on the loopback interface, for servers that tests start."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 that was free a moment ago (the OS picked it).

    Another process may take it before the caller binds it; bind to port 0
    instead wherever the server can report the port it got.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
