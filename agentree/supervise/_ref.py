"""``SupervisedRef``: a ref that is a path, resolved at each call (DESIGN 7, rules 4-5).

A call goes to the incarnation running when it is made. If none runs (the agent is
restarting or backing off), the call waits, in order with the other waiting calls,
inside the caller's cancel scope, and is sent to the next incarnation once its
``on_start`` has returned. A call whose incarnation dies before answering fails at
once with ``AgentCrashed`` (end of file, not a timeout) and is not re-run, unless
its method is ``idempotent=True``: then it is re-sent once to the next incarnation.
A call that never reached the agent (the send itself failed) simply waits for the
next incarnation: it was not run, and waiting never uses up the retry.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import trio

from .._context import Context, open_context
from .._exceptions import (
    ActorDied,
    AgentCrashed,
    MsgEncodeError,
    RemoteActorError,
    TransportClosed,
)
from .._runtime import PING_NS
from ..agents._host import CALL_NS, CTX_NS, ctx_call
from ..agents._ref import AgentRef, death_of
from ..agents._spec import Agent
from ..msg import Start, find_unencodable
from ._health import limit_error
from ._health import limit_signal as _limit_signal

if TYPE_CHECKING:
    from ._slot import AgentRun, AgentSlot

__all__ = ["SupervisedRef"]

A = TypeVar("A", bound=Agent)
P = ParamSpec("P")


class SupervisedRef(AgentRef[A]):
    """A ref to a supervised agent: valid across its restarts.

    Get one from ``Supervisor.start_agent``. ``pid`` and ``incarnation`` are those
    of the incarnation running now (``None`` / the last one while it restarts).
    """

    __slots__ = ("_fail_fast", "_max_pending", "_slot")

    def __init__(
        self,
        slot: AgentSlot,
        cls: type[A] | None = None,
        *,
        fail_fast: bool | None = None,
        max_pending: int | None = None,
    ) -> None:
        self._slot = slot
        self._fail_fast = slot.fail_fast if fail_fast is None else fail_fast
        self._max_pending = slot.max_pending if max_pending is None else max_pending
        run = slot.current
        conn: Any = getattr(run, "conn", None)
        super().__init__(
            conn, path=slot.path, cls_ns=slot.cls_ns, pid=0, incarnation=0, cls=cls or slot.cls
        )

    def __repr__(self) -> str:
        slot = self._slot
        return (
            f"<SupervisedRef {self.path!r} ({self._cls_ns}) {slot.phase} "
            f"incarnation={slot.incarnation} pid={self.pid}>"
        )

    @property  # type: ignore[override]
    def pid(self) -> int | None:
        """The process id of the running incarnation (``None`` while none runs)."""
        run = self._slot.current
        return None if run is None else run.pid

    @pid.setter
    def pid(self, value: int | None) -> None:
        pass

    @property
    def incarnation(self) -> int:
        """The running (or last) incarnation: 1 for the first start."""
        return self._slot.incarnation

    @incarnation.setter
    def incarnation(self, value: int) -> None:
        pass

    def with_options(
        self, *, fail_fast: bool | None = None, max_pending: int | None = None
    ) -> SupervisedRef[A]:
        """The same agent, with other options for calls made while it restarts.

        Args:
            fail_fast: raise ``AgentRestarting`` instead of waiting.
            max_pending: calls that may wait (``AgentBusy`` beyond).
        """
        return SupervisedRef(
            self._slot,
            self._cls,  # type: ignore[arg-type]
            fail_fast=self._fail_fast if fail_fast is None else fail_fast,
            max_pending=self._max_pending if max_pending is None else max_pending,
        )

    async def _call(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """``call``: to the running incarnation (else it waits for the next one).

        Raises:
            FunctionNotFound: ``fn`` is not a public method of the agent's class.
            RemoteActorError: the method raised; the agent keeps serving.
            AgentCrashed: the incarnation died before answering (an idempotent
                method is first re-sent once to the next incarnation).
            AgentRestarting: no incarnation runs and the ref fails fast.
            AgentBusy: too many calls already wait for the next incarnation.
            AgentUnavailable: the agent will not run again (terminated, temporary
                and ended, or its supervisor gave up or closed).
            MsgEncodeError: an argument cannot be sent (nothing was sent).
            MsgTypeError: the result does not match the method's return annotation.
        """
        known = self._names.get(fn)
        if known is None:
            known = self._check(fn, context=False)
        name, convert = known
        payload = {"m": name, "a": args, "k": kwargs} if kwargs else {"m": name, "a": args}
        slot = self._slot
        retried = False
        while True:
            run: Any = slot.current
            if run is None or slot.waiters or not run.live:
                run = await slot.acquire(fail_fast=self._fail_fast, max_pending=self._max_pending)
            conn = run.conn
            token = run.begin(name)
            try:
                try:
                    cid, dialog = conn.open_dialog()
                except TransportClosed:
                    await _note_dead(run)
                    continue
                try:
                    try:
                        await conn.chan.send(
                            Start(cid=cid, ns=CALL_NS, kwargs=payload),  # type: ignore[arg-type]
                            schedule=False,
                        )
                    except MsgEncodeError:
                        raise find_unencodable(
                            payload, f"{self.agent_class.__qualname__}.{name}()"
                        ) from None
                    except TransportClosed:
                        # It never reached the agent: wait for the next incarnation.
                        await _note_dead(run)
                        continue
                    try:
                        msg = await dialog.get()
                    except trio.Cancelled:
                        await conn.cancel_dialog(cid)
                        raise
                    except TransportClosed as exc:
                        error = self._lost(run, conn.went_away(CALL_NS, exc), name)
                        if not retried and self.agent_class._agentree_methods[name].idempotent:
                            retried = True
                            await _note_dead(run)
                            continue
                        raise error from exc
                    result = conn.unwrap_final(msg, CALL_NS)
                    return result if convert is None else convert(result)
                finally:
                    conn.close_dialog(cid)
            except RemoteActorError as exc:
                raise self._remote(exc, name, CALL_NS) from None
            finally:
                run.end(token)
                recycle = slot.recycle_after
                if recycle is not None and run.calls_done >= (recycle.max_calls or math.inf):
                    slot.sup._begin_recycle(slot, run, f"{run.calls_done} calls")

    @asynccontextmanager
    async def open_context(
        self,
        fn: Callable[Concatenate[A, Context, P], Coroutine[Any, Any, Any]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> AsyncIterator[tuple[Context, Any]]:
        """Open a dialog with ``@agentree.context`` method ``fn`` in the running incarnation.

        A dialog never moves to another incarnation: if the agent dies meanwhile,
        ``AgentCrashed`` is raised in the block.

        Raises:
            FunctionNotFound: ``fn`` is not a context method of the agent's class.
            AgentCrashed: the agent died during the dialog.
            AgentRestarting / AgentBusy / AgentUnavailable: as for :meth:`call`.
        """
        known = self._names.get(fn)
        if known is None:
            known = self._check(fn, context=True)
        name = known[0]
        slot = self._slot
        run: Any = await slot.acquire(fail_fast=self._fail_fast, max_pending=self._max_pending)
        token = run.begin(name)
        try:
            async with open_context(run.conn, ctx_call, {"m": name, "a": args, "k": kwargs}) as (
                pair
            ):
                yield pair
        except TransportClosed as exc:
            if not run.conn.closed.is_set():
                raise
            raise self._lost(run, exc, name) from exc
        except RemoteActorError as exc:
            raise self._remote(exc, name, CTX_NS) from None
        finally:
            run.end(token)

    async def _ping(self) -> None:
        """``ping``: to the running incarnation, past every cap and ahead of queued calls.

        While the agent restarts it waits for the next incarnation (within the
        ping's ``timeout``), like a call, and raises what a call raises then
        (``AgentRestarting``, ``AgentBusy``, ``AgentUnavailable``).
        """
        slot = self._slot
        run: Any = slot.usable()
        if run is None:
            run = await slot.acquire(fail_fast=self._fail_fast, max_pending=self._max_pending)
        try:
            await run.conn.call(PING_NS, {})
        except TransportClosed as exc:
            raise self._lost(run, exc, "ping") from exc

    def _lost(self, run: AgentRun, exc: TransportClosed, name: str) -> AgentCrashed:
        how, cause = death_of(exc)
        limit = _limit_signal(self._slot, exc.exit) if isinstance(exc, ActorDied) else None
        if limit is not None:
            how = limit
            cause = limit_error(self.path, run.number, limit)
        if run.crash is not None:
            kind, why, _method = run.crash
            how = f"killed by its supervisor: {why}"
            if kind == "limit":
                cause = limit_error(self.path, run.number, why)
        return self._died(name, run.number, how, cause)


async def _note_dead(run: AgentRun) -> None:
    """The incarnation's channel is gone: no call may go to it any more."""
    run.broken = True
    run.close_to_calls()
    await trio.lowlevel.checkpoint()
