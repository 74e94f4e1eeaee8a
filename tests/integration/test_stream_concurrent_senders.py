"""Several tasks send on one stream at once, more than the peer's window holds."""

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
