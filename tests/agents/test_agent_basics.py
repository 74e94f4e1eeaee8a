"""Agents: start, call in each mode, identity, errors, refusals at the call site."""

from __future__ import annotations

import os
import re

import msgspec
import psutil
import pytest
import trio

import agentree
from agentree import Agent

from . import _agents
from ._agents import Basic, FailsOnStart, Other, Point, Stopping

TIMEOUT = 30


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _agent_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_start_and_call_each_kind() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 10, name="basic", label="L")
            assert ref.path == "basic"
            assert ref.incarnation == 1
            assert await ref.call(Basic.add, 1) == 11
            assert await ref.call(Basic.add, 1, y=5) == 16
            assert await ref.call(Basic.sync_add, 2) == 12
            ident = await ref.call(Basic.identity)
            assert ident == {
                "name": "basic",
                "path": "basic",
                "incarnation": 1,
                "pid": ref.pid,
                "label": "L",
                "state": {"n": 2, "started": True},
            }
            assert ref.pid != os.getpid()
            await an.cancel()


async def test_arguments_and_results_take_their_annotated_types() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 0, name="typed")
            moved = await ref.call(Basic.shift, Point(1, 2), (10, 20), scale=Point(2, 0))
            assert moved == Point(22, 44)
            assert await ref.call(Basic.pair, [Point(0, 0), Point(1, 1)]) == (2, "points")
            assert await ref.call(Basic.manhattan, Point(-3, 4)) == 7
            with pytest.raises(agentree.RemoteActorError) as info:
                await ref.call(Basic.shift, {"x": "no"}, (0, 0))  # type: ignore[arg-type]
            assert info.value.boxed_type is agentree.MsgTypeError
            assert "argument 'p' of Basic.shift()" in str(info.value)
            await an.cancel()


async def test_context_method_dialog() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 0, name="talker")
            async with ref.open_context(Basic.echo, "hi") as (ctx, first):
                assert first == "hi from talker"
                async with ctx.open_stream() as stream:
                    for i in range(5):
                        await stream.send(i)
                        assert await stream.receive() == i * 2
            assert await ctx.wait_for_result() == "done"
            await an.cancel()


async def test_method_errors_reach_the_caller_and_the_agent_keeps_serving() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 1, name="errs")
            for _ in range(3):
                with pytest.raises(agentree.RemoteActorError) as info:
                    await ref.call(Basic.fail, "bad input")
                assert info.value.boxed_type is ValueError
                assert "Basic.fail()" in str(info.value)
                assert "bad input" in str(info.value)
                with pytest.raises(agentree.RemoteActorError) as info:
                    await ref.call(Basic.sync_fail)
                assert info.value.boxed_type is KeyError
                assert await ref.call(Basic.add, 1) == 2
            await an.cancel()


async def test_bad_calls_are_refused_at_the_call_site() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Basic, 1, name="strict")
            # FunctionNotFound, not RemoteActorError: nothing was sent.
            with pytest.raises(agentree.FunctionNotFound, match="not a public method"):
                await ref.call(_agents.not_a_method, 1)  # type: ignore[arg-type]
            with pytest.raises(agentree.FunctionNotFound, match="not a public method"):
                await ref.call(Other.ping)  # type: ignore[arg-type]
            with pytest.raises(agentree.FunctionNotFound, match="private"):
                await ref.call(Basic._private)
            with pytest.raises(agentree.FunctionNotFound, match="use open_context"):
                await ref.call(Basic.echo, "x")  # type: ignore[arg-type]
            with pytest.raises(agentree.FunctionNotFound, match="use call"):
                async with ref.open_context(Basic.add, 1):  # type: ignore[arg-type]
                    pass
            with pytest.raises(agentree.FunctionNotFound):
                await ref.call(Agent.on_start)  # type: ignore[arg-type]
            with pytest.raises(agentree.MsgEncodeError, match="argument"):
                await ref.call(Basic.add, object())  # type: ignore[arg-type]
            assert await ref.call(Basic.add, 1) == 2
            await an.cancel()


async def test_bad_starts_are_refused_before_spawning() -> None:
    class Local(Agent):
        async def ping(self) -> None: ...

    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            before = _agent_pids()
            with pytest.raises(agentree.NotAddressable):
                await an.start_agent(Local, name="local")
            with pytest.raises(agentree.MsgEncodeError, match=r"args\[0\]"):
                await an.start_agent(Basic, object(), name="enc")
            with pytest.raises(agentree.MsgEncodeError, match="label"):
                await an.start_agent(Basic, 1, name="enc", label=object())
            with pytest.raises(TypeError, match="Agent subclass"):
                await an.start_agent(int, name="int")  # type: ignore[type-var]
            for bad in ("", "a/b"):
                with pytest.raises(ValueError, match="agent name"):
                    await an.start_agent(Basic, 1, name=bad)
            assert _agent_pids() == before

            await an.start_agent(Basic, 1, name="dup")
            before = _agent_pids()
            with pytest.raises(agentree.AgentExists, match="dup"):
                await an.start_agent(Basic, 2, name="dup")
            assert _agent_pids() == before
            await an.cancel()


async def test_on_start_error_fails_start_agent_and_leaves_no_process() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.RemoteActorError) as info:
                await an.start_agent(FailsOnStart, name="fails")
            assert info.value.boxed_type is RuntimeError
            match = re.search(r"pid (\d+)", str(info.value))
            assert match is not None
            # Stopped and reaped before start_agent raised.
            assert not _alive(int(match.group(1)))
            # The name is free again.
            ref = await an.start_agent(Basic, 1, name="fails")
            assert await ref.call(Basic.add, 1) == 2
            await an.cancel()


async def test_on_stop_runs_on_a_graceful_stop(tmp_path: object) -> None:
    marker = os.path.join(str(tmp_path), "stopped")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Stopping, marker, name="stopper")
            assert await ref.call(Stopping.ping) == "pong"
    assert await trio.Path(marker).read_text() == "stopped"


async def test_on_stop_runs_on_a_crash(tmp_path: object) -> None:
    marker = os.path.join(str(tmp_path), "stopped")
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Stopping, marker, name="crasher")
            with pytest.raises(agentree.RemoteActorError):
                await ref.call(Stopping.crash)
            if _alive(ref.pid):
                await trio.to_thread.run_sync(psutil.Process(ref.pid).wait, TIMEOUT)
            await an.cancel()
    assert await trio.Path(marker).read_text() == "crashed"


class _Plan(msgspec.Struct):
    goal: str = ""


def test_class_declarations_are_checked() -> None:
    with pytest.raises(TypeError, match=r"msgspec\.Struct"):

        class BadState(Agent, state=dict):  # type: ignore[call-arg]
            pass

    with pytest.raises(ValueError, match="loop"):

        class BadLoop(Agent, loop="gevent"):  # type: ignore[arg-type]
            pass

    with pytest.raises(ValueError, match="group"):

        class BadGroup(Agent):
            @agentree.method(group="nope")
            async def m(self) -> None: ...

    with pytest.raises(TypeError, match="plain def"):

        class BadProcess(Agent):
            @agentree.method(mode="process")
            async def m(self) -> None: ...

    with pytest.raises(TypeError, match="on_start must be an async def"):

        class SyncHook(Agent):
            def on_start(self) -> None:  # type: ignore[override]
                pass

    with pytest.raises(ValueError, match="max_concurrency"):

        class BadCap(Agent):
            max_concurrency = 0

    class Good(Agent, state=_Plan):
        groups = {"io": 2}  # noqa: RUF012

        @agentree.method(group="io")
        async def a(self) -> None: ...

        def b(self) -> None: ...

        @agentree.method(mode="process", workers=2, idempotent=True)
        def c(self) -> None: ...

    specs = Good._agentree_methods
    assert {n: (s.mode, s.group, s.workers) for n, s in specs.items()} == {
        "a": ("async", "io", 1),
        "b": ("thread", None, 1),
        "c": ("process", None, 2),
    }
    assert specs["c"].idempotent


async def test_nested_agents_are_named_by_path() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            team = await an.start_agent(_agents.Team, name="team")
            assert await team.call(_agents.Team.reader_path) == "team/reader"
            assert await team.call(_agents.Team.ask_reader, 1) == 101
            await an.cancel()


async def test_agents_of_a_plain_actor_are_named_under_it() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("plain", enable_modules=[_agents.__name__])
            assert await portal.run(_agents.start_agent_here, name="helper") == "plain/helper"
            await an.cancel()
