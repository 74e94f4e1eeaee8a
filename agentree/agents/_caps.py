"""FIFO caps for an agent's calls, with a fast path that never yields.

``trio.Semaphore`` and ``trio.CapacityLimiter`` take a scheduler pass even when a
token is free. A served call runs in its connection's reader task until it first
waits (see ``agentree._runtime._inline``), so that pass would cost every call a
task hand-off. Here a free token is taken without yielding; when none is free the
caller parks in a FIFO queue and a releasing call hands its token straight to the
oldest waiter, so a newcomer can never overtake it.
"""

from __future__ import annotations

import trio

__all__ = ["FifoCap"]


class FifoCap:
    """At most ``total`` holders at once; waiters get tokens in arrival order.

    Args:
        total: the number of tokens.
    """

    __slots__ = ("_lot", "total", "used")

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._lot = trio.lowlevel.ParkingLot()

    def try_acquire(self) -> bool:
        """Take a token if one is free and nobody waits; never yields."""
        if self.used < self.total and not self._lot:
            self.used += 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a token, waiting in FIFO order for one to be handed over."""
        if self.used < self.total and not self._lot:
            self.used += 1
            return
        # A release hands its token over by unparking us (``used`` unchanged). Once
        # unparked, the token is ours even if we are cancelled before running on.
        await self._lot.park()

    def release(self) -> None:
        """Give the token back, or straight to the oldest waiter."""
        if self._lot:
            self._lot.unpark()
        else:
            self.used -= 1

    @property
    def waiting(self) -> int:
        """How many callers wait for a token."""
        return len(self._lot)
