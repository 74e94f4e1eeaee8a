"""The root's feedback level with a store: ``open_root_actor(store=..., run_id=...)``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import msgspec
import pytest
import trio

import agentree
from agentree.supervise import ChildCrashed, ChildStarted

from ._funcs import Asker, ask
from .test_feedback_supervised import next_of

TIMEOUT = 60


@pytest.mark.parametrize("kind", ["none", "memory", "sqlite"])
async def test_an_answer_given_at_the_root_while_the_asker_is_dead_goes_to_its_next_incarnation(
    kind: str, tmp_path: Path
) -> None:
    store: agentree.Store | None = {
        "none": None,
        "memory": agentree.MemoryStore(),
        "sqlite": agentree.SqliteStore(tmp_path / "s.db"),
    }[kind]
    queue = agentree.feedback_queue()
    asks: list[str] = []

    async def count(req: agentree.FeedbackRequest) -> None:
        asks.append(req.key)

    # A restart a second after the crash, so that the answer comes meanwhile.
    later = agentree.Backoff(min=1.0, max=1.0, jitter=0)
    with trio.fail_after(TIMEOUT):
        async with (
            agentree.open_root_actor(feedback=[count, queue], store=store, run_id="r"),
            # No handlers here: the agent's questions go up to the root's level.
            agentree.open_supervisor("app", backoff=later) as sup,
        ):
            if store is not None:
                # A supervisor with no store of its own uses the root's.
                assert sup.store is store
            assert sup.run_id == "r"
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
    # One question, asked of the root's handlers once: the second incarnation got
    # the kept answer without a second prompt.
    assert len(asks) == 1
    if kind == "sqlite":
        assert store is not None
        # The answer is in the store's journal, in the root's scope, for a rerun.
        await store.open()
        try:
            items = await store.journal_items("r")
        finally:
            await store.close()
        assert items == {"root\x1f" + asks[0]: msgspec.msgpack.encode(11)}


async def test_a_rerun_with_the_roots_store_does_not_ask_a_root_answered_question_again(
    tmp_path: Path,
) -> None:
    store = agentree.SqliteStore(tmp_path / "s.db")
    asked: list[str] = []

    async def yes(req: agentree.FeedbackRequest) -> int:
        asked.append(req.key)
        return 7

    with trio.fail_after(TIMEOUT):
        for run in range(2):
            async with (
                agentree.open_root_actor(feedback=[yes], store=store, run_id="job"),
                agentree.open_nursery() as an,
            ):
                portal = await an.run_in_actor(ask, question="ship it?", name="asker")
                assert await portal.wait_for_result() == 7
            assert len(asked) == 1, f"run {run}"
        # Another run id: asked anew.
        async with (
            agentree.open_root_actor(feedback=[yes], store=store, run_id="other"),
            agentree.open_nursery() as an,
        ):
            portal = await an.run_in_actor(ask, question="ship it?", name="asker")
            assert await portal.wait_for_result() == 7
    assert len(asked) == 2


async def test_the_roots_and_a_supervisors_journals_in_one_store_keep_apart() -> None:
    # The same key answered differently by the root's level and a supervisor's, in
    # one store and run: a rerun gives each asker its own level's answer.
    store = agentree.MemoryStore()
    asked: list[str] = []

    def at_root(req: agentree.FeedbackRequest) -> int:
        asked.append("root")
        return 1

    def at_supervisor(req: agentree.FeedbackRequest) -> int:
        asked.append("sup")
        return 2

    with trio.fail_after(TIMEOUT):
        for _ in range(2):
            async with (
                agentree.open_root_actor(feedback=[at_root], store=store, run_id="r"),
                agentree.open_supervisor("app", feedback=[at_supervisor]) as sup,
                agentree.open_nursery() as an,
            ):
                assert sup.store is store
                ref = await sup.start_agent(Keyed, name="keyed")
                assert await ref.call(Keyed.get) == 2
                portal = await an.run_in_actor(ask, question="q", key="same", name="plain")
                assert await portal.wait_for_result() == 1
    assert asked == ["sup", "root"]


class Keyed(agentree.Agent):
    """Asks with the explicit key ``"same"``."""

    async def get(self) -> int:
        return await agentree.request_feedback("q", answer=int, key="same")


async def test_a_supervisor_keeps_its_own_store_and_run_id(tmp_path: Path) -> None:
    root_store = agentree.MemoryStore()
    own = agentree.MemoryStore()
    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(store=root_store, run_id="root-run"):
            async with agentree.open_supervisor("a", store=own) as sup:
                assert sup.store is own
                assert sup.run_id == "root-run"
            async with agentree.open_supervisor("b", run_id="mine") as sup:
                assert sup.store is root_store
                assert sup.run_id == "mine"
        async with (
            agentree.open_root_actor(run_id="only-id"),
            agentree.open_supervisor("c") as sup,
        ):
            assert isinstance(sup.store, agentree.MemoryStore)
            assert sup.run_id == "only-id"
        async with agentree.open_root_actor(), agentree.open_supervisor("d") as sup:
            assert isinstance(sup.store, agentree.MemoryStore)
            assert sup.store is not root_store
            assert sup.run_id is not None
            assert sup.run_id != "root-run"


async def test_bad_store_options_of_the_root_are_refused(tmp_path: Path) -> None:
    with trio.fail_after(TIMEOUT):
        with pytest.raises(TypeError, match=r"open_root_actor\(\): store must be"):
            async with agentree.open_root_actor(store="run.db"):  # type: ignore[arg-type]
                pytest.fail("opened")
        with pytest.raises(ValueError, match=r"open_root_actor\(\): run_id must be"):
            async with agentree.open_root_actor(run_id=""):
                pytest.fail("opened")
        bad = tmp_path / "bad.db"
        bad.write_bytes(b"this is not a database" * 100)
        with pytest.raises(agentree.StoreError, match="not a usable SQLite database"):
            async with agentree.open_root_actor(store=agentree.SqliteStore(bad)):
                pytest.fail("opened")
        # Inside a running root they cannot apply: refused.
        async with agentree.open_root_actor():
            with pytest.raises(agentree.InvalidOption, match="open_supervisor"):
                async with agentree.open_nursery(store=agentree.MemoryStore()):
                    pytest.fail("opened")
        # open_nursery passes them on when it opens the root.
        store = agentree.MemoryStore()
        async with (
            agentree.open_nursery(store=store, run_id="n"),
            agentree.open_supervisor("app") as sup,
        ):
            assert sup.store is store
            assert sup.run_id == "n"
