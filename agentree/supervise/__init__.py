"""Supervision: OTP's strategies and restart types with per-child backoff (DESIGN 7).

``agentree.open_supervisor`` opens a supervisor in the current process; its agents
are child actors, restarted by strategy, restart type, intensity and backoff;
their refs are paths resolved per call, valid across restarts. Pools, nested
supervisors, a watchdog and resource limits build on it.
"""

from ._cluster import open_actor_cluster
from ._events import EventStream
from ._open import open_supervisor
from ._pool import Pool, PoolMap
from ._ref import SupervisedRef
from ._supervisor import Supervisor
from ._types import (
    Backoff,
    ChildCrashed,
    ChildInfo,
    ChildRestarting,
    ChildStarted,
    ChildStopped,
    GaveUp,
    Limits,
    SupervisorEvent,
    SupervisorStats,
)

__all__ = [
    "Backoff",
    "ChildCrashed",
    "ChildInfo",
    "ChildRestarting",
    "ChildStarted",
    "ChildStopped",
    "EventStream",
    "GaveUp",
    "Limits",
    "Pool",
    "PoolMap",
    "SupervisedRef",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorStats",
    "open_actor_cluster",
    "open_supervisor",
]
