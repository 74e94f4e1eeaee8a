"""The root's terminal lock: FIFO order, cancelled waiters, and misuse errors."""

from __future__ import annotations

import pytest
import trio

import agentree
from agentree.devx._lock import TtyLock

A = ("a", "1")
B = ("b", "2")
C = ("c", "3")


async def test_waiters_get_the_lock_in_order_of_arrival() -> None:
    lock = TtyLock()
    order: list[str] = []
    with trio.fail_after(5):
        assert lock.try_acquire(A)
        async with trio.open_nursery() as nursery:

            async def wait_for(uid: tuple[str, str]) -> None:
                await lock.acquire(uid)
                order.append(uid[0])

            for uid in (B, C):
                nursery.start_soon(wait_for, uid)
                await trio.testing.wait_all_tasks_blocked()
            assert lock.waiting() == [B, C]
            assert not lock.try_acquire(("d", "4"))
            lock.release()
            await trio.testing.wait_all_tasks_blocked()
            assert (order, lock.holder) == (["b"], B)
            lock.release()
        assert (order, lock.holder) == (["b", "c"], C)
        lock.release()
        assert lock.holder is None


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    lock = TtyLock()
    with trio.fail_after(5):
        assert lock.try_acquire(A)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lock.acquire, B)
            await trio.testing.wait_all_tasks_blocked()
            assert lock.waiting() == [B]
            nursery.cancel_scope.cancel()
        assert lock.waiting() == []
        lock.release()
        assert lock.holder is None


async def test_hold_releases_when_the_block_is_cancelled() -> None:
    lock = TtyLock()
    with trio.fail_after(5):
        with trio.move_on_after(0):
            async with lock.hold(A):
                await trio.sleep_forever()
        assert lock.holder is None


async def test_pause_needs_debug_mode() -> None:
    with trio.fail_after(10):
        async with agentree.open_root_actor(start_method="subprocess"):
            with pytest.raises(agentree.AgentreeError, match="needs the debugger"):
                await agentree.pause()
            with pytest.raises(agentree.AgentreeError, match="needs the debugger"):
                agentree.pause_from_sync()
            with pytest.raises(agentree.AgentreeError, match="needs an error"):
                await agentree.post_mortem()


async def test_breakpointhook_is_restored_after_the_runtime() -> None:
    import sys

    before = sys.breakpointhook
    with trio.fail_after(10):
        async with agentree.open_root_actor(start_method="subprocess", debug_mode=True):
            assert sys.breakpointhook is not before
    assert sys.breakpointhook is before
