"""Many asks at once on a new feedback link that has no send credit yet.

Under load an asker's concurrent first asks could all flush before the parent's
credit grant for the new link was read; they then waited for credit together, and
the grant woke only one of them: the others hung (and a timeout's teardown then
showed "the feedback level went away"). The asker here holds the grant back until
every ask waits for it, so the race happens every time.
"""

from __future__ import annotations

import trio

import agentree

from .test_feedback_ask import TIMEOUT, run_grandchild


async def test_concurrent_asks_that_wait_for_the_links_credit_are_all_sent() -> None:
    queue = agentree.feedback_queue()
    n = 20

    async def answer_all() -> None:
        for _ in range(n):
            req = await queue.__anext__()
            await req.answer(req.question * 10)

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as tn:
            tn.start_soon(answer_all)
            got = await run_grandchild([queue], "ask_concurrently_before_credit", n=n)
    assert got == [i * 10 for i in range(n)]


async def test_a_link_lost_while_asks_wait_to_send_fails_each_of_them_promptly() -> None:
    queue = agentree.feedback_queue()
    n = 8

    with trio.fail_after(TIMEOUT):
        texts = await run_grandchild([queue], "ask_concurrently_then_lose_the_link", n=n)
    # Every ask, not only the last to wait, learns that its level is out of reach,
    # and its error names the asker and the question.
    for i, text in enumerate(texts):
        assert "'grandchild'" in text
        assert f"'k{i}'" in text
        assert "went away" in text
