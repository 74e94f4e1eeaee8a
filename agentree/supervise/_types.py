"""The supervisor's plain data: policies in, observations out (all immutable structs).

``Backoff`` and ``Limits`` are what a user passes; ``ChildInfo``,
``SupervisorStats`` and the events are what a supervisor reports. They are frozen
msgspec Structs, so they can be logged, sent to another actor or compared in tests.
"""

from __future__ import annotations

import math
import random
from typing import Literal

import msgspec

from .._exit import ChildExit

__all__ = [
    "Backoff",
    "ChildCrashed",
    "ChildInfo",
    "ChildRestarting",
    "ChildStarted",
    "ChildStopped",
    "GaveUp",
    "Limits",
    "Phase",
    "RestartType",
    "ShutdownPolicy",
    "Strategy",
    "SupervisorEvent",
    "SupervisorStats",
]

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
RestartType = Literal["permanent", "transient", "temporary"]
Phase = Literal["starting", "running", "backoff", "stopping", "stopped"]
# Seconds of grace after a cancel request (then SIGTERM, then SIGKILL), or SIGKILL at once.
ShutdownPolicy = float | Literal["brutal_kill"]
StopReason = Literal["stopped", "exited", "terminated", "recycled", "restarting", "shutdown"]


class Backoff(msgspec.Struct, frozen=True):
    """How long a supervisor waits before restarting a child (Akka's backoff).

    Before the n-th consecutive restart of one child the wait is
    ``min(max, min * 2**(n-1)) * (1 ± jitter)``; n goes back to 1 once the child
    has run for ``reset_after`` seconds without crashing. The wait is the child's
    alone: the supervisor and the other children go on meanwhile.

    Attributes:
        min: the first wait, in seconds (0 restarts at once).
        max: the longest wait, in seconds.
        jitter: the relative spread, 0 to 1 (0.2 = ±20%), so that children that
            crashed together do not restart together.
        reset_after: seconds of stable running after which the count starts over.
    """

    min: float = 0.1
    max: float = 10.0
    jitter: float = 0.2
    reset_after: float = 10.0

    def __post_init__(self) -> None:
        for name in ("min", "max", "reset_after"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0 and math.isfinite(value)):
                raise ValueError(f"Backoff.{name} must be a finite number >= 0, not {value!r}")
        if self.max < self.min:
            raise ValueError(f"Backoff.max ({self.max}) is below Backoff.min ({self.min})")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"Backoff.jitter must be between 0 and 1, not {self.jitter!r}")

    def delay(self, attempt: int) -> float:
        """The wait before the ``attempt``-th consecutive restart (1 for the first)."""
        base = min(self.max, self.min * 2 ** max(0, attempt - 1))
        if self.jitter and base:
            base *= 1 + random.uniform(-self.jitter, self.jitter)
        return float(base)


class Limits(msgspec.Struct, frozen=True):
    """Resource limits of one agent (``limits=``), or when to recycle it (``recycle_after=``).

    As ``limits=``, going over one is a crash whose cause is
    :class:`~agentree.LimitExceeded`: ``cpu_seconds`` and ``open_files`` are
    rlimits of the agent's process (CPU time ends it with SIGXCPU; opening a
    file beyond the limit fails, and the supervisor's watch stops an agent that
    holds that many); ``rss`` is watched by the supervisor, which kills an agent
    whose resident memory goes over it.

    As ``recycle_after=``, the agent is restarted gracefully, between calls,
    after ``max_calls`` calls made through its ref or once its RSS goes over
    ``rss``; a recycle is not a crash and does not count toward the intensity.

    Attributes:
        rss: resident memory in bytes.
        cpu_seconds: CPU time of the agent's process, in seconds.
        open_files: open file descriptors.
        max_calls: calls per incarnation (``recycle_after`` only).
        check_every: seconds between two looks at the RSS and open files.
    """

    rss: int | None = None
    cpu_seconds: float | None = None
    open_files: int | None = None
    max_calls: int | None = None
    check_every: float = 0.1

    def __post_init__(self) -> None:
        for name in ("rss", "cpu_seconds", "open_files", "max_calls"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int | float) and value > 0):
                raise ValueError(f"Limits.{name} must be a number > 0, not {value!r}")
        if not self.check_every > 0:
            raise ValueError(f"Limits.check_every must be > 0, not {self.check_every!r}")

    @property
    def watched(self) -> bool:
        """Whether the supervisor has to look at the process (RSS or open files)."""
        return self.rss is not None or self.open_files is not None


class ChildInfo(msgspec.Struct, frozen=True):
    """One child of a supervisor, as ``which_children()`` sees it.

    Attributes:
        name: the child's name under its supervisor.
        path: its full path, e.g. ``"app/planner"``.
        kind: ``"agent"``, ``"supervisor"`` or ``"pool"``.
        restart: its restart type.
        phase: ``"starting"``, ``"running"``, ``"backoff"``, ``"stopping"`` or
            ``"stopped"`` (terminated, ended for good, or given up).
        incarnation: the current (or last) incarnation, 1 for the first start.
        pid: the process id of the current incarnation (``None`` when none runs, and
            for in-process supervisors).
        restarts: how many times this child was restarted in the supervisor's window.
        calls_running: calls made through its ref that are in flight.
        calls_queued: calls waiting for an incarnation (during a restart).
    """

    name: str
    path: str
    kind: Literal["agent", "supervisor", "pool"]
    restart: RestartType
    phase: Phase
    incarnation: int
    pid: int | None
    restarts: int
    calls_running: int
    calls_queued: int


class SupervisorStats(msgspec.Struct, frozen=True):
    """A supervisor's state at one moment: ``statistics()``.

    Attributes:
        path: the supervisor's path.
        strategy: its strategy.
        intensity: restarts allowed in ``period`` seconds.
        period: the window, in seconds.
        restarts_in_window: restarts counted in the current window.
        restarts_total: restarts since it opened.
        crashes_total: crashes seen since it opened.
        calls_running: calls in flight to its children (their refs).
        calls_queued: calls waiting for a child that restarts.
        children: every child, in start order.
    """

    path: str
    strategy: Strategy
    intensity: int
    period: float
    restarts_in_window: int
    restarts_total: int
    crashes_total: int
    calls_running: int
    calls_queued: int
    children: tuple[ChildInfo, ...]


class ChildStarted(msgspec.Struct, frozen=True, tag=True):
    """An incarnation of a child is running (its ``on_start`` returned)."""

    supervisor: str
    path: str
    incarnation: int
    pid: int | None
    time: float


class ChildCrashed(msgspec.Struct, frozen=True, tag=True):
    """An incarnation crashed.

    Attributes:
        cause: what happened, in one line.
        kind: ``"exit"`` (non-zero exit code), ``"signal"``, ``"start"`` (its
            ``on_start`` or spawn failed), ``"watchdog"``, ``"limit"`` or
            ``"gave_up"`` (a nested supervisor).
        exit: how its process ended, when it had one.
        method: for a watchdog kill, the method that was running on its loop.
    """

    supervisor: str
    path: str
    incarnation: int
    cause: str
    kind: Literal["exit", "signal", "lost", "start", "watchdog", "limit", "gave_up"]
    exit: ChildExit | None
    method: str | None
    time: float


class ChildRestarting(msgspec.Struct, frozen=True, tag=True):
    """A child will start incarnation ``incarnation`` after ``delay`` seconds.

    Attributes:
        attempt: the consecutive restart this is (1 after a stable run).
        counted: whether it counts toward the intensity (a recycle does not).
    """

    supervisor: str
    path: str
    incarnation: int
    delay: float
    attempt: int
    counted: bool
    time: float


class ChildStopped(msgspec.Struct, frozen=True, tag=True):
    """An incarnation ended without crashing.

    ``reason``: ``"exited"`` (it ended by itself, cleanly), ``"terminated"``
    (``terminate_child``), ``"recycled"``, ``"restarting"`` (stopped because a
    sibling crashed: one_for_all, rest_for_one, or ``restart_child``) or
    ``"shutdown"`` (the supervisor is closing or gave up).
    """

    supervisor: str
    path: str
    incarnation: int
    reason: StopReason
    time: float


class GaveUp(msgspec.Struct, frozen=True, tag=True):
    """The supervisor saw more than ``intensity`` restarts in ``period`` seconds."""

    supervisor: str
    restarts: int
    intensity: int
    period: float
    time: float


SupervisorEvent = ChildStarted | ChildCrashed | ChildRestarting | ChildStopped | GaveUp
