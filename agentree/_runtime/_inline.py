"""Run a served call in the task that read its ``Start``, until the call has to wait.

Spawning a task per call puts a spawn and a pass of the scheduler between reading a
request and answering it, on the path of every round trip. Most calls either finish
without ever waiting or wait only after some work, so the connection's reader runs
the call itself: the call's first step runs at once, in its own cancel scope and its
own copy of the context (as a spawned task would get). If the call finishes there,
its reply goes out before the reader reads on. The first time the call has to wait,
the reader hands the reading over to a fresh task and becomes the call's task, and
the call's cancel scope is registered so that a ``Cancel`` message can cancel it
like any other. (Until then no ``Cancel`` can be read.)
"""

from __future__ import annotations

import contextvars
import types
from collections.abc import Callable, Coroutine, Generator
from typing import Any

__all__ = ["drive"]


@types.coroutine
def drive(
    coro: Coroutine[Any, Any, Any],
    context: contextvars.Context,
    hand_off: Callable[[], None],
) -> Generator[Any, Any, Any]:
    """Run ``coro`` to its end from the current task, every step inside ``context``.

    Like ``await coro``, except that each step runs in ``context``, and that
    ``hand_off()`` is called once, just before ``coro`` first waits (yields to
    trio). Whatever trio sends or throws into this task goes on to ``coro``.

    Returns:
        What ``coro`` returns; what it raises propagates.
    """
    try:
        trap = context.run(coro.send, None)
    except StopIteration as stop:
        return stop.value
    hand_off()
    while True:
        try:
            sent = yield trap
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as thrown:
            try:
                trap = context.run(coro.throw, thrown)
            except StopIteration as stop:
                return stop.value
        else:
            try:
                trap = context.run(coro.send, sent)
            except StopIteration as stop:
                return stop.value
