"""The trio <-> asyncio bridge, in-process: trio as a guest on an asyncio loop.

Each test runs its trio body with ``agentree.run_as_asyncio_guest`` (so the tests are
plain functions, not trio tests). The helper also records everything the asyncio
loop reports to its exception handler ("Task was destroyed but it is pending",
"exception was never retrieved", ...) and fails the test on any of it; pytest
turns "coroutine was never awaited" and every other warning into an error.
"""

from __future__ import annotations

import asyncio
import gc
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import trio

import agentree
from agentree import to_asyncio

TIMEOUT = 10


def guest(trio_main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``trio_main()`` as a guest on a fresh asyncio loop; fail on loop reports."""
    reports: list[dict[str, Any]] = []

    async def main() -> Any:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: reports.append(context))
        with trio.fail_after(TIMEOUT):
            result = await trio_main()
        # Only the host's own task is left: no bridged task outlived its trio call.
        others = asyncio.all_tasks(loop) - {_host_task(loop)}
        assert not others, others
        return result

    try:
        return agentree.run_as_asyncio_guest(main)
    finally:
        gc.collect()
        assert reports == []


def _host_task(loop: asyncio.AbstractEventLoop) -> asyncio.Task[Any]:
    (task,) = [t for t in asyncio.all_tasks(loop) if not t.get_name().startswith("agentree")]
    return task


# -- run_task ------------------------------------------------------------------------------


async def aio_add(x: int, y: int) -> int:
    await asyncio.sleep(0)
    return x + y


async def aio_raise(message: str) -> None:
    await asyncio.sleep(0)
    raise ValueError(message)


def test_run_task_returns_the_result() -> None:
    async def main() -> int:
        return await to_asyncio.run_task(aio_add, x=40, y=2)  # type: ignore[no-any-return]

    assert guest(main) == 42


def test_run_task_runs_on_the_host_loop() -> None:
    async def aio_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def main() -> None:
        loop = await to_asyncio.run_task(aio_loop)
        assert loop is asyncio.get_running_loop()

    guest(main)


def test_run_task_raises_the_asyncio_error() -> None:
    async def main() -> None:
        with pytest.raises(ValueError, match="aio says no") as info:
            await to_asyncio.run_task(aio_raise, message="aio says no")
        # The very error the asyncio task raised, not a copy.
        assert type(info.value) is ValueError

    guest(main)


def test_run_task_trio_cancel_cancels_and_awaits_the_task() -> None:
    log: list[str] = []
    started = trio.Event()

    async def aio_forever() -> None:
        started.set()
        try:
            await asyncio.sleep(math.inf)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        finally:
            # Cleanup that needs the loop still finishes before trio goes on.
            await asyncio.sleep(0)
            log.append("cleaned up")

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as tn:
                tn.start_soon(to_asyncio.run_task, aio_forever)
                await started.wait()
                scope.cancel()
        assert scope.cancelled_caught
        assert log == ["cancelled", "cleaned up"]

    guest(main)


def test_run_task_error_while_cancelled_replaces_the_cancel() -> None:
    started = trio.Event()

    async def aio_bad_cleanup() -> None:
        started.set()
        try:
            await asyncio.sleep(math.inf)
        finally:
            raise KeyError("cleanup failed")

    async def main() -> None:
        async with trio.open_nursery() as tn:
            with trio.CancelScope() as scope:

                async def cancel_when_started() -> None:
                    await started.wait()
                    scope.cancel()

                tn.start_soon(cancel_when_started)
                with pytest.raises(KeyError, match="cleanup failed"):
                    await to_asyncio.run_task(aio_bad_cleanup)

    guest(main)


def test_run_task_cancelled_from_asyncio_side() -> None:
    async def aio_cancelled_by_other() -> None:
        me = asyncio.current_task()
        assert me is not None
        asyncio.get_running_loop().call_soon(me.cancel)
        await asyncio.sleep(math.inf)

    async def main() -> None:
        with pytest.raises(agentree.AsyncioCancelled, match="aio_cancelled_by_other") as info:
            await to_asyncio.run_task(aio_cancelled_by_other)
        assert isinstance(info.value.__cause__, asyncio.CancelledError)

    guest(main)


def test_run_task_needs_a_coroutine_function() -> None:
    def not_async() -> int:
        return 1

    async def main() -> None:
        with pytest.raises(TypeError, match="not_async"):
            await to_asyncio.run_task(not_async)  # type: ignore[arg-type]

    guest(main)


def test_channel_arguments_are_not_overridden() -> None:
    async def main() -> None:
        with pytest.raises(TypeError, match="to_trio is passed by the bridge"):
            async with to_asyncio.open_channel_from(aio_echo, to_trio=None):
                pytest.fail("the block must not run")

    guest(main)


async def test_outside_an_infected_actor() -> None:
    """Under plain trio there is no asyncio loop: a clear typed error, nothing started."""
    coro_made: list[int] = []

    async def aio_fn(**_kwargs: Any) -> None:
        coro_made.append(1)

    with pytest.raises(agentree.NotInfectedAsyncio, match=r"run_task\(.*aio_fn\)"):
        await to_asyncio.run_task(aio_fn)
    with pytest.raises(agentree.NotInfectedAsyncio, match=r"open_channel_from\(.*aio_fn\)"):
        async with to_asyncio.open_channel_from(aio_fn):
            pass
    with pytest.raises(RuntimeError, match="infect_asyncio=True"):
        await to_asyncio.run_task(aio_fn)
    assert coro_made == []


# -- open_channel_from ---------------------------------------------------------------------


async def aio_echo(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> str:
    to_trio.send_nowait("start")
    async for msg in from_trio:
        await to_trio.send(msg)
    return "done"


def test_channel_echo_both_ways() -> None:
    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_echo) as (first, chan):
            assert first == "start"
            for i in range(100):
                await chan.send(i)
                assert await chan.receive() == i
            # Several in flight: the buffer keeps all of them, in order.
            for i in range(10):
                await chan.send({"n": i})
            assert [await chan.receive() for _ in range(10)] == [{"n": i} for i in range(10)]

    guest(main)


def test_channel_kwargs_and_async_for_on_trio_side() -> None:
    async def aio_count(
        to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio, n: int
    ) -> None:
        to_trio.send_nowait(n)
        for i in range(n):
            to_trio.send_nowait(i)
        # Returning ends the trio side's iteration, after what was sent.

    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_count, n=5) as (first, chan):
            assert first == 5
            assert [msg async for msg in chan] == [0, 1, 2, 3, 4]
            with pytest.raises(trio.EndOfChannel):
                await chan.receive()
            with pytest.raises(trio.BrokenResourceError, match="aio_count"):
                await chan.send("late")

    guest(main)


def test_cancelled_receive_takes_nothing() -> None:
    """While the task runs, a cancelled receive leaves the buffered values in place."""

    async def aio_two(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        to_trio.send_nowait(1)
        to_trio.send_nowait(2)
        await from_trio.get()

    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_two) as (_first, chan):
            with trio.CancelScope() as scope:
                scope.cancel()
                await chan.receive()
            assert scope.cancelled_caught
            assert [await chan.receive(), await chan.receive()] == [1, 2]
            await chan.send("bye")

    guest(main)


def test_burst_of_ready_values_lets_other_tasks_run() -> None:
    """Receiving many ready values still yields to other trio tasks now and then."""

    async def aio_burst(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        for i in range(200):
            to_trio.send_nowait(i)
        to_trio.close()

    async def main() -> None:
        ticks = 0
        got: list[int] = []

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await trio.lowlevel.checkpoint()

        async with trio.open_nursery() as tn:
            tn.start_soon(ticker)
            async with to_asyncio.open_channel_from(aio_burst) as (_first, chan):
                # The task sent all 200 values in one step, before its first one
                # arrived here: every receive below finds a value ready.
                before = ticks
                async for value in chan:
                    got.append(value)
                during = ticks - before
            tn.cancel_scope.cancel()
        assert got == list(range(200))
        assert during >= 200 // 16

    guest(main)


def test_asyncio_side_close_ends_trio_iteration() -> None:
    async def aio_close_early(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("first")
        to_trio.send_nowait("last")
        to_trio.close()
        await from_trio.get()  # still running after closing its sending side

    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_close_early) as (_first, chan):
            assert [msg async for msg in chan] == ["last"]
            await chan.send("bye")

    guest(main)


def test_trio_side_close_ends_asyncio_iteration() -> None:
    seen: list[Any] = []
    ended = trio.Event()

    async def aio_collect(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("ready")
        async for msg in from_trio:
            seen.append(msg)
        with pytest.raises(trio.EndOfChannel):
            await from_trio.get()
        with pytest.raises(trio.EndOfChannel):
            from_trio.get_nowait()
        ended.set()

    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_collect) as (_first, chan):
            for i in range(3):
                await chan.send(i)
            await chan.aclose()
            await ended.wait()
            with pytest.raises(trio.ClosedResourceError):
                await chan.send(3)
        assert seen == [0, 1, 2]

    guest(main)


def test_block_end_cancels_and_awaits_a_running_task() -> None:
    log: list[str] = []

    async def aio_serve(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        try:
            await asyncio.Event().wait()  # never set: only cancellation ends it
        finally:
            await asyncio.sleep(0)
            log.append("cleaned up")

    async def main() -> None:
        async with to_asyncio.open_channel_from(aio_serve) as (first, _chan):
            assert first == "up"
        assert log == ["cleaned up"]

    guest(main)


def test_trio_cancel_cancels_and_awaits_the_channel_task() -> None:
    log: list[str] = []

    async def aio_serve(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        try:
            await asyncio.sleep(math.inf)
        except asyncio.CancelledError:
            log.append("cancelled")
            raise

    async def main() -> None:
        with trio.CancelScope() as scope:
            async with to_asyncio.open_channel_from(aio_serve) as (_first, chan):
                scope.cancel()
                await chan.receive()
        assert scope.cancelled_caught
        assert log == ["cancelled"]

    guest(main)


def test_task_error_while_trio_side_waits_elsewhere() -> None:
    """The task fails while the block waits on something else: the block is cancelled."""

    async def aio_fail_on_msg(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        await from_trio.get()
        raise ValueError("aio failed")

    async def use() -> None:
        async with to_asyncio.open_channel_from(aio_fail_on_msg) as (_first, chan):
            await chan.send("go")
            await trio.sleep_forever()

    async def main() -> None:
        with pytest.raises(ValueError, match="aio failed"):
            await use()

    guest(main)


def test_task_error_raised_from_receive() -> None:
    async def aio_fail(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        to_trio.send_nowait(1)
        raise ValueError("after one")

    got: list[Any] = []

    async def use() -> None:
        async with to_asyncio.open_channel_from(aio_fail) as (_first, chan):
            async for msg in chan:
                got.append(msg)

    async def main() -> None:
        with pytest.raises(ValueError, match="after one"):
            await use()
        assert got == [1]

    guest(main)


def test_task_cancelled_from_asyncio_side_mid_stream() -> None:
    async def aio_self_cancel(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        await from_trio.get()
        me = asyncio.current_task()
        assert me is not None
        me.cancel()
        await asyncio.sleep(0)

    async def use() -> None:
        async with to_asyncio.open_channel_from(aio_self_cancel) as (_first, chan):
            await chan.send("go")
            await chan.receive()

    async def main() -> None:
        with pytest.raises(agentree.AsyncioCancelled, match="aio_self_cancel") as info:
            await use()
        assert isinstance(info.value.__cause__, asyncio.CancelledError)

    guest(main)


def test_trio_error_in_block_cancels_the_task() -> None:
    log: list[str] = []

    async def aio_serve(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        try:
            await asyncio.sleep(math.inf)
        finally:
            log.append("finally")

    async def main() -> None:
        with pytest.raises(KeyError, match="trio side"):
            async with to_asyncio.open_channel_from(aio_serve):
                raise KeyError("trio side")
        assert log == ["finally"]

    guest(main)


def test_error_in_task_cleanup_is_raised_at_block_end() -> None:
    async def aio_bad_cleanup(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.send_nowait("up")
        try:
            await asyncio.sleep(math.inf)
        finally:
            raise OSError("cleanup failed")

    async def main() -> None:
        with pytest.raises(OSError, match="cleanup failed"):
            async with to_asyncio.open_channel_from(aio_bad_cleanup):
                pass

    guest(main)


def test_no_first_value_returned() -> None:
    async def aio_no_first(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> int:
        await asyncio.sleep(0)
        return 7

    async def main() -> None:
        with pytest.raises(agentree.AsyncioTaskExited, match=r"aio_no_first\(\) returned 7"):
            async with to_asyncio.open_channel_from(aio_no_first):
                pytest.fail("the block must not run")

    guest(main)


def test_no_first_value_closed() -> None:
    async def aio_close_first(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        to_trio.close()
        await from_trio.get()

    async def main() -> None:
        with pytest.raises(agentree.AsyncioTaskExited, match="closed to_trio"):
            async with to_asyncio.open_channel_from(aio_close_first):
                pytest.fail("the block must not run")

    guest(main)


def test_error_before_first_value() -> None:
    async def aio_fail_first(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        raise ConnectionRefusedError("no server")

    async def main() -> None:
        with pytest.raises(ConnectionRefusedError, match="no server"):
            async with to_asyncio.open_channel_from(aio_fail_first):
                pytest.fail("the block must not run")

    guest(main)


def test_cancelled_before_first_value() -> None:
    async def aio_cancel_first(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
        raise asyncio.CancelledError

    async def main() -> None:
        with pytest.raises(agentree.AsyncioCancelled):
            async with to_asyncio.open_channel_from(aio_cancel_first):
                pytest.fail("the block must not run")

    guest(main)


# -- run_as_asyncio_guest ------------------------------------------------------------------


def test_guest_run_returns_and_raises() -> None:
    async def value(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x

    async def boom() -> None:
        await trio.lowlevel.checkpoint()
        raise ArithmeticError("boom")

    assert agentree.run_as_asyncio_guest(value, 5) == 5
    with pytest.raises(ArithmeticError, match="boom"):
        agentree.run_as_asyncio_guest(boom)
    assert agentree.to_asyncio.run_as_asyncio_guest is agentree.run_as_asyncio_guest


def test_host_cancel_cancels_the_guest() -> None:
    """Cancelling the host's main task (as Ctrl-C does) cancels and awaits trio."""
    log: list[str] = []

    async def trio_forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            log.append("trio cancelled")

    async def host() -> None:
        from agentree._runtime._guest import _host_main

        main = asyncio.ensure_future(_host_main(trio_forever, ()))
        await asyncio.sleep(0.01)
        main.cancel()
        with pytest.raises(asyncio.CancelledError):
            await main

    asyncio.run(host())
    assert log == ["trio cancelled"]
