"""``maybe_open_context``: share one async context manager between the tasks of an actor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import trio

from .._exceptions import NoRuntime
from .._runtime import Actor, current_actor

__all__ = ["maybe_open_context"]

T = TypeVar("T")


class _Entry:
    """One open manager: its value, its users, and how to close it."""

    def __init__(self) -> None:
        self.value: Any = None
        self.users = 0
        self.ready = trio.Event()
        self.failed = False
        self.release = trio.Event()
        self.closed = trio.Event()
        self.exit_error: BaseException | None = None


# Per actor (by uid): the open managers by key.
_CACHES: dict[tuple[str, str], dict[Hashable, _Entry]] = {}


def _freeze(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(_freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


async def _hold(
    acm_func: Callable[..., AbstractAsyncContextManager[Any]],
    kwargs: dict[str, Any],
    entry: _Entry,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep the manager open, in the actor's service nursery, until its last user leaves."""
    try:
        manager = acm_func(**kwargs)
        value = await manager.__aenter__()
    except BaseException:
        entry.failed = True
        entry.ready.set()
        entry.closed.set()
        raise
    entry.value = value
    entry.ready.set()
    task_status.started()
    try:
        try:
            await entry.release.wait()
        except BaseException as exc:
            # The actor is going away: close the manager with the cancellation.
            if not await manager.__aexit__(type(exc), exc, exc.__traceback__):
                raise
            return
        await manager.__aexit__(None, None, None)
    except Exception as exc:
        # Raised to the last user, not into the actor's service nursery.
        entry.exit_error = exc
    finally:
        entry.closed.set()


@asynccontextmanager
async def maybe_open_context(
    acm_func: Callable[..., AbstractAsyncContextManager[T]],
    kwargs: dict[str, Any] | None = None,
    key: Hashable | Callable[..., Hashable] | None = None,
) -> AsyncIterator[tuple[bool, T]]:
    """Open ``acm_func(**kwargs)`` once per actor and share it between its tasks.

    The first task to ask opens it; tasks asking for the same key while it is open
    get the same value (a cache hit). It is closed when its last user leaves.

    Args:
        acm_func: a function returning an async context manager.
        kwargs: the arguments of ``acm_func``.
        key: what makes two requests "the same": a hashable, or a callable
            given ``kwargs`` that returns one; by default ``acm_func`` and ``kwargs``.

    Yields:
        ``(cache_hit, value)``: ``cache_hit`` is ``False`` for the task that opened
        the manager.

    Raises:
        NoRuntime: no actor runs here.
    """
    kwargs = dict(kwargs or {})
    if callable(key):
        cache_key: Hashable = (acm_func, key(kwargs))
    elif key is not None:
        cache_key = (acm_func, key)
    else:
        cache_key = (acm_func, _freeze(kwargs))
    actor = current_actor()
    cache = _CACHES.setdefault(actor.uid, {})
    while True:
        entry = cache.get(cache_key)
        if entry is None:
            entry = cache[cache_key] = _Entry()
            try:
                await _service_of(actor).start(_hold, acm_func, kwargs, entry)
            except BaseException:
                if cache.get(cache_key) is entry:
                    del cache[cache_key]
                raise
            hit = False
            break
        await entry.ready.wait()
        if not entry.failed:
            hit = True
            break
    entry.users += 1
    try:
        yield hit, entry.value
    finally:
        entry.users -= 1
        if entry.users == 0:
            if cache.get(cache_key) is entry:
                del cache[cache_key]
            if not cache:
                _CACHES.pop(actor.uid, None)
            entry.release.set()
            with trio.CancelScope(shield=True):
                await entry.closed.wait()
            if entry.exit_error is not None:
                raise entry.exit_error


def _service_of(actor: Actor) -> trio.Nursery:
    if actor._service is None:
        raise NoRuntime(f"maybe_open_context(): actor {actor.name!r} is not serving yet")
    return actor._service
