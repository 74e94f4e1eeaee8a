"""Feedback: asks from a grandchild answered by root handlers, order, errors, types."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import agentree

from . import _funcs
from ._funcs import via_child

TIMEOUT = 60


async def run_grandchild(feedback: list[Any], fn: str, **kwargs: Any) -> Any:
    async with agentree.open_nursery(feedback=feedback) as an:
        portal = await an.run_in_actor(via_child, name="child", target=fn, **kwargs)
        return await portal.wait_for_result()


async def test_async_ask_from_a_grandchild_is_answered_by_a_root_handler() -> None:
    seen: list[tuple[Any, str, str]] = []

    async def handler(req: agentree.FeedbackRequest) -> int:
        seen.append((req.question, req.asker, req.key))
        return 42

    with trio.fail_after(TIMEOUT):
        assert await run_grandchild([handler], "ask", question={"q": "how many?"}) == 42
    [(question, asker, key)] = seen
    assert question == {"q": "how many?"}
    assert asker == "grandchild"
    assert key.startswith("grandchild:dict:")


async def test_sync_ask_from_a_grandchild_worker_thread() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        return 7

    with trio.fail_after(TIMEOUT):
        assert await run_grandchild([handler], "ask_sync", question="n?") == 7


async def test_sync_ask_on_the_loop_thread_is_refused() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        raise AssertionError("never asked")

    with trio.fail_after(TIMEOUT):
        text = await run_grandchild([handler], "ask_sync_on_loop", question="n?")
    assert "event loop's thread" in text
    assert "await request_feedback()" in text


async def test_handlers_run_in_order_and_none_passes_on() -> None:
    calls: list[str] = []

    async def first(req: agentree.FeedbackRequest) -> None:
        calls.append("first")
        return None

    async def second(req: agentree.FeedbackRequest) -> str:
        calls.append("second")
        return "yes"

    async def third(req: agentree.FeedbackRequest) -> str:
        calls.append("third")
        return "no"

    with trio.fail_after(TIMEOUT):
        got = await run_grandchild([first, second, third], "ask", question="ok?", kind="str")
    assert got == "yes"
    assert calls == ["first", "second"]


async def test_a_raising_handler_fails_only_that_request() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        if req.question == "bad":
            raise ValueError("handler broke")
        return 1

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[handler]) as an:
            bad = await an.run_in_actor(via_child, name="c1", target="ask_error", question="bad")
            good = await an.run_in_actor(via_child, name="c2", target="ask", question="good")
            text = await bad.wait_for_result()
            assert await good.wait_for_result() == 1
    assert "ValueError" in text
    assert "handler broke" in text


async def test_no_handler_is_a_feedback_error() -> None:
    with trio.fail_after(TIMEOUT):
        text = await run_grandchild([], "ask_error", question="anyone?")
    assert "no feedback handler" in text


async def test_an_answer_of_the_wrong_type_is_refused_and_the_question_stays_open() -> None:
    async def wrong(req: agentree.FeedbackRequest) -> str:
        return "not an int"

    async def right(req: agentree.FeedbackRequest) -> int:
        return 5

    queue = agentree.feedback_queue()
    refusals: list[str] = []

    async def answer_from_queue() -> None:
        req = await queue.__anext__()
        try:
            await req.answer({"ok": "yes"})
        except agentree.FeedbackError as exc:
            refusals.append(str(exc))
        assert not req.done
        await req.answer({"ok": True, "note": "fine"})
        assert req.done

    with trio.fail_after(TIMEOUT):
        # A handler's wrong answer is refused; the next handler answers.
        assert await run_grandchild([wrong, right], "ask", question="n?") == 5
        # A queue consumer's wrong answer is refused to it; it answers again.
        async with trio.open_nursery() as tn:
            tn.start_soon(answer_from_queue)
            got = await run_grandchild([queue], "ask", question="ok?", kind="approval")
    assert got == {"ok": True, "note": "fine"}
    [refusal] = refusals
    assert "refused" in refusal
    assert "Approval" in refusal


async def test_a_handler_in_the_root_process_answers_a_local_ask() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        return 3

    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(feedback=[handler]):
            assert await _funcs.ask("local?") == 3


async def test_a_withdrawn_question_in_the_queue() -> None:
    queue = agentree.feedback_queue()

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[queue]) as an:
            portal = await an.run_in_actor(
                via_child, name="child", target="ask_then_hang", question="wait", seconds=1.0
            )
            req = await queue.__anext__()
            assert await portal.wait_for_result() == "withdrawn"
            await req.wait_closed()
            assert req.withdrawn
            with pytest.raises(agentree.FeedbackError, match="withdrawn"):
                await req.answer(1)


async def test_a_withdrawn_question_cancels_a_function_handler() -> None:
    entered = trio.Event()
    cancelled = trio.Event()

    async def slow(req: agentree.FeedbackRequest) -> int:
        entered.set()
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()
        return 0  # pragma: no cover

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(feedback=[slow]) as an:
            portal = await an.run_in_actor(
                via_child, name="child", target="ask_then_hang", question="wait", seconds=1.0
            )
            await entered.wait()
            assert await portal.wait_for_result() == "withdrawn"
            await cancelled.wait()


async def test_a_handler_that_is_not_callable_is_refused_at_open() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(TypeError, match="is not a handler"):
        async with agentree.open_root_actor(feedback=["not a handler"]):
            raise AssertionError("opened")  # pragma: no cover


async def test_a_kept_answer_is_taken_once_and_a_wrong_typed_one_is_asked_again() -> None:
    import msgspec

    from agentree.feedback._ask import _root_level

    asked: list[str] = []

    async def handler(req: agentree.FeedbackRequest) -> int:
        asked.append(req.key)
        return 4

    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(feedback=[handler]) as actor:
            level = _root_level(actor)
            assert level is not None
            level.journal.keep("kept", msgspec.msgpack.encode(9))
            level.journal.keep("wrong", msgspec.msgpack.encode("nine"))
            assert await _funcs.ask("q", key="kept") == 9
            assert await _funcs.ask("q", key="kept") == 4
            assert await _funcs.ask("q", key="wrong") == 4
            assert level.journal.kept("wrong") is None
    assert asked == ["kept", "wrong"]


async def test_nursery_feedback_inside_an_open_root_is_refused() -> None:
    async def handler(req: agentree.FeedbackRequest) -> int:
        return 1

    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor():
            with pytest.raises(agentree.InvalidOption, match="open_supervisor"):
                async with agentree.open_nursery(feedback=[handler]):
                    raise AssertionError("opened")  # pragma: no cover


async def test_a_killed_grandchild_leaves_its_question_open_for_the_journal() -> None:
    import os
    import signal

    from agentree.feedback._ask import _root_level

    queue = agentree.feedback_queue()
    with trio.fail_after(TIMEOUT):
        async with (
            agentree.open_root_actor(feedback=[queue]) as actor,
            agentree.open_nursery() as an,
        ):
            portal = await an.start_actor("child", enable_modules=[_funcs.__name__])
            async with trio.open_nursery() as tn:

                async def run_grandchild() -> None:
                    with pytest.raises(agentree.RemoteActorError):
                        await portal.run(via_child, target="ask_with_pid")

                tn.start_soon(run_grandchild)
                req = await queue.__anext__()
                os.kill(req.question["pid"], signal.SIGKILL)
                await req.answer(5)
            assert not req.withdrawn
            level = _root_level(actor)
            assert level is not None
            assert level.journal.kept("pid-q") is not None
            await an.cancel()
