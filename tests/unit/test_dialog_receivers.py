"""Several tasks waiting for a message on one dialog's inbox: each message wakes one."""

from __future__ import annotations

import trio
import trio.testing

from agentree._exceptions import TransportClosed
from agentree._runtime import Dialog
from agentree.msg import Stop, Yield

TIMEOUT = 10


def _item(i: int) -> Yield:
    return Yield(cid=1, pld=bytes([i]))


async def test_each_message_wakes_one_of_several_waiting_receivers() -> None:
    dialog = Dialog(1)
    got: list[bytes] = []

    async def receive() -> None:
        msg = await dialog.get()
        assert isinstance(msg, Yield)
        got.append(msg.pld)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            for _ in range(4):
                tn.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            # Before the fix the inbox kept one waiting task: each new receiver took
            # the place of the one before, which then slept forever.
            for i in range(4):
                dialog.put(_item(i))
                await trio.testing.wait_all_tasks_blocked()
                assert len(got) == i + 1
    assert sorted(got) == [bytes([i]) for i in range(4)]


async def test_cancelled_receivers_leave_the_messages_to_the_others() -> None:
    dialog = Dialog(1)
    got: list[str] = []
    scopes = {name: trio.CancelScope() for name in ("first", "second", "third", "fourth")}

    async def receive(name: str) -> None:
        with scopes[name]:
            await dialog.get()
            got.append(name)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            for name in scopes:
                tn.start_soon(receive, name)
                await trio.testing.wait_all_tasks_blocked()
            # The one a message would wake first, and one behind it, give up.
            scopes["first"].cancel()
            scopes["third"].cancel()
            await trio.testing.wait_all_tasks_blocked()
            dialog.put(_item(1))
            await trio.testing.wait_all_tasks_blocked()
            assert got == ["second"]
            dialog.put(_item(2))
    assert got == ["second", "fourth"]


async def test_the_end_of_the_dialog_fails_every_waiting_receiver() -> None:
    dialog = Dialog(1)
    failed: list[BaseException] = []

    async def receive() -> None:
        try:
            await dialog.get()
        except TransportClosed as exc:
            failed.append(exc)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            for _ in range(3):
                tn.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            dialog.close(TransportClosed("gone"))
    assert len(failed) == 3


async def test_the_end_reaches_receivers_woken_for_messages_another_task_took() -> None:
    """The race behind a hang of ``test_several_tasks_receive_from_one_stream``.

    Two receivers wait; the last item and the stream's end each wake one of them. A
    third task that did not wait runs first and takes both. When it passes the end
    on, the two woken ones no longer wait but have not run yet: the end used to be
    dropped then, and both went back to wait for good.
    """
    dialog = Dialog(1)
    ended: list[str] = []

    async def receive(name: str) -> None:
        while True:
            msg = await dialog.get()
            if not isinstance(msg, Yield):
                ended.append(name)
                dialog.pass_on(msg)
                return

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            tn.start_soon(receive, "first")
            tn.start_soon(receive, "second")
            await trio.testing.wait_all_tasks_blocked()
            dialog.put(_item(1))
            dialog.put(Stop(cid=1))
            assert dialog.get_nowait() == _item(1)
            end = dialog.get_nowait()
            assert isinstance(end, Stop)
            ended.append("third")
            dialog.pass_on(end)
            await trio.testing.wait_all_tasks_blocked()
            assert sorted(ended) == ["first", "second", "third"]
