"""ActorNursery: spawn actors, supervise them, and tear them all down on exit.

Each child has a supervisor task in the nursery's trio nursery. It spawns the
process, serves the child's channel, and reaps it the moment it ends. A
``run_in_actor`` child's error is raised by its supervisor, which cancels the whole
nursery: siblings are stopped, the block is cancelled, and the error comes out of
``async with``. When the block ends normally the nursery waits for every
``run_in_actor`` result, then cancels the daemons (``start_actor``) and reaps
everything before returning.

With ``report_exits=True`` a child's end never fails the nursery: each end (a stop,
an exit code, a signal, a lost channel, a ``run_in_actor`` function that returned or
raised) is reported as a :class:`~agentree.ChildExit` on :meth:`ActorNursery.exit_events`,
and the function's outcome stays on its portal (``wait_for_result``). The teardown
is the same in both modes: nothing outlives the block.
"""

from __future__ import annotations

import contextlib
import math
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import trio

from ._exceptions import AgentreeError, InvalidOption
from ._exit import ChildExit
from ._groups import strict
from ._options import check_child_options, check_root_options
from ._portal import Portal
from ._root import open_root_actor
from ._runtime import Actor, current_actor_or_none, ns_of
from ._runtime._control import track
from ._runtime._hooks import agent_starter
from ._spawn import Child, serve_child, spawn_actor, stop_child
from ._spawn._placement import RayPlacement, check_placement
from .msg import find_unencodable

if TYPE_CHECKING:
    # For the signature only: the agent layer plugs in through _runtime._hooks.
    from .agents import Agent, AgentRef

    A = TypeVar("A", bound=Agent)

__all__ = ["ActorNursery", "ShutdownPolicy", "open_nursery"]

# Seconds a stopped child gets to exit after the cancel request (then SIGTERM, then
# SIGKILL), or "brutal_kill": SIGKILL at once.
ShutdownPolicy = float | Literal["brutal_kill"]


class ActorNursery:
    """Spawns and supervises child actors. Get one from :func:`open_nursery`."""

    def __init__(
        self,
        actor: Actor,
        tn: trio.Nursery,
        *,
        report_exits: bool = False,
        start_method: str | None = None,
        placement: Any = None,
    ) -> None:
        self._actor = actor
        # This nursery's start method and Ray placement, when not the tree's.
        self._start_method = start_method
        self._placement = placement
        self._tn = tn
        self._children: dict[str, Child] = {}
        self._portals: dict[str, Portal] = {}
        self._one_shots: set[Portal] = set()
        self._body_done = False
        self._scopes: dict[str, trio.CancelScope] = {}
        # Per child: the stop policy asked for with stop_child(), and when the
        # child's supervisor is done (reaped, reported, forgotten).
        self._policies: dict[str, ShutdownPolicy] = {}
        self._done: dict[str, trio.Event] = {}
        self._stop_daemons = trio.Event()
        self._all_stopped = trio.Event()
        self._hard_kill = False
        self.cancel_called = False
        self._report_exits = report_exits
        self._exit_send, self._exit_receive = trio.open_memory_channel[ChildExit](math.inf)
        track(self)  # agentree tree / stop see this nursery's children

    @property
    def report_exits(self) -> bool:
        """Whether this nursery reports its children's ends instead of failing."""
        return self._report_exits

    def exit_events(self) -> trio.MemoryReceiveChannel[ChildExit]:
        """The channel on which each child's end arrives as a :class:`ChildExit`.

        Unbounded, so the nursery never waits for a reader. It ends (``async for``
        stops) once the nursery has closed and every end has been read.

        Raises:
            AgentreeError: the nursery was not opened with ``report_exits=True``.
        """
        if not self._report_exits:
            raise AgentreeError(
                "exit_events() needs a nursery opened with open_nursery(report_exits=True)"
            )
        return self._exit_receive

    @property
    def children(self) -> dict[tuple[str, str], Portal]:
        """The running children's portals by uid."""
        return {c.uid: self._portals[c.uuid] for c in self._children.values()}

    async def start_actor(
        self,
        name: str,
        *,
        enable_modules: list[str] | None = None,
        infect_asyncio: bool = False,
        debug_mode: bool | None = None,
        loglevel: str | None = None,
        start_method: str | None = None,
        placement: RayPlacement | None = None,
    ) -> Portal:
        """Start a long-lived (daemon) actor and return its portal.

        The actor serves calls to functions in ``enable_modules`` until it is
        cancelled: by ``portal.cancel_actor()``, ``an.cancel()``, or the nursery's exit.
        ``start_method="ray"`` (or a nursery opened with it) hosts it on a node Ray
        picks, with ``placement`` (see the README section "Beyond one machine").

        Raises:
            InvalidOption: an option the child could not use; nothing was spawned.
            SpawnError: the child did not start or could not import its modules.
        """
        check_child_options(
            f"start_actor({name!r})",
            name=name,
            enable_modules=enable_modules,
            infect_asyncio=infect_asyncio,
            debug_mode=debug_mode,
            loglevel=loglevel,
        )
        return await self._spawn(
            name,
            list(enable_modules or ()),
            None,
            infect_asyncio,
            debug_mode,
            loglevel,
            start_method=start_method,
            placement=placement,
        )

    async def run_in_actor(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        infect_asyncio: bool = False,
        enable_modules: list[str] | None = None,
        loglevel: str | None = None,
        start_method: str | None = None,
        placement: RayPlacement | None = None,
        **kwargs: Any,
    ) -> Portal:
        """Run ``fn(**kwargs)`` in a new actor; its result comes from the portal.

        ``fn``'s module is enabled in the child. If ``fn`` raises, the error is raised
        from the nursery block (in an exception group) and the other children are
        cancelled. ``name``, ``infect_asyncio``, ``enable_modules`` and ``loglevel``
        are the child's options, as for :meth:`start_actor`; they are not passed to
        ``fn``.

        Raises:
            NotAddressable: ``fn`` is a lambda or nested function.
            MsgEncodeError: an argument cannot be sent; nothing was spawned.
            InvalidOption: an option the child could not use; nothing was spawned.
        """
        ns = ns_of(fn)
        check_child_options(
            f"run_in_actor({ns})",
            name=name,
            enable_modules=enable_modules,
            infect_asyncio=infect_asyncio,
            loglevel=loglevel,
            name_optional=True,
        )
        _check_encodable(kwargs, ns)
        modules = [ns.partition(":")[0], *(enable_modules or ())]
        return await self._spawn(
            name or ns.rpartition(".")[2].rpartition(":")[2],
            modules,
            (ns, kwargs),
            infect_asyncio,
            None,
            loglevel,
            start_method=start_method,
            placement=placement,
        )

    async def start_agent(
        self, cls: type[A], /, *args: Any, name: str, **kwargs: Any
    ) -> AgentRef[A]:
        """Start agent ``cls(*args, **kwargs)`` in its own actor; see ``agentree.Agent``.

        Returns once the agent's ``on_start`` has returned.
        """
        starter = agent_starter()
        if starter is None:
            raise TypeError(f"start_agent() needs an agentree.Agent subclass, not {cls!r}")
        ref: AgentRef[A] = await starter(self, cls, args, name, kwargs)
        return ref

    async def _spawn(
        self,
        name: str,
        modules: list[str],
        main: tuple[str, dict[str, Any]] | None,
        infect_asyncio: bool,
        debug_mode: bool | None,
        loglevel: str | None,
        *,
        start_method: str | None = None,
        placement: RayPlacement | None = None,
    ) -> Portal:
        start_method = start_method or self._start_method
        placement = placement or self._placement
        check_placement(
            f"start_actor({name!r})",
            start_method,
            placement,
            effective=start_method or self._actor.options.start_method,
        )
        portal: Portal = await self._tn.start(
            self._supervise,
            name,
            modules,
            main,
            infect_asyncio,
            debug_mode,
            loglevel,
            start_method,
            placement,
        )
        return portal

    async def _supervise(
        self,
        name: str,
        modules: list[str],
        main: tuple[str, dict[str, Any]] | None,
        infect_asyncio: bool,
        debug_mode: bool | None,
        loglevel: str | None,
        start_method: str | None = None,
        placement: RayPlacement | None = None,
        task_status: trio.TaskStatus[Portal] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        uuid = uuidlib.uuid4().hex
        child = await spawn_actor(
            self._actor,
            name,
            uuid=uuid,
            enable_modules=modules,
            debug_mode=debug_mode,
            loglevel=loglevel,
            infect_asyncio=infect_asyncio,
            start_method=start_method,
            placement=placement,
        )
        portal = Portal(child.conn, child)
        self._children[uuid] = child
        self._portals[uuid] = portal
        self._scopes[uuid] = scope = trio.CancelScope()
        self._done[uuid] = done = trio.Event()
        try:
            async with trio.open_nursery() as serving:
                # The loop outlives outside cancellation: the graceful stop below needs
                # it, and it ends by itself at the child's end of file. The process is
                # reaped the moment it ends.
                serving.start_soon(serve_child, child)
                try:
                    with scope:
                        await self._run_child(child, portal, main, task_status)
                finally:
                    policy = self._policies.get(uuid)
                    await stop_child(
                        child,
                        self._actor,
                        hard=self._hard_kill or policy == "brutal_kill",
                        cancel_timeout=policy if isinstance(policy, float | int) else None,
                    )
                    if main is not None and not portal._result_ready.is_set():
                        # Stopped while waiting: an error the child raised meanwhile is
                        # still a failure of this nursery, reported with the rest.
                        late_error = portal._late_error()
                        if late_error is not None and not self._report_exits:
                            self.cancel_called = True
                            raise late_error
        finally:
            del self._children[uuid], self._portals[uuid], self._scopes[uuid]
            self._policies.pop(uuid, None)
            if self._report_exits and child.exit is not None:
                # Nobody listens any more if the owner closed the receiving end.
                with contextlib.suppress(trio.BrokenResourceError):
                    self._exit_send.send_nowait(child.exit)
            del self._done[uuid]
            done.set()
            if not self._children:
                self._all_stopped.set()

    async def _run_child(
        self,
        child: Child,
        portal: Portal,
        main: tuple[str, dict[str, Any]] | None,
        task_status: trio.TaskStatus[Portal],
    ) -> None:
        if main is None:
            task_status.started(portal)
            # Until the block ends, or the child ends by itself (reaped at once).
            await _wait_any(self._stop_daemons, child.conn.closed, child.exited)
            return
        await portal._submit_main(*main)
        self._one_shots.add(portal)
        task_status.started(portal)
        try:
            await portal._collect_main()
        except Exception:
            # The function's error stays on its portal (wait_for_result); reporting
            # nurseries do not fail for it.
            if not self._report_exits:
                # Raising it cancels the nursery (the siblings, the block).
                self.cancel_called = True
                raise
        finally:
            self._one_shots.discard(portal)
            self._check_one_shots()

    def _end_body(self) -> None:
        self._body_done = True
        self._check_one_shots()

    def _check_one_shots(self) -> None:
        if not self._one_shots and self._body_done:
            self._stop_daemons.set()

    async def stop_child(self, portal: Portal, *, shutdown: ShutdownPolicy = 5.0) -> ChildExit:
        """Stop one child of this nursery and wait until it is reaped; say how it ended.

        Args:
            portal: the child's portal (from ``start_actor`` or ``run_in_actor``).
            shutdown: seconds the child gets to exit after a graceful cancel request,
                before SIGTERM (then ``terminate_timeout`` seconds before SIGKILL);
                or ``"brutal_kill"``: SIGKILL at once.

        Returns:
            How the child ended: ``reason == "stopped"``, unless it had already
            ended by itself. In a ``report_exits`` nursery the same record also
            arrives on :meth:`exit_events`. A ``run_in_actor`` portal's
            ``wait_for_result`` then raises ``ContextCancelled`` if the function
            had not returned yet.

        Raises:
            ValueError: ``shutdown`` is neither a number of seconds >= 0 nor
                ``"brutal_kill"``.
            AgentreeError: ``portal`` is not a child of this nursery.
        """
        if shutdown != "brutal_kill" and not (
            isinstance(shutdown, float | int) and not isinstance(shutdown, bool) and shutdown >= 0
        ):
            raise ValueError(f'shutdown must be seconds >= 0 or "brutal_kill", not {shutdown!r}')
        child = portal._child
        if child is None or self._children.get(child.uuid) is not child:
            if child is not None and child.exit is not None:
                return child.exit
            raise AgentreeError(f"{portal!r} is not a running child of this nursery")
        self._policies.setdefault(
            child.uuid, shutdown if shutdown == "brutal_kill" else float(shutdown)
        )
        self._scopes[child.uuid].cancel()
        await self._done[child.uuid].wait()
        assert child.exit is not None
        return child.exit

    async def cancel(self, hard_kill: bool = False) -> None:
        """Stop every child and wait until all of them are reaped.

        Each child gets a graceful cancel request, then SIGTERM, then SIGKILL (see
        ``cancel_timeout``/``terminate_timeout``); with ``hard_kill`` it is killed at
        once. The ``async with`` block itself goes on; ``run_in_actor`` portals whose
        child had not returned yet raise ``ContextCancelled`` from ``wait_for_result``.
        """
        self.cancel_called = True
        self._hard_kill = hard_kill
        for scope in self._scopes.values():
            scope.cancel()
        if self._children:
            self._all_stopped = trio.Event()
            await self._all_stopped.wait()
        else:
            await trio.lowlevel.checkpoint()


async def _wait_any(*events: trio.Event) -> None:
    """Return once any of ``events`` is set."""
    async with trio.open_nursery() as nursery:

        async def wait(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(wait, event)


def _check_encodable(kwargs: dict[str, Any], ns: str) -> None:
    from .msg import encode

    try:
        encode(kwargs)
    except (TypeError, ValueError, OverflowError):
        raise find_unencodable(kwargs, f"{ns}()") from None


@asynccontextmanager
async def _open_actor_nursery(
    actor: Actor,
    *,
    report_exits: bool = False,
    start_method: str | None = None,
    placement: RayPlacement | None = None,
) -> AsyncIterator[ActorNursery]:
    an: ActorNursery | None = None
    try:
        async with trio.open_nursery() as tn:
            an = ActorNursery(
                actor,
                tn,
                report_exits=report_exits,
                start_method=start_method,
                placement=placement,
            )
            try:
                yield an
            except BaseException:
                an.cancel_called = True
                tn.cancel_scope.cancel()
                raise
            an._end_body()
    except BaseException as exc:
        # Strict, as trio's nurseries: a failure comes out in a flat group, even alone.
        shaped = strict(exc, f"errors in the actor nursery of {actor.name!r}")
        if shaped is exc:
            raise
        raise shaped from None
    finally:
        if an is not None:
            an._exit_send.close()


@asynccontextmanager
async def open_nursery(
    *,
    report_exits: bool = False,
    hide_tb: bool = False,
    placement: RayPlacement | None = None,
    **root_opts: Any,
) -> AsyncIterator[ActorNursery]:
    """Open an actor nursery; in a program with no actor yet, open the root first.

    Args:
        report_exits: report each child's end as a :class:`~agentree.ChildExit` on
            ``an.exit_events()`` instead of failing the nursery: a child that
            crashes, is killed, loses its channel or whose ``run_in_actor``
            function raises is then the owner's business (the function's error is
            on its portal). Teardown is unchanged: nothing outlives the block.
        hide_tb: accepted for tractor compatibility; agentree never trims
            tracebacks.
        **root_opts: passed to :func:`open_root_actor` when this opens the root
            (``name``, ``start_method``, ``debug_mode``, ``loglevel``, ...). Ignored
            inside an already-running actor, except ``start_method``: the
            nursery's children are started that way (``"ray"``: hosted by Ray).
        placement: the Ray placement of this nursery's children (with
            ``start_method="ray"``), unless a spawn call gives its own.

    Raises:
        BaseExceptionGroup: the block or a child failed: a flat group of the
            failures, even for one (as trio's strict nurseries raise; catch with
            ``except*``, or wrap the block in ``agentree.trionics.collapse_eg()``).
            A ``run_in_actor`` child's error is a ``RemoteActorError`` in it, a
            child whose process died before answering an ``ActorDied``; not with
            ``report_exits``. A lone ``KeyboardInterrupt``/``SystemExit`` comes
            out bare.
        InvalidOption: a ``root_opts`` value the tree could not use (checked even
            where the options are ignored); nothing was started.
        TypeError: an option ``open_root_actor`` does not take.
    """
    check_root_options("open_nursery()", root_opts)
    check_placement("open_nursery()", root_opts.get("start_method"), placement)
    actor = current_actor_or_none()
    if actor is None:
        async with (
            open_root_actor(**root_opts) as root,
            _open_actor_nursery(root, report_exits=report_exits, placement=placement) as an,
        ):
            yield an
    else:
        if root_opts.get("feedback"):
            raise InvalidOption(
                "open_nursery(feedback=...): feedback handlers are the root's, and the root "
                f"is open already (actor {actor.name!r}); use open_supervisor(feedback=...) "
                "for a level below the root"
            )
        if root_opts.get("store") is not None or root_opts.get("run_id") is not None:
            raise InvalidOption(
                "open_nursery(store=..., run_id=...): they are the root's, and the root is "
                f"open already (actor {actor.name!r}); use open_supervisor(store=..., run_id=...)"
            )
        async with _open_actor_nursery(
            actor,
            report_exits=report_exits,
            start_method=root_opts.get("start_method"),
            placement=placement,
        ) as an:
            yield an
