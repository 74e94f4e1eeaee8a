"""Pools: ``size`` copies of one agent, supervised one_for_one, behind one handle.

``pool.call`` goes to the least busy member (calls in flight plus calls queued
through the pool's refs; ties go round-robin); ``pool.by_key(k)`` is always the same
member for the same key (a stable hash, not Python's salted ``hash``);
``pool.map(fn, items)`` runs ``fn`` over the items with bounded work in flight and
yields the results in input order.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload

import trio

from .._exceptions import AgentUnavailable
from ..agents._calls import MethodCaller
from ..agents._spec import Agent
from ..msg import encode
from ._ref import SupervisedRef

if TYPE_CHECKING:
    from ._supervisor import Supervisor

__all__ = ["ROUTINGS", "Pool", "PoolMap", "Routing"]

A = TypeVar("A", bound=Agent)
R = TypeVar("R")
T = TypeVar("T")
Routing = Literal["least_busy", "key"]
ROUTINGS = ("least_busy", "key")


class Pool(MethodCaller[A]):
    """A pool of identical supervised agents. Get one from ``Supervisor.start_pool``.

    Attributes:
        path: the pool's path; its members are ``path/0`` to ``path/<size-1>``.
        members: the members' refs, in order.
        routing: ``"least_busy"``, or ``"key"``: :meth:`call` then routes by its
            first argument, like :meth:`by_key`.
    """

    def __init__(self, sup: Supervisor, members: list[SupervisedRef[A]], routing: Routing) -> None:
        self.supervisor = sup
        self.path = sup.path
        self.members = tuple(members)
        self.routing: Routing = routing
        self._next = 0

    def __repr__(self) -> str:
        return f"<Pool {self.path!r} size={len(self.members)} routing={self.routing}>"

    @property
    def size(self) -> int:
        """How many members the pool has."""
        return len(self.members)

    def least_busy(self) -> SupervisedRef[A]:
        """The member with the fewest calls in flight and queued (ties: round-robin)."""
        n = len(self.members)
        best: SupervisedRef[A] | None = None
        best_load = math.inf
        for i in range(n):
            ref = self.members[(self._next + i) % n]
            slot = ref._slot
            load = slot.calls_running() + len(slot.waiters) + (0 if slot.usable() else n)
            if load < best_load:
                best, best_load = ref, load
                if load == 0:
                    break
        self._next = (self._next + 1) % n
        assert best is not None
        return best

    def by_key(self, key: Any) -> SupervisedRef[A]:
        """The member that serves ``key``: always the same one for the same key.

        ``key`` is any msgpack-encodable value (a str, an int, a tuple...).
        """
        return self.members[zlib.crc32(encode(key)) % len(self.members)]

    async def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``call``: in the least busy member (routing "key": the first argument's member).

        Raises: as ``SupervisedRef.call``, and ``TypeError`` when the pool routes by
        key and there is no argument.
        """
        if self.routing == "key":
            if not args:
                raise TypeError(f"pool {self.path!r} routes by key: the first argument is the key")
            ref = self.by_key(args[0])
        else:
            ref = self.least_busy()
        return await ref.call(fn, *args, **kwargs)

    @overload
    def map(
        self,
        fn: Callable[[A, T], Coroutine[Any, Any, R]],
        items: Iterable[T],
        *,
        max_in_flight: int | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> PoolMap[R]: ...
    @overload
    def map(
        self,
        fn: Callable[[A, T], R],
        items: Iterable[T],
        *,
        max_in_flight: int | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> PoolMap[R]: ...
    def map(
        self,
        fn: Callable[..., Any],
        items: Iterable[Any],
        *,
        max_in_flight: int | None = None,
        progress: Callable[[int, int | None], None] | None = None,
    ) -> PoolMap[Any]:
        """Call ``fn(item)`` for every item across the pool; yield results in input order.

        At most ``max_in_flight`` calls (default: twice the pool's size) run at
        once; ``progress(done, total)`` is called as each one finishes (``total``
        is ``None`` for an iterable without a length). The first error is raised
        at its item's place and the calls still running are cancelled. Use it as
        ``async with pool.map(...) as results: async for r in results:`` (or
        iterate it directly and let it run to its end).
        """
        limit = max_in_flight if max_in_flight is not None else 2 * len(self.members)
        if limit < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {limit!r}")
        return PoolMap(self, fn, items, limit, progress)


class _Outcome:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class PoolMap(Generic[R]):
    """The results of ``Pool.map``, in input order (an async iterator)."""

    def __init__(
        self,
        pool: Pool[Any],
        fn: Callable[..., Any],
        items: Iterable[Any],
        limit: int,
        progress: Callable[[int, int | None], None] | None,
    ) -> None:
        self._pool = pool
        self._fn = fn
        self._items = iter(items)
        self._total = len(items) if hasattr(items, "__len__") else None  # type: ignore[arg-type]
        self._limit = limit
        self._progress = progress
        self._outcomes: dict[int, _Outcome] = {}
        self._sent = 0
        self._yielded = 0
        self._done = 0
        self._exhausted = False
        self._scopes: set[trio.CancelScope] = set()
        self._cancelled = False

    def __aiter__(self) -> PoolMap[R]:
        return self

    async def __aenter__(self) -> PoolMap[R]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the calls still running."""
        self._cancel()
        await trio.lowlevel.checkpoint()

    def _cancel(self) -> None:
        self._cancelled = True
        for scope in self._scopes:
            scope.cancel()

    def _fill(self) -> None:
        kids = self._pool.supervisor._kids
        while not self._exhausted and self._sent - self._yielded < self._limit:
            try:
                item = next(self._items)
            except StopIteration:
                self._exhausted = True
                break
            outcome = self._outcomes[self._sent] = _Outcome()
            self._sent += 1
            if kids is None:
                outcome.error = AgentUnavailable(f"pool {self._pool.path!r} is not running")
                outcome.done.set()
                continue
            kids.start_soon(self._one, item, outcome)

    async def _one(self, item: Any, outcome: _Outcome) -> None:
        scope = trio.CancelScope()
        self._scopes.add(scope)
        if self._cancelled:
            scope.cancel()
        try:
            with scope:
                outcome.value = await self._pool.call(self._fn, item)
                self._done += 1
                if self._progress is not None:
                    self._progress(self._done, self._total)
                outcome.done.set()
        except Exception as exc:
            outcome.error = exc
        finally:
            self._scopes.discard(scope)
            if not outcome.done.is_set():
                if outcome.error is None:
                    outcome.error = AgentUnavailable(
                        f"pool {self._pool.path!r}: the call was cancelled (map closed, "
                        "or the pool stopped)"
                    )
                outcome.done.set()

    async def __anext__(self) -> R:
        self._fill()
        outcome = self._outcomes.pop(self._yielded, None)
        if outcome is None:
            raise StopAsyncIteration
        try:
            await outcome.done.wait()
        except BaseException:
            self._cancel()
            raise
        self._yielded += 1
        if outcome.error is not None:
            self._cancel()
            raise outcome.error
        self._fill()
        value: R = outcome.value
        return value
