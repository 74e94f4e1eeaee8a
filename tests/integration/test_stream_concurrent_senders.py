"""Several tasks send, or receive, on one stream at once."""

from __future__ import annotations

import trio

import agentree

from . import _stream_senders_funcs as funcs

TIMEOUT = 60


async def test_every_task_waiting_for_credit_gets_to_send() -> None:
    n, window = 12, 2
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("collector", enable_modules=[funcs.__name__])
            async with (
                portal.open_context(funcs.collect, n=n, window=window) as (ctx, _),
                ctx.open_stream() as stream,
            ):
                async with trio.open_nursery() as tn:
                    # All of them start before the peer's first grant (or with a
                    # full window): they wait for credit together. A grant used to
                    # wake only the last one to wait, and the others hung.
                    for i in range(n):
                        tn.start_soon(stream.send, i)
                got = await ctx.wait_for_result()
            await portal.cancel_actor()
    assert sorted(got) == list(range(n))


async def test_several_tasks_receive_from_one_stream() -> None:
    n, readers, rounds = 200, 4, 100

    async def read(stream: agentree.MsgStream, mine: list[int]) -> None:
        # Each reader waits on the same stream at once; an item goes to one of them.
        # The inbox used to keep one waiting task: the others slept forever. Then the
        # end was dropped when the readers it was passed on to were woken but had not
        # run yet (about 1 round in 5 hung): hence several rounds.
        async for item in stream:
            mine.append(item)

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("producer", enable_modules=[funcs.__name__])
            for _ in range(rounds):
                got: list[list[int]] = [[] for _ in range(readers)]
                async with (
                    portal.open_context(funcs.send_range, n=n) as (ctx, _),
                    ctx.open_stream(msg_buffer_size=4) as stream,
                    trio.open_nursery() as tn,
                ):
                    for mine in got:
                        tn.start_soon(read, stream, mine)
                assert sorted(i for mine in got for i in mine) == list(range(n))
                for mine in got:
                    assert mine == sorted(mine)
            await portal.cancel_actor()
