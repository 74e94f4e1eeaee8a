"""FIFO caps for an agent's calls, with a fast path that never yields.

``trio.Semaphore`` and ``trio.CapacityLimiter`` take a scheduler pass even when a
token is free. A served call runs in its connection's reader task until it first
waits (see ``agentree._runtime._inline``), so that pass would cost every call a
task hand-off. Here a free token is taken without yielding.

When no token is free, callers park in a FIFO queue and a release hands its token
to the oldest waiter. Waiters also *start* in arrival order: trio may run the tasks
it wakes in one batch in any order, so only one waiter is woken at a time, and it
wakes the next (if more tokens were released meanwhile) once it runs.
"""

from __future__ import annotations

import trio

__all__ = ["FifoCap"]


class FifoCap:
    """At most ``total`` holders at once; waiters get tokens (and start) in order.

    Args:
        total: the number of tokens.
    """

    __slots__ = ("_handoffs", "_lot", "_waking", "total", "used")

    def __init__(self, total: int) -> None:
        self.total = total
        # Tokens held, including tokens released to waiters not yet running.
        self.used = 0
        self._lot = trio.lowlevel.ParkingLot()
        # A woken waiter has not run yet; further released tokens wait in
        # ``_handoffs`` until it runs and wakes the next one.
        self._waking = False
        self._handoffs = 0

    def try_acquire(self) -> bool:
        """Take a token if one is free and nobody waits; never yields."""
        if self.used < self.total and not self._lot and not self._waking:
            self.used += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a token, waiting in FIFO order for one to be handed over."""
        if self.try_acquire():
            return
        # A release hands its token over by unparking us (``used`` unchanged). Once
        # unparked, the token is ours even if we are cancelled before running on.
        await self._lot.park()
        self._waking = False
        while self._handoffs:
            self._handoffs -= 1
            if self._lot:
                self._waking = True
                self._lot.unpark()
                break
            self.used -= 1

    def release(self) -> None:
        """Give the token back, or to the oldest waiter."""
        if self._waking:
            self._handoffs += 1
        elif self._lot:
            self._waking = True
            self._lot.unpark()
        else:
            self.used -= 1

    @property
    def waiting(self) -> int:
        """How many callers wait for a token."""
        return len(self._lot)
