"""Spawn a child actor, run its handshake, watch it, and stop it: cancel -> terminate -> kill.

The parent makes a socketpair, starts the child on one end (forkserver or
subprocess), sends it a ``SpawnSpec`` and waits for its ``Aid``. From then on
:func:`serve_child` serves the child's channel and reaps the process the moment it
ends, recording how it ended (a :class:`~agentree.ChildExit`). When the channel ends,
the calls waiting on it learn why only once the process has been reaped (bounded by
``REAP_GRACE``): :class:`~agentree.ActorDied` names the actor and its exit code or
signal. A process that closed its channel but goes on running is *lost*: its waiters
get a plain :class:`~agentree.TransportClosed` and its owner kills it.

Stopping escalates:

1. a graceful cancel request over IPC, then up to ``cancel_timeout`` seconds (or
   the caller's ``shutdown`` policy) for the child to exit;
2. SIGTERM, then up to ``terminate_timeout`` seconds;
3. SIGKILL, and the child is reaped.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import trio

from .._exceptions import ActorDied, AgentreeError, TransportClosed
from .._exit import ChildExit, ExitReason
from .._ipc import Channel, socketpair
from .._runtime import Actor, Conn, run_stop_guards
from .._runtime._reaper import kill_orphans, live_child_tags, own_tag
from .._runtime._registry import child_ended, child_started
from .._runtime._tcp import tcp_interface
from ._forkserver import fork_child
from ._handshake import child_spec, handshake
from ._proc import ProcessHandle, spawn_subprocess

__all__ = ["REAP_GRACE", "Child", "serve_child", "spawn_actor", "stop_child"]

log = logging.getLogger("agentree.spawn")

# How long after its channel ended a child's process may take to be reaped before
# it counts as lost. A process closes its sockets at the very end of its exit, so
# the reap normally follows within milliseconds; this only bounds the odd case.
REAP_GRACE = 1.0


@dataclass(eq=False)
class Child:
    """A running child actor: its process, its connection, and how it ended.

    Attributes:
        exit: how the process ended, once it has been reaped.
        exited: set once ``exit`` is known.
        stopping: its parent started stopping it (the exit is then ``"stopped"``).
        stop_deadline: when that stop escalates to SIGKILL at the latest.
        lost: its channel ended while the process went on running.
    """

    name: str
    uuid: str
    proc: ProcessHandle
    conn: Conn
    exit: ChildExit | None = None
    exited: trio.Event = field(default_factory=trio.Event)
    stopping: bool = False
    stop_deadline: float | None = None
    lost: bool = False
    reaps_orphans: bool = False
    _channel_ended: bool = False

    @property
    def uid(self) -> tuple[str, str]:
        return (self.name, self.uuid)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _reason(self, returncode: int) -> ExitReason:
        if self.lost:
            return "lost"
        if self.stopping:
            return "stopped"
        return "signaled" if returncode < 0 else "exited"

    async def _watch(self) -> None:
        """Reap the process as soon as it ends and record how it ended.

        When this process is its OS parent, the orphans it left (re-parented here,
        this process being a subreaper) are killed next.
        """
        code = await self.proc.wait()
        self.exit = ChildExit(
            name=self.name,
            uid=self.uid,
            pid=self.proc.pid,
            returncode=code,
            reason=self._reason(code),
        )
        self.exited.set()
        if self.reaps_orphans:
            live_child_tags.discard(self.uuid)
            await kill_orphans(own_tag())

    def mark_stopping(self) -> None:
        """Note that the parent stops the child now, unless it already ended by itself."""
        if self.exit is None and not self._channel_ended:
            self.stopping = True

    async def _explain_end(self, reason: AgentreeError) -> AgentreeError:
        """Why the channel ended, for every call that waits on it (the conn's hook).

        Waits for the reap (bounded by ``REAP_GRACE``) and answers with
        :class:`ActorDied`; a process still running then is lost.
        """
        self._channel_ended = True
        if not isinstance(reason, TransportClosed):
            # A protocol error: this side closes the channel on a live process.
            if self.exit is None:
                self.lost = True
            return reason
        if self.exit is None:
            deadline = trio.current_time() + REAP_GRACE
            if self.stopping:
                # Asked to stop, it may close its channel before it is done (its
                # asyncio loop closing, say): the stop's own escalation bounds it.
                opts = self.conn.actor.options
                deadline = max(
                    deadline,
                    self.stop_deadline
                    or trio.current_time() + opts.cancel_timeout + opts.terminate_timeout,
                )
            with trio.move_on_at(deadline):
                await self.exited.wait()
        if self.exit is None:
            self.lost = True
            lost = TransportClosed(
                f"actor {self.name!r} (pid {self.proc.pid}) broke its channel but its "
                f"process is still running; it will be killed ({reason})"
            )
            lost.__cause__ = reason
            return lost
        died = ActorDied(self.exit.describe(), exit=self.exit)
        died.__cause__ = reason
        return died


async def serve_child(child: Child) -> None:
    """Serve ``child``'s channel and reap its process; returns once both ended.

    Shielded from outside cancellation: the channel must outlive a graceful stop,
    and the process is reaped however it ends (:func:`stop_child` makes sure it does).
    """
    with trio.CancelScope(shield=True):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_reap_then_close, child)
            await child.conn.process_messages()


async def _reap_then_close(child: Child) -> None:
    await child._watch()
    # The process is gone, so is its channel, even if a descendant that inherited
    # the socket keeps it open: what the child sent before it died is read first.
    with trio.move_on_after(REAP_GRACE):
        await child.conn.closed.wait()
    if not child.conn.closed.is_set():
        await child.conn.chan.aclose()


async def spawn_actor(
    parent: Actor,
    name: str,
    *,
    uuid: str,
    enable_modules: list[str],
    debug_mode: bool | None = None,
    loglevel: str | None = None,
    infect_asyncio: bool = False,
    start_method: str | None = None,
    placement: Any = None,
) -> Child:
    """Start a child actor and complete its handshake.

    ``start_method`` overrides the tree's for this child; ``"ray"`` hosts it on a
    node Ray picks, with ``placement`` (a ``RayPlacement``; see ``_spawn._ray``).

    Raises:
        SpawnError: the process did not start, died during the handshake, or failed
            to import its ``enable_modules`` (the child's error is the cause).
    """
    opts = parent.options
    if (start_method or opts.start_method) == "ray":
        from ._ray import spawn_ray_actor

        child: Child = await spawn_ray_actor(
            parent,
            name,
            uuid=uuid,
            enable_modules=enable_modules,
            debug_mode=debug_mode,
            loglevel=loglevel,
            infect_asyncio=infect_asyncio,
            placement=placement,
        )
        return child
    ours, theirs = socketpair()
    # Its OS parent is this process (not the forkserver): its orphans come here.
    ours_to_reap = not (
        (start_method or opts.start_method) == "forkserver" and opts.forkserver_path
    )
    try:
        if not ours_to_reap:
            assert opts.forkserver_path is not None
            proc: ProcessHandle = await fork_child(opts.forkserver_path, theirs.fileno())
        else:
            # Registered before the process exists: never mistaken for an orphan.
            live_child_tags.add(uuid)
            proc = await spawn_subprocess(theirs.fileno(), tag=uuid)
    except BaseException:
        live_child_tags.discard(uuid)
        ours.close()
        raise
    finally:
        theirs.close()
    chan = Channel.from_socket(ours, max_frame_size=opts.max_frame_size, name=f"actor {name!r}")
    spec = child_spec(
        parent,
        name,
        uuid,
        enable_modules=enable_modules,
        debug_mode=debug_mode,
        loglevel=loglevel,
        infect_asyncio=infect_asyncio,
        start_method=opts.start_method,
        forkserver_path=opts.forkserver_path,
        proxy_tty=opts.proxy_tty,
        tcp_interface=tcp_interface(parent),
    )

    async def stop() -> None:
        await _kill(proc)
        await chan.aclose()
        if ours_to_reap:
            live_child_tags.discard(uuid)
            await kill_orphans(own_tag())

    await handshake(
        parent,
        chan,
        spec,
        stop=stop,
        describe=lambda: (
            f"(pid {proc.pid}) exited during its handshake with code {proc.returncode}"
        ),
    )
    conn = Conn(parent, chan, (name, uuid))
    child = Child(name, uuid, proc, conn, reaps_orphans=ours_to_reap)
    conn.explain_end = child._explain_end
    # Shielded inside: once the handshake is done the child is registered and known.
    await child_started(parent, (name, uuid), conn)
    return child


async def _kill(proc: ProcessHandle) -> None:
    await proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def _request_cancel(conn: Conn) -> None:
    with contextlib.suppress(AgentreeError):
        await conn.call("self:cancel", {"canceller": conn.actor.uid})


async def stop_child(
    child: Child,
    parent: Actor,
    *,
    hard: bool = False,
    cancel_timeout: float | None = None,
) -> ChildExit:
    """Stop ``child`` (graceful cancel, then SIGTERM, then SIGKILL) and reap it.

    A child that already ended is only reaped. A lost child (its channel broke, its
    process runs on) gets SIGTERM at once. Shielded from outside cancellation: a
    stop always finishes. :func:`serve_child` must be running for ``child``.

    Args:
        child: the child to stop.
        parent: this actor (its options give the timeouts).
        hard: SIGKILL at once.
        cancel_timeout: seconds the child gets to exit after the cancel request
            (default: the tree's ``cancel_timeout``).

    Returns:
        How the child ended.
    """
    opts = parent.options
    grace = opts.cancel_timeout if cancel_timeout is None else cancel_timeout
    proc = child.proc
    with trio.CancelScope(shield=True):
        child.mark_stopping()
        child.stop_deadline = trio.current_time() + (
            0.0 if hard else 2 * grace + opts.terminate_timeout
        )
        if not hard and child.exit is None:
            if not child.lost:
                with trio.move_on_after(grace):
                    if not child.conn.closed.is_set():
                        await _request_cancel(child.conn)
                    await child.exited.wait()
                # A child busy in a debugger REPL answers once the user lets it go.
                if child.exit is None and await run_stop_guards(child.conn):
                    with trio.move_on_after(grace):
                        await child.exited.wait()
            if child.exit is None:
                if child.lost:
                    log.warning("actor %r broke its channel; terminating", child.name)
                else:
                    log.warning("actor %r ignored the cancel request; terminating", child.name)
                await proc.send_signal(signal.SIGTERM)
                with trio.move_on_after(opts.terminate_timeout):
                    await child.exited.wait()
        if child.exit is None:
            if not hard:
                log.warning("actor %r ignored SIGTERM; killing", child.name)
            await proc.send_signal(signal.SIGKILL)
            await child.exited.wait()
        await child.conn.chan.aclose()
        await child_ended(parent, child.uid, child.conn)
    assert child.exit is not None
    return child.exit
