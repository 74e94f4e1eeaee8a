"""The runtime ping: every actor answers it from its message loop, running no user code.

``portal.ping()`` calls :func:`ping` by its ns. It is a runtime endpoint (see
``_hooks``), served whatever the actor's ``enable_modules``, and a plain sync
function, so the connection's reader task answers it the moment it reads the
request: it never waits behind the actor's calls in flight, its user code or any
cap the layers above put on user methods. An actor whose loop is stuck (or whose
process is stopped) does not answer, which is what a heartbeat needs to see.
"""

from __future__ import annotations

from ._hooks import register_endpoint

__all__ = ["PING_NS", "ping"]

PING_NS = "agentree._runtime._ping:ping"


def ping() -> None:
    """Answer a ping (nothing to compute: the reply itself is the answer)."""


register_endpoint(PING_NS, ping)
