"""FifoCap in-process: the cap holds, waiters start in order, cancelled waiters."""

from __future__ import annotations

import trio
import trio.testing

from agentree.agents._caps import FifoCap


async def test_waiters_start_in_arrival_order_and_the_cap_holds() -> None:
    cap = FifoCap(2)
    gate = trio.Event()
    started: list[int] = []
    running = peak = 0

    async def worker(i: int) -> None:
        nonlocal running, peak
        await cap.acquire()
        try:
            started.append(i)
            running += 1
            peak = max(peak, running)
            await gate.wait()
            await trio.lowlevel.checkpoint()
        finally:
            running -= 1
            cap.release()

    with trio.fail_after(10):
        async with trio.open_nursery() as tn:
            for i in range(50):
                tn.start_soon(worker, i)
                await trio.testing.wait_all_tasks_blocked()
            assert cap.waiting == 48
            gate.set()
    assert started == list(range(50))
    assert peak == 2
    assert cap.used == 0
    assert cap.try_acquire()


async def test_a_cancelled_waiter_leaves_no_token_behind() -> None:
    cap = FifoCap(1)
    assert cap.try_acquire()
    with trio.fail_after(10):
        async with trio.open_nursery() as tn:
            scopes = []
            for _ in range(3):
                scope = trio.CancelScope()
                scopes.append(scope)

                async def wait(scope: trio.CancelScope = scope) -> None:
                    with scope:
                        await cap.acquire()
                        cap.release()

                tn.start_soon(wait)
            await trio.testing.wait_all_tasks_blocked()
            assert cap.waiting == 3
            scopes[1].cancel()
            await trio.testing.wait_all_tasks_blocked()
            assert cap.waiting == 2
            cap.release()
    assert cap.used == 0
    assert not cap.waiting
