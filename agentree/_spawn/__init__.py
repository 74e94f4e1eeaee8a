"""Spawning backends (forkserver, subprocess), the handshake, and reaping."""

from ._forkserver import Forkserver, start_forkserver
from ._spawner import REAP_GRACE, Child, serve_child, spawn_actor, stop_child

__all__ = [
    "REAP_GRACE",
    "Child",
    "Forkserver",
    "serve_child",
    "spawn_actor",
    "start_forkserver",
    "stop_child",
]
