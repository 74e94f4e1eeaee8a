"""An actor's runtime lifetime, in the root and in a child process.

``actor_runtime`` sets the current actor and owns the service nursery that runs
served calls. ``run_child`` is a child's whole life: receive the ``SpawnSpec`` from
the parent over the inherited socket, become that actor, answer with its ``Aid``,
serve the parent until it asks us to stop or goes away, then exit.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from .. import log as agentree_log
from .._groups import collapse
from .._ipc import Channel
from ..msg import SpawnSpec
from ._actor import Actor, RuntimeOptions
from ._boxing import box_error
from ._conn import Conn
from ._hooks import run_runtime_hooks
from ._lookup import import_enabled, load_parent_main
from ._state import reset_actor, set_actor

__all__ = ["HANDSHAKE_TIMEOUT", "actor_runtime", "run_child"]

HANDSHAKE_TIMEOUT = 30.0

log = logging.getLogger("agentree.runtime")


@asynccontextmanager
async def actor_runtime(actor: Actor) -> AsyncIterator[Actor]:
    """Run ``actor``'s runtime around the block: current actor, service nursery.

    Cancelling the actor (``actor.cancel_soon()``) cancels the block too, and the
    block then ends quietly, as a cancelled trio scope does.
    """
    token = set_actor(actor)
    try:
        with trio.CancelScope() as scope:
            try:
                async with trio.open_nursery() as service:
                    actor.bind(service, scope)
                    try:
                        async with run_runtime_hooks(actor):
                            yield actor
                    finally:
                        service.cancel_scope.cancel()
            except BaseExceptionGroup as group:
                raise collapse(group) from None
    finally:
        reset_actor(token)


def _actor_from_spec(spec: SpawnSpec) -> Actor:
    options = RuntimeOptions(
        start_method=spec.start_method,
        debug_mode=spec.debug_mode,
        loglevel=spec.loglevel,
        max_frame_size=spec.max_frame_size,
        cancel_timeout=spec.cancel_timeout,
        terminate_timeout=spec.terminate_timeout,
        tmpdir=spec.tmpdir,
        forkserver_path=spec.forkserver_path,
        main_path=spec.main_path,
        main_name=spec.main_name,
    )
    return Actor(
        spec.name,
        spec.uuid,
        enable_modules=set(spec.enable_modules),
        options=options,
        parent_uid=tuple(spec.parent_uid),  # type: ignore[arg-type]
        infect_asyncio=spec.infect_asyncio,
    )


async def run_child(sock: socket.socket) -> int:
    """A child actor's whole life on the socket its parent gave it; returns the exit code."""
    chan = Channel.from_socket(sock, initiator=True, name="parent")
    with trio.move_on_after(HANDSHAKE_TIMEOUT):
        spec = await chan.recv()
    if not isinstance(spec, SpawnSpec):
        return 3
    chan.max_frame_size = spec.max_frame_size
    chan.name = f"parent of {spec.name!r}"
    actor = _actor_from_spec(spec)
    agentree_log.configure(spec.loglevel, actor.name)
    sys.path[:] = spec.sys_path
    try:
        if "__main__" in actor.enable_modules:
            load_parent_main(spec.main_path, spec.main_name)
        import_enabled(actor.enable_modules - {"__main__"})
    except BaseException as exc:
        await chan.send(box_error(exc, cid=None, uid=actor.uid, call="<import enable_modules>"))
        await chan.aclose()
        return 1
    await chan.send(actor.aid)
    async with actor_runtime(actor):
        conn = Conn(actor, chan, actor.parent_uid)  # type: ignore[arg-type]
        actor.parent_conn = conn
        await conn.process_messages()
        if not actor.cancel_called:
            log.info("actor %r: parent channel closed, cancelling", actor.name)
            actor.cancel_soon()
    return 0
