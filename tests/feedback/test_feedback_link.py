"""The feedback link: direct asks after the first, many asks on one link, plain handlers."""

from __future__ import annotations

import os
import signal

import msgspec
import pytest
import trio

import agentree
from agentree.feedback._ask import root_level

from . import _funcs
from ._funcs import via_child
from .test_feedback_ask import TIMEOUT, run_grandchild


async def test_later_asks_go_straight_to_the_level() -> None:
    askers: list[str] = []

    async def handler(req: agentree.FeedbackRequest) -> int:
        askers.append(req.asker)
        return len(askers)

    with trio.fail_after(TIMEOUT):
        got = await run_grandchild([handler], "ask_twice_and_say_how")
    # The first ask was relayed by the child; the level (the root's) said where it
    # is, and the second went over a direct connection from the grandchild to it.
    assert got == [1, 2, "root", True]
    assert askers == ["grandchild", "grandchild"]


async def test_many_asks_at_once_on_one_link_each_get_their_own_answer() -> None:
    queue = agentree.feedback_queue()
    n = 20

    async def answer_in_reverse() -> None:
        reqs = [await queue.__anext__() for _ in range(n)]
        for req in sorted(reqs, key=lambda r: r.key, reverse=True):
            await req.answer(req.question * 10)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            tn.start_soon(answer_in_reverse)
            got = await run_grandchild([queue], "ask_concurrently", n=n)
    assert got == [i * 10 for i in range(n)]


async def test_plain_function_handlers_run_in_order_and_a_wrong_answer_is_refused() -> None:
    calls: list[str] = []

    def skip(req: agentree.FeedbackRequest) -> None:
        calls.append("skip")

    def wrong(req: agentree.FeedbackRequest) -> str:
        calls.append("wrong")
        return "not an int"

    def right(req: agentree.FeedbackRequest) -> int:
        calls.append("right")
        return 6

    def never(req: agentree.FeedbackRequest) -> int:
        calls.append("never")
        return 7

    with trio.fail_after(TIMEOUT):
        assert await run_grandchild([skip, wrong, right, never], "ask", question="n?") == 6
    # The asker refused "not an int"; the question stayed open for the next handler.
    assert calls == ["skip", "wrong", "right"]


async def test_a_plain_function_then_an_async_handler() -> None:
    def policy(req: agentree.FeedbackRequest) -> int | None:
        return 1 if req.question == "cheap" else None

    async def person(req: agentree.FeedbackRequest) -> int:
        await trio.lowlevel.checkpoint()
        return 2

    with trio.fail_after(TIMEOUT):
        assert await run_grandchild([policy, person], "ask", question="cheap") == 1
        assert await run_grandchild([policy, person], "ask", question="dear") == 2


async def test_a_raising_plain_function_handler_fails_only_that_request() -> None:
    def broken(req: agentree.FeedbackRequest) -> int:
        raise KeyError("policy broke")

    with trio.fail_after(TIMEOUT):
        text = await run_grandchild([broken], "ask_error", question="x")
    assert "KeyError" in text
    assert "policy broke" in text


def warm(req: agentree.FeedbackRequest) -> int | None:
    """Answer the warm-up question (``_funcs.warm_then``) before the next handlers."""
    return 0 if req.key == "warm" else None


async def test_a_withdrawn_direct_ask() -> None:
    queue = agentree.feedback_queue()

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[warm, queue]) as an:
            portal = await an.run_in_actor(
                via_child,
                name="child",
                target="warm_then",
                then="ask_then_hang",
                question="wait",
                seconds=1.0,
            )
            req = await queue.__anext__()
            assert await portal.wait_for_result() == "withdrawn"
            await req.wait_closed()
            assert req.withdrawn


async def test_a_killed_direct_asker_leaves_its_question_open_for_the_journal() -> None:
    queue = agentree.feedback_queue()
    with trio.fail_after(TIMEOUT):
        async with (
            agentree.open_root_actor(feedback=[warm, queue]) as actor,
            agentree.open_nursery() as an,
        ):
            portal = await an.start_actor("child", enable_modules=[_funcs.__name__])
            async with trio.open_nursery() as tn:

                async def run_grandchild() -> None:
                    with pytest.raises(agentree.RemoteActorError):
                        await portal.run(via_child, target="warm_then", then="ask_with_pid")

                tn.start_soon(run_grandchild)
                req = await queue.__anext__()
                os.kill(req.question["pid"], signal.SIGKILL)
                # Answered while (or before) the level sees the asker's end: kept.
                await req.answer(5)
            assert not req.withdrawn
            level = root_level(actor)
            assert level is not None
            assert level.journal.kept("pid-q") == msgspec.msgpack.encode(5)
            await an.cancel()


async def test_junk_on_a_link_is_dropped_or_refused_and_the_link_keeps_serving() -> None:
    def answer(req: agentree.FeedbackRequest) -> int:
        return int(req.question) * 2

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[answer]) as an:
            portal = await an.run_in_actor(_funcs.poke_link, name="poker")
            bad, good = await portal.wait_for_result()
    assert bad[:2] == ["error", 1]
    assert "bad feedback request" in bad[2]
    assert good == ["answer", 2, 6]


async def test_an_ask_four_actors_down_is_relayed_once_then_direct() -> None:
    askers: list[str] = []

    def handler(req: agentree.FeedbackRequest) -> int:
        askers.append(req.asker)
        return len(askers)

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[handler]) as an:
            portal = await an.run_in_actor(_funcs.ask_at_depth, name="depth-3", depth=3)
            got = await portal.wait_for_result()
    assert got == [1, 2, "root", True]
    assert askers == ["depth-0", "depth-0"]


async def test_stopping_the_asking_actor_withdraws_its_question() -> None:
    queue = agentree.feedback_queue()
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[warm, queue]) as an:
            portal = await an.start_actor("asker", enable_modules=[_funcs.__name__])
            async with trio.open_nursery() as tn:

                async def ask() -> None:
                    with pytest.raises(agentree.ContextCancelled):
                        await portal.run(_funcs.warm_then, then="ask", question="stop?")

                tn.start_soon(ask)
                req = await queue.__anext__()
                # A graceful stop cancels the ask: the question is withdrawn (a
                # SIGKILL would leave it open for a next incarnation instead).
                await portal.cancel_actor()
            await req.wait_closed()
            assert req.withdrawn
