"""Where the running actor lives: a ContextVar, never a module-global dict.

The actor is set when its runtime starts and reset when it stops, so that several
``trio.run`` calls in one process (as in tests) never see each other's actor.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Literal, overload

from .._exceptions import NoRuntime

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = [
    "current_actor",
    "current_actor_or_none",
    "is_root_process",
    "serving_peer",
    "set_actor",
]

_current_actor: ContextVar[Actor | None] = ContextVar("agentree_actor", default=None)
# The peer whose request the current task serves: the origin of what it starts,
# such as a cancellation it relays (then named as the canceller).
serving_peer: ContextVar[tuple[str, str] | None] = ContextVar("agentree_peer", default=None)
set_actor = _current_actor.set
reset_actor = _current_actor.reset


def current_actor_or_none() -> Actor | None:
    """Return the running actor, or ``None`` outside any actor runtime."""
    return _current_actor.get()


@overload
def current_actor() -> Actor: ...
@overload
def current_actor(err_on_no_runtime: Literal[True]) -> Actor: ...
@overload
def current_actor(err_on_no_runtime: bool) -> Actor | None: ...
def current_actor(err_on_no_runtime: bool = True) -> Actor | None:
    """Return the actor this code runs in.

    Args:
        err_on_no_runtime: with ``False``, return ``None`` outside any actor
            instead of raising (tractor's argument).

    Raises:
        NoRuntime: no actor runtime is running in this task (no root was opened and
            this is not a child actor).
    """
    actor = _current_actor.get()
    if actor is None and err_on_no_runtime:
        raise NoRuntime(
            "no agentree actor is running here: open one with agentree.open_nursery() "
            "or agentree.open_root_actor()"
        )
    return actor


def is_root_process() -> bool:
    """Whether this process runs the root actor (or no actor at all)."""
    actor = _current_actor.get()
    return actor is None or actor.is_root
