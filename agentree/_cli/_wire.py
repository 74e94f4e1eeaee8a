"""The few constants of the runtime that the command line needs, without the runtime.

``agentree tree`` must start fast, so the command line does not import trio or the
runtime: it speaks the client side of the tree's handshake and finds trees by the
same names, kept here. ``tests/unit/test_cli_speed.py`` checks each against the
module that owns it (``agentree._ipc._auth``, ``agentree._ipc._transport``,
``agentree._runtime._control``).
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["CONTROL_FILE", "MAC", "MAGIC", "NONCE", "SNAPSHOT_NS", "STOP_NS", "TMP_PREFIX", "mac"]

# agentree._ipc._auth: the handshake.
MAGIC = b"AGTR1"
NONCE = 32
MAC = 32
# agentree._ipc._transport: a tree's private directory is named with this prefix.
TMP_PREFIX = "agentree-"
# agentree._runtime._control: the root's control file and endpoints.
CONTROL_FILE = "control.json"
SNAPSHOT_NS = "agentree._runtime._control:snapshot"
STOP_NS = "agentree._runtime._control:stop"


def mac(secret: bytes, role: bytes, first: bytes, second: bytes) -> bytes:
    """The handshake's answer to a nonce: ``HMAC-SHA256(secret, role + first + second)``."""
    return hmac.new(secret, role + first + second, hashlib.sha256).digest()
