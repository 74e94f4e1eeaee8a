"""Spawn a child actor, run its handshake, and stop it: cancel -> terminate -> kill.

The parent makes a socketpair, starts the child on one end (forkserver or
subprocess), sends it a ``SpawnSpec`` and waits for its ``Aid``. Stopping escalates:

1. a graceful cancel request over IPC, then up to ``cancel_timeout`` seconds for the
   child to exit;
2. SIGTERM, then up to ``terminate_timeout`` seconds;
3. SIGKILL, and the child is reaped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
from dataclasses import dataclass

import trio

from .._exceptions import AgentreeError, SpawnError, TransportClosed
from .._ipc import Channel, socketpair
from .._runtime import Actor, Conn, run_stop_guards
from .._runtime._boxing import unbox_error
from .._runtime._lookup import wire_module_name
from .._runtime._registry import child_ended, child_failed, child_started
from .._runtime._serve import HANDSHAKE_TIMEOUT
from ..msg import Aid, Error, SpawnSpec
from ._forkserver import fork_child
from ._proc import ProcessHandle, spawn_subprocess

__all__ = ["Child", "spawn_actor", "stop_child"]

log = logging.getLogger("agentree.spawn")


@dataclass
class Child:
    """A running child actor: its process and its connection."""

    name: str
    uuid: str
    proc: ProcessHandle
    conn: Conn

    @property
    def uid(self) -> tuple[str, str]:
        return (self.name, self.uuid)


async def spawn_actor(
    parent: Actor,
    name: str,
    *,
    uuid: str,
    enable_modules: list[str],
    debug_mode: bool | None = None,
    loglevel: str | None = None,
    infect_asyncio: bool = False,
) -> Child:
    """Start a child actor and complete its handshake.

    Raises:
        SpawnError: the process did not start, died during the handshake, or failed
            to import its ``enable_modules`` (the child's error is the cause).
    """
    opts = parent.options
    ours, theirs = socketpair()
    try:
        if opts.start_method == "forkserver" and opts.forkserver_path:
            proc: ProcessHandle = await fork_child(opts.forkserver_path, theirs.fileno())
        else:
            proc = await spawn_subprocess(theirs.fileno())
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
    chan = Channel.from_socket(ours, max_frame_size=opts.max_frame_size, name=f"actor {name!r}")
    spec = SpawnSpec(
        name=name,
        uuid=uuid,
        parent_uid=parent.uid,
        enable_modules=[wire_module_name(m) for m in enable_modules],
        sys_path=list(sys.path),
        main_path=opts.main_path,
        main_name=opts.main_name,
        loglevel=loglevel or opts.loglevel,
        debug_mode=opts.debug_mode if debug_mode is None else debug_mode,
        start_method=opts.start_method,
        forkserver_path=opts.forkserver_path,
        tmpdir=opts.tmpdir,
        max_frame_size=opts.max_frame_size,
        cancel_timeout=opts.cancel_timeout,
        terminate_timeout=opts.terminate_timeout,
        infect_asyncio=infect_asyncio,
        secret=opts.secret,
    )
    try:
        await chan.send(spec)
        with trio.fail_after(HANDSHAKE_TIMEOUT):
            reply = await chan.recv()
        if isinstance(reply, Error):
            cause = unbox_error(reply)
            raise SpawnError(f"actor {name!r} failed to start: {cause.args[0]}") from cause
        if not isinstance(reply, Aid) or reply.uuid != uuid:
            raise SpawnError(f"actor {name!r} answered the handshake with {reply!r}")
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await _kill(proc)
            await chan.aclose()
        child_failed(parent, uuid)
        if isinstance(exc, TransportClosed):
            raise SpawnError(
                f"actor {name!r} (pid {proc.pid}) exited during its handshake "
                f"with code {proc.returncode}"
            ) from exc
        if isinstance(exc, trio.TooSlowError):
            raise SpawnError(f"actor {name!r} did not finish its handshake in time") from exc
        raise
    conn = Conn(parent, chan, (name, uuid))
    # Shielded inside: once the handshake is done the child is registered and known.
    await child_started(parent, (name, uuid), conn)
    return Child(name, uuid, proc, conn)


async def _kill(proc: ProcessHandle) -> None:
    await proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def _request_cancel(conn: Conn) -> None:
    with contextlib.suppress(AgentreeError):
        await conn.call("self:cancel", {"canceller": conn.actor.uid})


async def stop_child(child: Child, parent: Actor, *, hard: bool = False) -> int:
    """Stop ``child`` (graceful cancel, then SIGTERM, then SIGKILL) and reap it.

    Shielded from outside cancellation: a stop always finishes. Returns the exit code.
    """
    opts = parent.options
    proc = child.proc
    with trio.CancelScope(shield=True):
        if not hard and proc.returncode is None:
            with trio.move_on_after(opts.cancel_timeout):
                if not child.conn.closed.is_set():
                    await _request_cancel(child.conn)
                await proc.wait()
            # A child busy in a debugger REPL answers once the user lets it go.
            if proc.returncode is None and await run_stop_guards(child.conn):
                with trio.move_on_after(opts.cancel_timeout):
                    await proc.wait()
            if proc.returncode is None:
                log.warning("actor %r ignored the cancel request; terminating", child.name)
                await proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(opts.terminate_timeout):
                    await proc.wait()
        if proc.returncode is None:
            if not hard:
                log.warning("actor %r ignored SIGTERM; killing", child.name)
            await _kill(proc)
        await child.conn.chan.aclose()
        await proc.wait()
        await child_ended(parent, child.uid, child.conn)
    assert proc.returncode is not None
    return proc.returncode
