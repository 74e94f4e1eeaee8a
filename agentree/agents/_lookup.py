"""Finding agents by path from any actor in the tree: ``find_agent``, ``wait_for_agent``.

An agent registers itself with the tree's registry (``agentree._discovery``) under
``"agent:" + path`` once its ``on_start`` has returned; its entry goes when its actor
ends. A lookup returns an :class:`AgentRef` over a direct, authenticated connection
to the agent's actor (not relayed through the root or the agent's parent).
"""

from __future__ import annotations

import os
from typing import Any, TypeVar, overload

from .. import _discovery
from .._discovery import RegistryEntry
from ._ref import AgentRef
from ._spec import Agent

__all__ = ["KEY_PREFIX", "find_agent", "register_agent", "wait_for_agent"]

A = TypeVar("A", bound=Agent)
KEY_PREFIX = "agent:"


async def register_agent(path: str, cls_ns: str, incarnation: int) -> None:
    """Register the agent this actor hosts (called by its host after ``on_start``)."""
    await _discovery.register(
        KEY_PREFIX + path, {"cls": cls_ns, "pid": os.getpid(), "incarnation": incarnation}
    )


async def _ref(entry: RegistryEntry, path: str, cls: type[A] | None) -> AgentRef[A]:
    portal = await _discovery.open_portal(entry)
    meta = entry.meta or {}
    return AgentRef(
        portal.channel,
        path=path,
        cls_ns=str(meta.get("cls", "")),
        pid=int(meta.get("pid", 0)),
        incarnation=int(meta.get("incarnation", 1)),
        cls=cls,
    )


@overload
async def find_agent(path: str) -> AgentRef[Any] | None: ...
@overload
async def find_agent(path: str, cls: type[A]) -> AgentRef[A] | None: ...
async def find_agent(path: str, cls: type[Any] | None = None) -> AgentRef[Any] | None:
    """A ref to the running agent at ``path`` (e.g. ``"app/planner"``), or ``None``.

    Works from any actor in the tree; the ref's calls go over a direct connection.

    Args:
        path: the agent's full path.
        cls: the agent's class, for a typed ref (``AgentRef[cls]``); otherwise the
            class is imported by name when the ref first checks a method.
    """
    entry = await _discovery.lookup(KEY_PREFIX + path)
    if entry is None:
        return None
    return await _ref(entry, path, cls)


@overload
async def wait_for_agent(path: str) -> AgentRef[Any]: ...
@overload
async def wait_for_agent(path: str, cls: type[A]) -> AgentRef[A]: ...
async def wait_for_agent(path: str, cls: type[Any] | None = None) -> AgentRef[Any]:
    """Wait until an agent runs at ``path`` and return a ref to it.

    Waits inside the caller's cancel scope (use ``trio.fail_after`` to bound it).
    See :func:`find_agent` for the arguments.
    """
    entry = await _discovery.wait_for(KEY_PREFIX + path)
    return await _ref(entry, path, cls)
