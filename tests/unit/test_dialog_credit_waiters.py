"""Several tasks waiting for send credit on one dialog: each grant and the end wake them all."""

from __future__ import annotations

import trio
import trio.testing

from agentree._runtime import Dialog
from agentree.msg import Return

TIMEOUT = 10


async def test_a_grant_wakes_as_many_waiting_senders_as_it_has_credit_for() -> None:
    dialog = Dialog(1)
    got: list[int] = []

    async def take(i: int) -> None:
        if await dialog.take_credit():
            got.append(i)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            for i in range(5):
                tn.start_soon(take, i)
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            # Before the fix only the last task to wait was woken: the others slept
            # on with credit to spare (a feedback link's concurrent first asks hung).
            dialog.grant(3)
            await trio.testing.wait_all_tasks_blocked()
            assert len(got) == 3
            assert dialog.credit == 0
            dialog.grant(10)
        assert sorted(got) == [0, 1, 2, 3, 4]
        assert dialog.credit == 8


async def test_waiting_senders_are_served_in_the_order_they_came() -> None:
    dialog = Dialog(1)
    got: list[int] = []

    async def take(i: int) -> None:
        assert await dialog.take_credit()
        got.append(i)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            for i in range(4):
                tn.start_soon(take, i)
                await trio.testing.wait_all_tasks_blocked()
            for _ in range(4):
                dialog.grant(1)
                await trio.testing.wait_all_tasks_blocked()
        assert got == [0, 1, 2, 3]


async def test_the_end_of_the_dialog_wakes_every_waiting_sender() -> None:
    for end in ("final", "closed"):
        dialog = Dialog(1)
        got: list[bool] = []

        async def take(d: Dialog = dialog, out: list[bool] = got) -> None:
            out.append(await d.take_credit())

        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as tn:
                for _ in range(4):
                    tn.start_soon(take)
                await trio.testing.wait_all_tasks_blocked()
                if end == "final":
                    dialog.note_final(Return(cid=1, pld=b"\xc0"))
                else:
                    dialog.close(trio.BrokenResourceError("gone"))
        assert got == [False] * 4, end


async def test_a_cancelled_waiter_leaves_the_credit_to_the_others() -> None:
    dialog = Dialog(1)
    got: list[int] = []

    async def take(i: int) -> None:
        assert await dialog.take_credit()
        got.append(i)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            tn.start_soon(take, 0)
            await trio.testing.wait_all_tasks_blocked()
            cancelled = trio.CancelScope()

            async def cancellable() -> None:
                with cancelled:
                    await dialog.take_credit()
                    got.append(-1)

            tn.start_soon(cancellable)
            await trio.testing.wait_all_tasks_blocked()
            tn.start_soon(take, 2)
            await trio.testing.wait_all_tasks_blocked()
            cancelled.cancel()
            await trio.testing.wait_all_tasks_blocked()
            dialog.grant(2)
        assert got == [0, 2]
        assert dialog.credit == 0
