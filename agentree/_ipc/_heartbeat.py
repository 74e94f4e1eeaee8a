"""The heartbeat of a TCP channel: the kernel's keepalive probes, on a short clock.

A peer on another host can vanish without a word: a cable cut, a host that froze or
lost power. No end of file arrives, so the channel would wait forever. Every TCP
channel of a tree therefore turns on the kernel's keepalive probes, on a clock far
shorter than the kernel's default of two hours, plus ``TCP_USER_TIMEOUT`` for the
case where data is in flight:

- after ``idle`` seconds without traffic the kernel sends a probe every ``idle``
  seconds, which the peer's kernel answers;
- when nothing the peer must acknowledge (a probe, or data) is acknowledged for
  ``timeout`` seconds, the kernel drops the connection, and the next read fails:
  the channel ends with :class:`~agentree.TransportClosed`, like an end of file.

So a lost peer is noticed within ``idle + timeout`` seconds (:data:`LOST_PEER_DEADLINE`,
5 s with the defaults), whatever the two programs are doing. The probes are answered
by the peer's kernel, not by its event loop: an actor busy in a long call is not a
lost one (a *stuck* actor is the agent watchdog's business, see DESIGN section 7).
"""

from __future__ import annotations

import socket
import sys

__all__ = [
    "HEARTBEAT_IDLE",
    "HEARTBEAT_TIMEOUT",
    "LOST_PEER_DEADLINE",
    "set_heartbeat",
]

HEARTBEAT_IDLE = 1.0
"""Seconds without traffic before the first probe, and between probes."""

HEARTBEAT_TIMEOUT = 4.0
"""Seconds a probe (or sent data) may go unacknowledged before the peer is lost."""

LOST_PEER_DEADLINE = HEARTBEAT_IDLE + HEARTBEAT_TIMEOUT
"""How long a lost peer (cable cut, frozen host) takes at most to be noticed."""


def set_heartbeat(
    sock: socket.socket | object,
    *,
    idle: float = HEARTBEAT_IDLE,
    timeout: float = HEARTBEAT_TIMEOUT,
) -> None:
    """Turn on the heartbeat of a connected TCP socket (a no-op for other sockets).

    Args:
        sock: a stdlib or trio socket (anything with ``setsockopt`` and ``family``).
        idle: seconds of silence before probing, and between probes (>= 1).
        timeout: seconds without an acknowledgement before the connection drops.
    """
    family = getattr(sock, "family", None)
    if family not in (socket.AF_INET, socket.AF_INET6):
        return
    setsockopt = sock.setsockopt  # type: ignore[union-attr]
    setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if sys.platform.startswith("linux"):
        every = max(1, round(idle))
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, every)
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, every)
        setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, max(1, round(timeout / every)))
        setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(timeout * 1000))
