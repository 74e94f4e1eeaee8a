"""Checkpoints with real processes: restore after a SIGKILL, fresh, reruns, concurrency."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

import agentree
from agentree.supervise import ChildStarted
from agentree.testing import raises_one

from ..supervise.test_supervise_basics import FAST, next_of
from ._agents import AioCounter, BadState, Counter, FullDisk, Stateless

TIMEOUT = 60


def sigkill(ref: agentree.AgentRef[Counter]) -> None:
    assert ref.pid is not None
    os.kill(ref.pid, signal.SIGKILL)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_checkpoint_survives_sigkill_and_restores_before_on_start(
    kind: str, tmp_path: Path
) -> None:
    store: agentree.Store = (
        agentree.MemoryStore() if kind == "memory" else agentree.SqliteStore(tmp_path / "s.db")
    )
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST, store=store) as sup:
            counter = await sup.start_agent(Counter, name="c")
            events = sup.events()
            assert await counter.call(Counter.add, 5, "five") == 5
            # Not checkpointed: lost with the incarnation.
            assert await counter.call(Counter.add, 100, "lost", save=False) == 105
            sigkill(counter)
            await next_of(events, ChildStarted, "app/c")
            count, notes, seen, incarnation, _ = await counter.call(Counter.look)
            assert (count, notes, seen, incarnation) == (5, ["five"], 5, 2)


async def test_a_thread_mode_method_checkpoints_through_from_thread(tmp_path: Path) -> None:
    store = agentree.SqliteStore(tmp_path / "s.db")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST, store=store) as sup:
            counter = await sup.start_agent(Counter, name="c")
            events = sup.events()
            assert await counter.call(Counter.add_in_thread, 8) == 8
            sigkill(counter)
            await next_of(events, ChildStarted, "app/c")
            count, _, seen, incarnation, _ = await counter.call(Counter.look)
            assert (count, seen, incarnation) == (8, 8, 2)


async def test_an_asyncio_agent_checkpoints_from_its_asyncio_tasks(tmp_path: Path) -> None:
    store = agentree.SqliteStore(tmp_path / "s.db")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST, store=store) as sup:
            agent = await sup.start_agent(AioCounter, name="aio")
            events = sup.events()
            assert await agent.call(AioCounter.add, 3) == 3
            assert await agent.call(AioCounter.add, 4) == 7
            sigkill(agent)  # type: ignore[arg-type]
            await next_of(events, ChildStarted, "app/aio")
            assert await agent.call(AioCounter.look) == (7, 7, 2)


async def test_resume_fresh_starts_from_the_initial_state() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            counter = await sup.start_agent(Counter, name="c", resume="fresh")
            events = sup.events()
            assert await counter.call(Counter.add, 5) == 5
            sigkill(counter)
            await next_of(events, ChildStarted, "app/c")
            count, notes, seen, incarnation, _ = await counter.call(Counter.look)
            assert (count, notes, seen, incarnation) == (0, [], 0, 2)


async def test_same_run_id_and_store_restores_in_a_new_supervisor() -> None:
    store = agentree.MemoryStore()
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", store=store, run_id="r1") as sup:
            assert (sup.run_id, sup.store) == ("r1", store)
            counter = await sup.start_agent(Counter, name="c")
            await counter.call(Counter.add, 7, "seven")
            team = await sup.start_supervisor("team")
            assert (team.run_id, team.store) == ("r1", store)
        async with agentree.open_supervisor("app", store=store, run_id="r1") as sup:
            counter = await sup.start_agent(Counter, name="c")
            count, notes, seen, incarnation, _ = await counter.call(Counter.look)
            assert (count, notes, seen, incarnation) == (7, ["seven"], 7, 1)
        async with agentree.open_supervisor("app") as sup:
            # By default: a new MemoryStore and a new random run id.
            assert isinstance(sup.store, agentree.MemoryStore)
            assert sup.store is not store
            assert sup.run_id
        # Another run id: a fresh start.
        async with agentree.open_supervisor("app", store=store, run_id="r2") as sup:
            counter = await sup.start_agent(Counter, name="c")
            assert (await counter.call(Counter.look))[0] == 0


async def test_concurrent_checkpoints_of_several_agents(tmp_path: Path) -> None:
    store = agentree.SqliteStore(tmp_path / "s.db")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", store=store, run_id="r") as sup:
            refs = [await sup.start_agent(Counter, name=f"c{i}") for i in range(3)]

            async def hammer(i: int, ref: agentree.SupervisedRef[Counter]) -> None:
                for _ in range(20):
                    await ref.call(Counter.add, i + 1)

            async with trio.open_nursery() as nursery:
                for i, ref in enumerate(refs):
                    nursery.start_soon(hammer, i, ref)
            team = await sup.start_supervisor("team")
            nested = await team.start_agent(Counter, name="n")
            await nested.call(Counter.add, 9)
        # Each agent's last checkpoint is in the file, under its own path.
        await store.open()
        try:
            import msgspec

            from ._agents import Tally

            for i in range(3):
                data = await store.get_state("r", f"app/c{i}")
                assert data is not None
                assert msgspec.msgpack.decode(data, type=Tally).count == 20 * (i + 1)
            nested_data = await store.get_state("r", "app/team/n")
            assert nested_data is not None
            assert msgspec.msgpack.decode(nested_data, type=Tally).count == 9
        finally:
            await store.close()


async def test_checkpoint_errors_are_clear() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            plain = await an.start_agent(Counter, name="plain")
            with pytest.raises(agentree.RemoteActorError, match="has no store") as info:
                await plain.call(Counter.add, 1)
            assert info.value.boxed_type_str == "agentree.StoreError"
            # The agent lives on.
            assert (await plain.call(Counter.add, 1, save=False)) == 2
            await an.cancel()
        async with agentree.open_supervisor("app") as sup:
            stateless = await sup.start_agent(Stateless, name="s")
            with pytest.raises(agentree.RemoteActorError, match="declares no state= type"):
                await stateless.call(Stateless.save)
            bad = await sup.start_agent(BadState, name="b")
            with pytest.raises(agentree.RemoteActorError, match="cannot be encoded"):
                await bad.call(BadState.save)


async def test_a_failed_write_is_a_store_error_in_the_agent() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", store=FullDisk()) as sup:
            counter = await sup.start_agent(Counter, name="c")
            with pytest.raises(agentree.RemoteActorError, match="the disk is full") as info:
                await counter.call(Counter.add, 1)
            assert info.value.boxed_type_str == "agentree.StoreError"
            # The agent's own code can catch it as a StoreError (not a RemoteActorError).
            said = await counter.call(Counter.try_save)
            assert said.startswith("StoreError: checkpoint() of agent 'app/c'")
            assert "the disk is full" in said
            assert (await counter.call(Counter.add, 1, save=False)) == 2


async def test_a_bad_store_fails_open_supervisor(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"not a database at all\n" * 100)
    with trio.fail_after(TIMEOUT):
        with pytest.raises(agentree.StoreError, match="not a usable SQLite database"):
            async with agentree.open_supervisor("app", store=agentree.SqliteStore(path)):
                raise AssertionError("the supervisor must not open")
        with raises_one(ValueError) as info:
            async with agentree.open_supervisor("app") as sup:
                await sup.start_agent(Counter, name="c", resume="maybe")  # type: ignore[arg-type]
        assert "resume must be" in str(info.value)
