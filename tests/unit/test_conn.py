"""L3 connections in one process: served calls over an in-memory channel pair.

A plain call runs in the reader task until it first waits, then the reading moves to
a new task (see ``agentree._runtime._inline``). These tests check what that must not
change: concurrent calls, cancellation by the caller and by the serving actor, boxed
errors, and exactly one reply per call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import agentree
from agentree._ipc import Channel
from agentree._runtime._actor import Actor
from agentree._runtime._conn import Conn
from agentree.msg import Cancel, CancelAck, Return

MODULE = __name__
_released = trio.Event()
_blocked = trio.Event()
_ended = trio.Event()


async def double(x: int) -> int:
    return x * 2


async def wait_for_release(x: int) -> int:
    _blocked.set()
    try:
        await _released.wait()
    finally:
        _ended.set()
    return x


async def release() -> None:
    _released.set()


async def scoped_wait(x: int) -> int:
    # Enters a cancel scope and a nursery before its first wait: the reader hands off
    # in the middle of them, and they must still nest properly.
    with trio.CancelScope():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_released.wait)
            return await wait_for_release(x)


async def fail_after_waiting() -> None:
    await trio.lowlevel.checkpoint()
    raise LookupError("failed after waiting")


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[Conn, Conn]]:
    """A caller's and a server's connection over memory streams, both reading.

    Yields:
        ``(caller side, serving side)``.
    """
    global _released, _blocked, _ended
    _released, _blocked, _ended = trio.Event(), trio.Event(), trio.Event()
    left, right = trio.testing.memory_stream_pair()
    caller = Actor("caller")
    server = Actor("server", enable_modules={MODULE})
    caller_conn = Conn(caller, Channel(left, initiator=True), server.uid)  # type: ignore[arg-type]
    server_conn = Conn(server, Channel(right), caller.uid)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller_conn.process_messages)
        nursery.start_soon(server_conn.process_messages)
        yield caller_conn, server_conn
        await caller_conn.chan.aclose()


def ns(name: str) -> str:
    return f"{MODULE}:{name}"


async def test_calls_that_finish_and_calls_that_wait() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, _):
            results: list[int] = []

            async def waiting_call() -> None:
                results.append(await conn.call(ns("wait_for_release"), {"x": 7}))

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiting_call)
                # The waiting call holds no reader: other calls are served meanwhile.
                for x in range(3):
                    assert await conn.call(ns("double"), {"x": x}) == 2 * x
                await conn.call(ns("release"), {})
            assert results == [7]
            # Scopes opened before the hand-off (the event is set by now, but the
            # nursery still waits once).
            assert await conn.call(ns("scoped_wait"), {"x": 5}) == 5
            with pytest.raises(agentree.RemoteActorError) as info:
                await conn.call(ns("fail_after_waiting"), {})
            assert info.value.boxed_type is LookupError


async def test_cancelling_the_caller_cancels_a_waiting_call() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, server_conn):
            with trio.CancelScope() as scope:

                async def cancel_once_blocked() -> None:
                    await _blocked.wait()
                    scope.cancel()

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(cancel_once_blocked)
                    await conn.call(ns("wait_for_release"), {"x": 1})
            assert scope.cancelled_caught
            # The server's task for the call ends, and the server goes on serving.
            await _ended.wait()
            assert await conn.call(ns("double"), {"x": 4}) == 8
            assert not server_conn._tasks


async def test_cancelling_the_serving_actor_names_it_as_canceller() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, server_conn):
            async with trio.open_nursery() as nursery:

                async def cancel_once_blocked() -> None:
                    await _blocked.wait()
                    server_conn.actor.cancel_soon()

                nursery.start_soon(cancel_once_blocked)
                with pytest.raises(agentree.ContextCancelled) as info:
                    await conn.call(ns("wait_for_release"), {"x": 1})
            assert info.value.canceller == server_conn.actor.uid


async def swallow_cancel_then_return(x: int) -> int:
    # Ends normally although cancelled: its reply must still go out, exactly once.
    _blocked.set()
    with trio.CancelScope(shield=True):
        await _released.wait()
    return x


async def test_a_cancel_message_names_the_caller_and_the_reader_goes_on() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, server_conn):
            cid, dialog = conn.open_dialog()
            await conn.send_start(cid, ns("wait_for_release"), {"x": 1}, "func")
            await _blocked.wait()
            await conn.chan.send(Cancel(cid=cid))
            final = await dialog.get()
            assert isinstance(final, CancelAck)
            assert final.canceller is not None
            assert tuple(final.canceller) == conn.actor.uid
            assert _ended.is_set()
            conn.close_dialog(cid)
            # The cancelled call's task ended; calls that wait and calls that do not
            # are still served, each answered once.
            assert not server_conn._tasks
            assert await conn.call(ns("double"), {"x": 3}) == 6
            _released.set()
            assert await conn.call(ns("wait_for_release"), {"x": 2}) == 2


async def test_a_call_cancelled_after_its_last_wait_still_returns_once() -> None:
    with trio.fail_after(5):
        async with connected() as (conn, server_conn):
            cid, dialog = conn.open_dialog()
            await conn.send_start(cid, ns("swallow_cancel_then_return"), {"x": 9}, "func")
            await _blocked.wait()
            await conn.chan.send(Cancel(cid=cid))
            # Both readers have handled everything sent so far: the Cancel was read.
            await trio.testing.wait_all_tasks_blocked()
            assert server_conn._tasks[cid].cancel_called
            _released.set()
            final = await dialog.get()
            assert isinstance(final, Return)
            assert conn.unwrap_final(final, "x") == 9
            conn.close_dialog(cid)
            assert await conn.call(ns("double"), {"x": 5}) == 10
            assert dialog.get_nowait() is None


async def test_a_woken_caller_does_not_hold_up_the_reader() -> None:
    """With one dialog open, the reader lets the task a reply woke take its step
    first, then reads on, whatever that task waits for next."""
    with trio.fail_after(5):
        async with connected() as (conn, _):
            replied, second_done = trio.Event(), trio.Event()

            async def first() -> None:
                assert await conn.call(ns("double"), {"x": 1}) == 2
                replied.set()
                await second_done.wait()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(first)
                await replied.wait()
                for x in range(5):
                    assert await conn.call(ns("double"), {"x": x}) == 2 * x
                second_done.set()
            assert conn._parked is None
