"""Spawning backends (forkserver, subprocess), the handshake, and reaping."""

from ._forkserver import Forkserver, start_forkserver
from ._spawner import Child, spawn_actor, stop_child

__all__ = ["Child", "Forkserver", "spawn_actor", "start_forkserver", "stop_child"]
