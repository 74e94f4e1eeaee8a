"""The ``Agent`` base class and ``@agentree.method``: what a class declares.

Everything here is plain class machinery, evaluated when a subclass is created, so
that a bad declaration (an unknown group, a process-mode ``async def``) fails at
import time in the process that defines the class, not later in the agent. Nothing
here depends on a running actor: the agent's host process and the process-mode
workers build instances from the same constructor arguments.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar, overload

import msgspec

__all__ = ["DEFAULT_MAX_CONCURRENCY", "Agent", "MethodSpec", "Mode", "method"]

Mode = Literal["async", "thread", "process", "context"]
F = TypeVar("F", bound=Callable[..., Any])

# Like Ray's asyncio actors: async calls rarely need a lower default, and a cap
# that is too low deadlocks agents that call each other.
DEFAULT_MAX_CONCURRENCY = 1000
_MODES = ("async", "thread", "process")


@dataclass(frozen=True)
class MethodSpec:
    """How one public method of an agent class is served.

    Attributes:
        name: the method's name.
        mode: ``"async"`` (the agent's loop), ``"thread"`` (its thread pool),
            ``"process"`` (a pool of worker processes) or ``"context"`` (an
            ``@agentree.context`` dialog on the agent's loop).
        group: the concurrency group whose cap the method takes, if any.
        workers: worker processes for ``mode="process"``.
        idempotent: whether a call may be re-sent to the next incarnation.
        crash_on_error: whether an error the method raises crashes the agent.
    """

    name: str
    mode: Mode
    group: str | None = None
    workers: int = 1
    idempotent: bool = False
    crash_on_error: bool = False


@dataclass(frozen=True)
class _Marks:
    mode: Literal["async", "thread", "process"] | None
    group: str | None
    workers: int
    idempotent: bool
    crash_on_error: bool


@overload
def method(fn: F, /) -> F: ...
@overload
def method(
    *,
    mode: Literal["async", "thread", "process"] | None = None,
    group: str | None = None,
    workers: int = 1,
    idempotent: bool = False,
    crash_on_error: bool = False,
) -> Callable[[F], F]: ...
def method(
    fn: Any = None,
    /,
    *,
    mode: Literal["async", "thread", "process"] | None = None,
    group: str | None = None,
    workers: int = 1,
    idempotent: bool = False,
    crash_on_error: bool = False,
) -> Any:
    """Declare how an agent method is served (DESIGN section 7, rule 1).

    Without this decorator a public method is served by its kind: an ``async def``
    on the agent's loop, a ``def`` in the agent's thread pool.

    Args:
        fn: the method (when used as a bare ``@agentree.method``).
        mode: ``"async"`` or ``"thread"`` (the default follows ``async def`` /
            ``def``; giving the other one is an error), or ``"process"``: a plain
            ``def`` run in a lazily started pool of ``workers`` worker processes.
        group: a key of the class's ``groups``: the method takes that group's cap
            instead of ``max_concurrency`` (thread-mode methods take it on top of
            ``max_threads``).
        workers: the size of the process pool (``mode="process"`` only).
        idempotent: the method may safely run twice (used by supervisors to re-send
            a call that an agent crash interrupted).
        crash_on_error: an exception the method raises crashes the agent (after
            the caller got it) instead of only going back to the caller.

    Raises:
        ValueError: an unknown mode, or ``workers`` below 1.
    """
    if mode is not None and mode not in _MODES:
        raise ValueError(f"@agentree.method: mode must be one of {_MODES}, not {mode!r}")
    if workers < 1:
        raise ValueError(f"@agentree.method: workers must be at least 1, not {workers!r}")

    def mark(func: F) -> F:
        if not callable(func):
            raise TypeError(f"@agentree.method needs a function, not {func!r}")
        func._agentree_method = _Marks(  # type: ignore[attr-defined]
            mode, group, workers, idempotent, crash_on_error
        )
        return func

    return mark(fn) if fn is not None else mark


class Agent:
    """Base class of agents: classes whose instance lives in its own actor process.

    Subclass it, then start it with ``await an.start_agent(Cls, *args, name=...)``
    on an actor nursery and call it through the returned :class:`AgentRef`.

    Class keywords:
        state: a ``msgspec.Struct`` type; ``self.state`` starts as ``state()``.
        loop: ``"trio"`` (default) or ``"asyncio"``: the agent's ``async def``
            methods (and hooks) then run as asyncio tasks in an infected-asyncio
            actor, so asyncio libraries work in them.

    Class attributes:
        max_concurrency: async calls (of no group) running at once; later ones wait
            in FIFO order. Default 1000, like Ray's asyncio actors.
        max_threads: the thread pool that runs ``def`` methods (1 = serial).
        groups: per-group caps, ``{"llm": 2}``; each group is an independent FIFO.

    Set by the agent's host before ``on_start``: ``name``, ``path``,
    ``incarnation`` (1 for the first start) and ``state``. ``__init__`` must not
    use the runtime: process-mode workers build instances of the class too.
    """

    max_concurrency: ClassVar[int] = DEFAULT_MAX_CONCURRENCY
    max_threads: ClassVar[int] = 1
    groups: ClassVar[dict[str, int]] = {}

    _agentree_state: ClassVar[type[Any] | None] = None
    _agentree_loop: ClassVar[Literal["trio", "asyncio"]] = "trio"
    _agentree_methods: ClassVar[dict[str, MethodSpec]] = {}

    name: str = ""
    path: str = ""
    incarnation: int = 0
    state: Any = None

    def __init_subclass__(
        cls,
        *,
        state: type[Any] | None = None,
        loop: Literal["trio", "asyncio"] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        if state is not None:
            if not (isinstance(state, type) and issubclass(state, msgspec.Struct)):
                raise TypeError(
                    f"agent {cls.__qualname__}: state= must be a msgspec.Struct type, "
                    f"not {state!r}"
                )
            cls._agentree_state = state
        if loop is not None:
            if loop not in ("trio", "asyncio"):
                raise ValueError(
                    f"agent {cls.__qualname__}: loop= must be 'trio' or 'asyncio', not {loop!r}"
                )
            cls._agentree_loop = loop
        _check_caps(cls)
        for hook in ("on_start", "on_stop"):
            if not inspect.iscoroutinefunction(getattr(cls, hook)):
                raise TypeError(f"agent {cls.__qualname__}: {hook} must be an async def")
        cls._agentree_methods = _collect_methods(cls)

    async def on_start(self) -> None:
        """Called in the agent's process before ``start_agent`` returns.

        An error here fails ``start_agent`` (and the agent's process is stopped).
        """

    async def on_stop(self, reason: str) -> None:
        """Called when the agent stops: ``reason`` is ``"stopped"`` or ``"crashed"``.

        Runs under a shield, bounded by the tree's ``cancel_timeout``.
        """

    async def checkpoint(self) -> None:
        """Save ``self.state`` in the supervisor's store; return once it is saved.

        The state (msgpack) goes to the process that opened the supervisor, which
        writes it to its store under ``(run_id, self.path)``; a restart (and a
        rerun of the program with the same ``run_id`` and store) restores it into
        ``self.state`` before ``on_start``. Once this returns, the state survives
        the SIGKILL of the agent: with ``SqliteStore`` it is committed (it also
        survives a SIGKILL of the root; ``fsync=True`` adds power loss); with
        ``MemoryStore`` the supervisor's process holds it, so a SIGKILL of that
        process loses it. Effects of the agent after its last checkpoint may run
        again after a restart. Call it from async code: ``on_start``, an async
        method or a background task (in a ``loop="asyncio"`` agent too); from a
        thread-mode method (a trio worker thread), as
        ``trio.from_thread.run(self.checkpoint)``.

        Raises:
            StoreError: the agent was not started by a supervisor (a plain
                ``an.start_agent`` has no store), or the write failed.
            TypeError: the class declares no ``state=`` type.
            MsgEncodeError: the state cannot be encoded.
            NoRuntime: the agent is not running (e.g. in ``__init__``).
        """
        from ._host import checkpoint

        await checkpoint(self)

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` in the background for the agent's whole life.

        An error it raises crashes the agent. In a ``loop="asyncio"`` agent, ``fn``
        runs as an asyncio task.

        Raises:
            NoRuntime: the agent is not running (e.g. in ``__init__``).
        """
        from ._host import background

        background(self, fn, args)


def _check_caps(cls: type[Agent]) -> None:
    for attr in ("max_concurrency", "max_threads"):
        value = getattr(cls, attr)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"agent {cls.__qualname__}: {attr} must be an int >= 1, not {value!r}"
            )
    for group, cap in cls.groups.items():
        if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
            raise ValueError(
                f"agent {cls.__qualname__}: the cap of group {group!r} must be an int >= 1, "
                f"not {cap!r}"
            )


_BASE_NAMES = frozenset(vars(Agent))


def _collect_methods(cls: type[Agent]) -> dict[str, MethodSpec]:
    """The public methods peers may call, by name, with how each is served."""
    specs: dict[str, MethodSpec] = {}
    for name in dir(cls):
        if name.startswith("_") or name in _BASE_NAMES:
            continue
        fn = inspect.getattr_static(cls, name)
        if not inspect.isfunction(fn):
            continue
        specs[name] = _spec_of(cls, name, fn)
    return specs


def _spec_of(cls: type[Agent], name: str, fn: Callable[..., Any]) -> MethodSpec:
    where = f"agent {cls.__qualname__}.{name}"
    is_async = inspect.iscoroutinefunction(fn)
    marks: _Marks | None = getattr(fn, "_agentree_method", None)
    if getattr(fn, "_agentree_context", False):
        mode: Mode = "context"
        if marks is not None and marks.mode not in (None, "async"):
            raise TypeError(f"{where}: a context method runs on the agent's loop")
    elif marks is None or marks.mode is None:
        mode = "async" if is_async else "thread"
    else:
        mode = marks.mode
        if mode == "async" and not is_async:
            raise TypeError(f"{where}: mode='async' needs an async def")
        if mode in ("thread", "process") and is_async:
            raise TypeError(f"{where}: mode={mode!r} needs a plain def, not an async def")
    if marks is None:
        return MethodSpec(name, mode)
    if marks.group is not None and marks.group not in cls.groups:
        raise ValueError(f"{where}: group {marks.group!r} is not in groups {cls.groups!r}")
    if marks.workers != 1 and mode != "process":
        raise ValueError(f"{where}: workers= is for mode='process' only")
    return MethodSpec(
        name, mode, marks.group, marks.workers, marks.idempotent, marks.crash_on_error
    )
