"""Concurrency modes: caps and groups (FIFO, independent), threads, cancellation."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

import agentree

from ._agents import Cancellable, Capped, Fetcher, GroupedThreads, Serial, Threads

TIMEOUT = 60


async def test_caps_hold_and_keep_fifo_order_under_100_callers() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Capped, name="capped")
            results: list[int] = []

            async def one(kind: str, i: int) -> None:
                fn = Capped.work if kind == "default" else Capped.llm
                results.append(await ref.call(fn, i))

            async with trio.open_nursery() as tn:
                # One caller at a time sends its call (then waits for the reply), so
                # the calls reach the agent in this order.
                for i in range(100):
                    tn.start_soon(one, "default", i)
                    await trio.testing.wait_all_tasks_blocked()
                    if i < 20:
                        tn.start_soon(one, "llm", i)
                        await trio.testing.wait_all_tasks_blocked()
                # Both caps are full and calls wait behind them; the "ctl" group is
                # independent, so its calls still run.
                stats = await ref.call(Capped.stats)
                assert stats["running"] == {"default": 3, "llm": 2}
                assert stats["both_full"]
                # A ping bypasses every cap: the runtime answers it.
                assert await ref.ping(timeout=TIMEOUT) < TIMEOUT
                await ref.call(Capped.open_gate)
            stats = await ref.call(Capped.stats)
            assert stats["peak"] == {"default": 3, "llm": 2}
            assert stats["order"] == {"default": list(range(100)), "llm": list(range(20))}
            assert sorted(results) == sorted([*range(100), *range(20)])
            await an.cancel()


async def test_thread_pool_runs_in_parallel_off_the_loop() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Threads, name="threads")
            assert not await ref.call(Threads.on_loop_thread)
            async with trio.open_nursery() as tn:
                # Each call returns only when 4 of them wait at a barrier at once.
                for _ in range(8):
                    tn.start_soon(ref.call, Threads.meet)
            peak, threads = await ref.call(Threads.peak_running)
            assert peak == 4
            assert threads >= 4
            await an.cancel()


async def test_one_thread_is_serial() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Serial, name="serial")
            async with trio.open_nursery() as tn:
                for _ in range(6):
                    tn.start_soon(ref.call, Serial.step)
            assert await ref.call(Serial.peak_running) == 1
            await an.cancel()


async def test_cancelling_a_thread_call_sets_its_flag() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Threads, name="spinner")
            async with trio.open_nursery() as tn:
                cancelled_at = trio.Event()
                done_at: list[float] = []

                async def caller() -> None:
                    with trio.CancelScope() as scope:
                        scope_holder.append(scope)
                        await ref.call(Threads.spin_until_cancelled)
                    done_at.append(time.monotonic())
                    cancelled_at.set()

                scope_holder: list[trio.CancelScope] = []
                tn.start_soon(caller)
                await ref.call(Threads.wait_started)
                t0 = time.monotonic()
                scope_holder[0].cancel()
                await cancelled_at.wait()
                # The caller is not held up by the thread.
                assert done_at[0] - t0 < 1.0
            # The thread saw check_cancelled() raise.
            await ref.call(Threads.wait_cancelled)
            # Its thread is free again.
            assert not await ref.call(Threads.on_loop_thread)
            await an.cancel()


async def test_cancelling_an_async_call_cancels_the_method() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Cancellable, name="cancellable")
            with trio.move_on_after(30) as scope:
                async with trio.open_nursery() as tn:
                    tn.start_soon(ref.call, Cancellable.hang)
                    await ref.call(Cancellable.wait_started)
                    scope.cancel()
            await ref.call(Cancellable.wait_cancelled)
            assert await ref.call(Cancellable.ping) == ref.pid
            await an.cancel()


def test_check_cancelled_outside_a_call_is_a_no_op() -> None:
    agentree.check_cancelled()


@pytest.mark.parametrize("n", [6])
async def test_asyncio_agent_runs_aiohttp_under_its_cap(n: int) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Fetcher, name="fetcher")
            results: dict[int, str] = {}

            async def one(i: int) -> None:
                results[i] = await ref.call(Fetcher.fetch, i)

            async with trio.open_nursery() as tn:
                for i in range(n):
                    tn.start_soon(one, i)
            assert results == {i: f"hello {i}" for i in range(n)}
            assert await ref.call(Fetcher.peak_running) == 2
            await an.cancel()


async def test_a_group_caps_thread_methods_too() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(GroupedThreads, name="grouped")
            async with trio.open_nursery() as tn:
                for _ in range(4):
                    tn.start_soon(ref.call, GroupedThreads.io_step)
                # Methods outside the group still get threads meanwhile.
                for _ in range(2):
                    tn.start_soon(ref.call, GroupedThreads.free)
            assert await ref.call(GroupedThreads.peak_running) == 1
            await an.cancel()
