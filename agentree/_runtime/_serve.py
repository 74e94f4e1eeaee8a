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
from .._exceptions import ProtocolError
from .._groups import collapse
from .._ipc import DEFAULT_MAX_FRAME_SIZE, Channel
from ..msg import SpawnSpec, decode_msg
from ._actor import Actor, RuntimeOptions
from ._boxing import box_error
from ._conn import Conn
from ._hooks import run_runtime_hooks
from ._lookup import import_enabled, load_parent_main
from ._peers import bind_peer_listener
from ._reaper import end_descendants, has_children
from ._registry import serve_discovery
from ._state import reset_actor, set_actor
from ._tcp import listen_soon

__all__ = ["HANDSHAKE_TIMEOUT", "actor_runtime", "receive_spec", "run_child"]

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
                        async with serve_discovery(actor), run_runtime_hooks(actor):
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
        secret=spec.secret,
        proxy_tty=spec.proxy_tty,
    )
    return Actor(
        spec.name,
        spec.uuid,
        enable_modules=set(spec.enable_modules),
        options=options,
        parent_uid=tuple(spec.parent_uid),  # type: ignore[arg-type]
        infect_asyncio=spec.infect_asyncio,
        path=spec.path,
    )


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def receive_spec(sock: socket.socket) -> SpawnSpec | None:
    """Read the parent's ``SpawnSpec`` before any event loop starts (blocking).

    The spec says which loop the child runs (trio, or asyncio hosting trio), so it
    is read first, synchronously. Returns ``None`` when the parent sent something
    else, hung up, or took longer than ``HANDSHAKE_TIMEOUT``.
    """
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        size = int.from_bytes(_recv_exact(sock, 4), "big")
        if size > DEFAULT_MAX_FRAME_SIZE:
            return None
        msg = decode_msg(_recv_exact(sock, size))
    except (OSError, EOFError, ProtocolError):
        return None
    finally:
        sock.setblocking(False)
    return msg if isinstance(msg, SpawnSpec) else None


async def run_child(sock: socket.socket, spec: SpawnSpec | None = None) -> int:
    """A child actor's whole life on the socket its parent gave it; returns the exit code.

    Args:
        sock: the connected socket to the parent.
        spec: the parent's ``SpawnSpec`` when :func:`receive_spec` already read it;
            otherwise it is received here.
    """
    chan = Channel.from_socket(sock, initiator=True, name="parent")
    if spec is None:
        first = None
        with trio.move_on_after(HANDSHAKE_TIMEOUT):
            first = await chan.recv()
        if not isinstance(first, SpawnSpec):
            return 3
        spec = first
    chan.max_frame_size = spec.max_frame_size
    chan.name = f"parent of {spec.name!r}"
    try:
        actor = _actor_from_spec(spec)
        agentree_log.configure(spec.loglevel, actor.name)
        sys.path[:] = spec.sys_path
        if "__main__" in actor.enable_modules:
            load_parent_main(spec.main_path, spec.main_name)
        import_enabled(actor.enable_modules - {"__main__"})
    except BaseException as exc:
        await _refuse_start(chan, exc, (spec.name, spec.uuid), spec.max_frame_size)
        return 1
    # Reachable before the parent learns it is up (and registers it); the runtime
    # closes the listener (the parent removes the socket file of a failed start).
    bind_peer_listener(actor)
    conn = Conn(actor, chan, actor.parent_uid)  # type: ignore[arg-type]
    actor.parent_conn = conn
    # This process is this actor for its whole life. The parent's message loop runs
    # outside the runtime (below), and the calls it starts inherit its context: they
    # must see the actor too.
    set_actor(actor)
    async with trio.open_nursery() as nursery:
        # The runtime is up before the parent hears our Aid: an error while it starts
        # (a runtime hook) is the parent's SpawnError, with our traceback.
        try:
            await nursery.start(_serve_until_cancelled, actor, chan)
        except BaseException as exc:
            await _refuse_start(chan, exc, actor.uid, spec.max_frame_size)
            return 1
        await chan.send(actor.aid)
        if spec.tcp_interface:
            listen_soon(actor, spec.tcp_interface)
        # The parent channel outlives the runtime: every call's final reply (a
        # CancelAck too) goes out before the channel closes.
        nursery.start_soon(_serve_parent, actor, conn)
    return 0


async def _refuse_start(
    chan: Channel, exc: BaseException, uid: tuple[str, str], max_frame_size: int
) -> None:
    """Answer the handshake with the error that stopped this child's start."""
    with trio.CancelScope(shield=True):
        try:
            error = box_error(
                exc, cid=None, uid=uid, call="<actor start>", max_frame_size=max_frame_size
            )
            await chan.send(error)
        except Exception as send_error:
            log.error("actor %r: cannot report its start error: %r", uid[0], send_error)
        await chan.aclose()


async def _serve_until_cancelled(
    actor: Actor, chan: Channel, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    await _run_runtime(actor, task_status)
    # Calls cancelled with the runtime may still be unwinding in reader tasks: their
    # replies go out before the channel closes.
    await actor.wait_replies_sent()
    # No descendant outlives its actor: what the user code started goes first,
    # so that the parent sees the channel close when the process is done.
    if has_children():
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(end_descendants)
    await chan.aclose()


async def _run_runtime(actor: Actor, task_status: trio.TaskStatus[None]) -> None:
    async with actor_runtime(actor):
        task_status.started()
        await trio.sleep_forever()


async def _serve_parent(actor: Actor, conn: Conn) -> None:
    with trio.CancelScope(shield=True):
        await conn.process_messages()
    if not actor.cancel_called:
        log.info("actor %r: parent channel closed, cancelling", actor.name)
        actor.cancel_soon()
