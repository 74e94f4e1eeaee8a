"""Hooks the layers above install into the runtime, so that it never imports them.

The multi-process debugger (``agentree.devx``) registers its pieces here at import
(DESIGN section 6):

- a *runtime hook*: an async context manager entered around every actor runtime's
  body, in the root and in children (SIGINT handling, ``sys.breakpointhook``, the
  root's own post-mortem);
- an *error hook*: awaited with every uncaught error of a served call, before the
  error is sent to the caller (post-mortem in the actor that raised);
- a *stop guard*: awaited by a parent before it escalates a child's stop to
  SIGTERM (a child busy in a debugger REPL is waited for, not killed);
- *endpoints*: functions every actor serves by name, whatever its
  ``enable_modules`` (the terminal lock).

The agent layer (``agentree.agents``) registers its *agent starter*, which
``ActorNursery.start_agent`` calls. Feedback (``agentree.feedback``) registers the
opener of the root's feedback level (``open_root_actor(feedback=[...])``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._actor import Actor
    from ._conn import Conn

__all__ = [
    "agent_starter",
    "endpoints",
    "open_feedback_level",
    "register_agent_starter",
    "register_endpoint",
    "register_error_hook",
    "register_feedback_level",
    "register_runtime_hook",
    "register_stop_guard",
    "run_error_hooks",
    "run_runtime_hooks",
    "run_stop_guards",
]

RuntimeHook = Callable[["Actor"], AbstractAsyncContextManager[None]]
ErrorHook = Callable[["Actor", BaseException], Awaitable[None]]
StopGuard = Callable[["Conn"], Awaitable[bool]]

# Keyed by name so that registering twice (a module imported again) replaces.
_runtime_hooks: dict[str, RuntimeHook] = {}
_error_hooks: dict[str, ErrorHook] = {}
_stop_guards: dict[str, StopGuard] = {}
_endpoints: dict[str, Callable[..., Any]] = {}
_agent_starter: list[Callable[..., Awaitable[Any]]] = []
_feedback_level: list[Callable[..., AbstractAsyncContextManager[None]]] = []


def register_runtime_hook(name: str, hook: RuntimeHook) -> None:
    """Enter ``hook(actor)`` around the body of every actor runtime."""
    _runtime_hooks[name] = hook


def register_error_hook(name: str, hook: ErrorHook) -> None:
    """Await ``hook(actor, exc)`` for each served call's uncaught ``Exception``."""
    _error_hooks[name] = hook


def register_stop_guard(name: str, guard: StopGuard) -> None:
    """Await ``guard(conn)`` before a child on ``conn`` is sent SIGTERM.

    The guard returns whether it waited (the child then gets another
    ``cancel_timeout`` to exit before SIGTERM).
    """
    _stop_guards[name] = guard


def register_endpoint(ns: str, fn: Callable[..., Any]) -> None:
    """Serve ``fn`` as ``ns`` in every actor, whatever its ``enable_modules``."""
    _endpoints[ns] = fn


def register_agent_starter(starter: Callable[..., Awaitable[Any]]) -> None:
    """Install the agent layer's ``start_agent(an, cls, args, name, kwargs)``."""
    _agent_starter[:] = [starter]


def agent_starter() -> Callable[..., Awaitable[Any]] | None:
    """The registered agent starter (``None`` until ``agentree.agents`` is imported)."""
    return _agent_starter[0] if _agent_starter else None


def register_feedback_level(opener: Callable[..., AbstractAsyncContextManager[None]]) -> None:
    """Install feedback's ``open_level(actor, handlers, store=, run_id=)`` (the root's)."""
    _feedback_level[:] = [opener]


@asynccontextmanager
async def open_feedback_level(
    actor: Actor, handlers: list[Any] | None, store: Any = None, run_id: Any = None
) -> AsyncIterator[None]:
    """Serve ``handlers`` as root ``actor``'s feedback level around the block.

    ``store`` and ``run_id`` (``open_root_actor``'s) keep the level's journal in
    that store, and are the defaults of the supervisors opened in the root.
    """
    if not handlers and store is None and run_id is None:
        yield
        return
    if not _feedback_level:
        raise RuntimeError("feedback handlers given but agentree.feedback is not imported")
    async with _feedback_level[0](actor, handlers, store=store, run_id=run_id):
        yield


def endpoints() -> dict[str, Callable[..., Any]]:
    """The registered endpoints by ns (a copy)."""
    return dict(_endpoints)


@asynccontextmanager
async def run_runtime_hooks(actor: Actor) -> AsyncIterator[None]:
    """Enter every runtime hook around the block, in registration order."""
    async with AsyncExitStack() as stack:
        for hook in list(_runtime_hooks.values()):
            await stack.enter_async_context(hook(actor))
        yield


async def run_error_hooks(actor: Actor, exc: BaseException) -> None:
    """Await every error hook with ``exc``."""
    for hook in list(_error_hooks.values()):
        await hook(actor, exc)


async def run_stop_guards(conn: Conn) -> bool:
    """Await every stop guard for the child on ``conn``; whether any of them waited."""
    waited = False
    for guard in list(_stop_guards.values()):
        waited = await guard(conn) or waited
    return waited
