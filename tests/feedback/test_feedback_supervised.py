"""Feedback levels of supervisors, and exactly-once answers across an asker's crash."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
import pytest
import trio

import agentree
from agentree.supervise import ChildCrashed, ChildStarted, EventStream, SupervisorEvent

from ._funcs import Asker

TIMEOUT = 60


async def next_of(events: EventStream, kind: type[SupervisorEvent], path: str) -> None:
    async for event in events:
        if isinstance(event, kind) and getattr(event, "path", None) == path:
            return
    raise AssertionError(f"no {kind.__name__} event")


async def test_a_supervisor_with_handlers_is_the_level_of_its_agents() -> None:
    asked: list[str] = []

    async def at_root(req: agentree.FeedbackRequest) -> int:
        asked.append("root")
        return 1

    async def at_supervisor(req: agentree.FeedbackRequest) -> int:
        asked.append(req.asker)
        return 2

    with trio.fail_after(TIMEOUT):
        async with (
            agentree.open_root_actor(feedback=[at_root]),
            agentree.open_supervisor("app", feedback=[at_supervisor]) as sup,
        ):
            ref = await sup.start_agent(Asker, name="asker")
            assert await ref.call(Asker.result) == [2]
            async with agentree.open_supervisor("plain") as plain:
                other = await plain.start_agent(Asker, name="asker")
                assert await other.call(Asker.result) == [1]
    assert asked == ["app/asker", "root"]


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_an_answer_given_while_the_asker_is_dead_goes_to_its_next_incarnation(
    kind: str, tmp_path: Path
) -> None:
    store = agentree.MemoryStore() if kind == "memory" else agentree.SqliteStore(tmp_path / "s.db")
    queue = agentree.feedback_queue()
    asks: list[str] = []

    async def count(req: agentree.FeedbackRequest) -> None:
        asks.append(req.key)

    # A restart a second after the crash, so that the answer comes meanwhile.
    later = agentree.Backoff(min=1.0, max=1.0, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor(
            "app", backoff=later, feedback=[count, queue], store=store, run_id="r"
        ) as sup:
            events = sup.events()
            ref = await sup.start_agent(Asker, name="asker")
            req = await queue.__anext__()
            assert req.asker == "app/asker"
            pid = ref.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await next_of(events, ChildCrashed, "app/asker")
            await req.answer(11)
            assert req.done
            assert not req.withdrawn
            await next_of(events, ChildStarted, "app/asker")
            assert ref.pid != pid
            assert await ref.call(Asker.result) == [11]
    # One question, asked of the handlers once: the second incarnation got the kept
    # answer without a second prompt.
    assert len(asks) == 1
    if kind == "sqlite":
        # The answer is in the store's journal, for a rerun of run "r".
        await store.open()
        try:
            assert await store.journal_items("r") == {asks[0]: msgspec.msgpack.encode(11)}
        finally:
            await store.close()


async def test_an_asker_that_restarts_before_the_answer_adopts_its_question() -> None:
    queue = agentree.feedback_queue()
    asks: list[str] = []

    async def count(req: agentree.FeedbackRequest) -> None:
        asks.append(req.key)

    fast = agentree.Backoff(min=0, max=0, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=fast, feedback=[count, queue]) as sup:
            events = sup.events()
            ref = await sup.start_agent(Asker, name="asker")
            req = await queue.__anext__()
            pid = ref.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await next_of(events, ChildStarted, "app/asker")
            await req.answer(12)
            assert await ref.call(Asker.result) == [12]
    assert len(asks) == 1
