"""request_feedback_sync from threads trio did not start, asyncio, and process workers."""

from __future__ import annotations

from typing import Any

import trio

import agentree

from ._funcs import ProcAsker, ask_infected, via_child

TIMEOUT = 60


async def test_sync_ask_from_a_plain_thread_of_a_grandchild() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        return 8

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[handler]) as an:
            portal = await an.run_in_actor(
                via_child, name="child", target="ask_sync_plain_thread", question="t?"
            )
            assert await portal.wait_for_result() == 8


async def test_infected_asyncio_actor_asks_and_its_loop_thread_is_refused() -> None:
    keys: list[str] = []

    async def handler(req: agentree.FeedbackRequest) -> int:
        keys.append(req.key)
        return len(keys)

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[handler]) as an:
            portal = await an.run_in_actor(ask_infected, name="child", question="aio?")
            refused, from_executor, from_trio = await portal.wait_for_result()
    assert "event loop's thread" in refused
    assert (from_executor, from_trio) == (1, 2)
    assert keys[1] == "from-trio"


async def test_sync_ask_from_a_process_mode_worker_is_the_agents() -> None:
    asked: list[Any] = []

    async def handler(req: agentree.FeedbackRequest) -> int:
        asked.append((req.question, req.asker, req.key))
        return 21

    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", feedback=[handler]) as sup:
            ref = await sup.start_agent(ProcAsker, name="proc")
            assert await ref.call(ProcAsker.ask_in_worker, "from a worker?") == 21
    [(question, asker, key)] = asked
    assert question == "from a worker?"
    # Attributed and keyed to the agent, not to the worker actor that runs the method:
    # the key is the same whichever worker (or incarnation) asks.
    assert asker == "app/proc"
    assert key.startswith("app/proc:str:")
