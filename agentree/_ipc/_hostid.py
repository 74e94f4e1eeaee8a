"""Which host a process runs on: decides whether a peer's UDS address is usable.

Actors of one tree on one host talk over UDS sockets in the tree's private
directory; an actor on another host can only be reached over TCP. Every actor
knows its host id and the registry records each actor's, so an asker compares it
with its own. The id is the hostname and the kernel's boot id: processes that share
both share a kernel and (normally) a file system. ``AGENTREE_HOST_ID`` overrides it,
for containers that share a kernel but not a file system, and for tests that force
the TCP path on one machine.
"""

from __future__ import annotations

import functools
import os
import socket

__all__ = ["HOST_ID_ENV", "host_id"]

HOST_ID_ENV = "AGENTREE_HOST_ID"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


@functools.cache
def host_id() -> str:
    """This process's host id (computed once): ``AGENTREE_HOST_ID`` or hostname/boot id."""
    forced = os.environ.get(HOST_ID_ENV)
    if forced:
        return forced
    try:
        with open(_BOOT_ID, encoding="ascii") as f:
            boot = f.read().strip()
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}"
