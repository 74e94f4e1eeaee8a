"""Fan-out of a supervisor's events to every ``events()`` subscriber.

Each subscriber has an unbounded buffer of its own, so a slow reader never holds
up the supervisor; it sees every event emitted after it subscribed (the call to
``events()``, not its first read).
"""

from __future__ import annotations

import math
from types import TracebackType

import trio

from ._types import SupervisorEvent

__all__ = ["EventHub", "EventStream"]


class EventStream:
    """The events of one supervisor (and its nested in-process supervisors).

    An async iterator; it ends when the supervisor has closed. Use it as a context
    manager (``with sup.events() as events:``) or call :meth:`close` to stop
    receiving.
    """

    def __init__(self, hub: EventHub) -> None:
        self._hub = hub
        self._send, self._receive = trio.open_memory_channel[SupervisorEvent](math.inf)
        if hub.closed:
            self._send.close()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SupervisorEvent:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise StopAsyncIteration from None

    async def receive(self) -> SupervisorEvent:
        """The next event.

        Raises:
            trio.EndOfChannel: the supervisor has closed and every event was read.
        """
        return await self._receive.receive()

    def close(self) -> None:
        """Stop receiving events."""
        self._hub.streams.discard(self)
        self._receive.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class EventHub:
    """The subscribers of one supervisor, plus the hub of its parent supervisor."""

    def __init__(self, parent: EventHub | None = None) -> None:
        self.streams: set[EventStream] = set()
        self.parent = parent
        self.closed = False

    def subscribe(self) -> EventStream:
        stream = EventStream(self)
        if not self.closed:
            self.streams.add(stream)
        return stream

    def emit(self, event: SupervisorEvent) -> None:
        for stream in list(self.streams):
            try:
                stream._send.send_nowait(event)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self.streams.discard(stream)
        if self.parent is not None:
            self.parent.emit(event)

    def close(self) -> None:
        self.closed = True
        for stream in self.streams:
            stream._send.close()
        self.streams.clear()
