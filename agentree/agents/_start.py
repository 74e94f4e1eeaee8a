"""Starting agents: ``ActorNursery.start_agent`` (registered with the runtime's hooks).

The class is named as ``module:qualname`` and its constructor arguments are checked
for msgpack encodability before anything is spawned; the agent's actor enables the
class's module and the host module only. ``start_agent`` returns once the agent's
``on_start`` has returned; if it raised, the agent's actor is stopped first.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from .._exceptions import (
    ActorDied,
    AgentCrashed,
    AgentExists,
    MsgEncodeError,
    TransportClosed,
)
from .._runtime import Actor, current_actor, ns_of
from .._runtime._hooks import register_agent_starter
from ..msg import encode, find_unencodable
from . import _host
from ._host import HOST_MODULE, host_of
from ._ref import AgentRef
from ._spec import Agent

if TYPE_CHECKING:
    from .._nursery import ActorNursery

__all__ = ["owner_path", "start_agent"]

A = TypeVar("A", bound=Agent)

# The agents each actor started, by path: names are unique per parent.
_started: weakref.WeakKeyDictionary[Actor, dict[str, AgentRef[Any] | None]] = (
    weakref.WeakKeyDictionary()
)


def owner_path(actor: Actor) -> str:
    """The path prefix of the agents ``actor`` starts: its own agent's path + "/".

    Agents started by the root (or by a plain actor: then under its name) are
    top-level.
    """
    host = host_of(actor)
    if host is not None:
        return host.agent.path + "/"
    return "" if actor.is_root else actor.name + "/"


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise ValueError(f"an agent name must be a non-empty string without '/', not {name!r}")
    return name


def _check_encodable(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> None:
    try:
        encode([args, kwargs])
    except (TypeError, ValueError, OverflowError, MsgEncodeError):
        named = {f"args[{i}]": value for i, value in enumerate(args)} | kwargs
        raise find_unencodable(named, what) from None


async def start_agent(
    an: ActorNursery, cls: type[A], args: tuple[Any, ...], name: str, kwargs: dict[str, Any]
) -> AgentRef[A]:
    """Start agent ``cls(*args, **kwargs)`` named ``name`` in a new actor of ``an``.

    Raises:
        TypeError: ``cls`` is not an ``Agent`` subclass.
        NotAddressable: ``cls`` cannot be named as ``module:qualname`` (a class
            defined in a function).
        MsgEncodeError: a constructor argument cannot be sent.
        AgentExists: this actor already started a running agent of that name.
        RemoteActorError: the constructor or ``on_start`` raised in the agent.
        AgentCrashed: the agent's process died before ``on_start`` returned.
    """
    if not (isinstance(cls, type) and issubclass(cls, Agent)):
        raise TypeError(f"start_agent() needs an agentree.Agent subclass, not {cls!r}")
    _check_name(name)
    cls_ns = ns_of(cls)
    _check_encodable(args, kwargs, f"{cls_ns}() (agent {name!r})")
    actor = current_actor()
    path = owner_path(actor) + name
    taken = _started.setdefault(actor, {})
    if path in taken:
        existing = taken[path]
        if existing is None or not existing._conn.closed.is_set():
            raise AgentExists(f"an agent named {name!r} already runs here (path {path!r})")
    taken[path] = None
    try:
        portal = await an.start_actor(
            path,
            enable_modules=[cls_ns.partition(":")[0], HOST_MODULE],
            infect_asyncio=cls._agentree_loop == "asyncio",
        )
        try:
            pid: int = await portal.run(
                _host.start, cls=cls_ns, a=list(args), k=kwargs, path=path, incarnation=1
            )
        except BaseException as exc:
            with trio.CancelScope(shield=True):
                await an.stop_child(portal, shutdown=actor.options.cancel_timeout)
            if isinstance(exc, TransportClosed):
                # It died during on_start (a background task crashed it, or a signal).
                raise AgentCrashed(
                    f"agent {path!r} died while starting: {exc}",
                    path=path,
                    incarnation=1,
                    cause=exc.exit if isinstance(exc, ActorDied) else exc,
                ) from exc
            raise
    except BaseException:
        del taken[path]
        raise
    ref: AgentRef[A] = AgentRef(
        portal.channel, path=path, cls_ns=cls_ns, pid=pid, incarnation=1, cls=cls
    )
    taken[path] = ref
    return ref


register_agent_starter(start_agent)
