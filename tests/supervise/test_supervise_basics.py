"""Supervisors: start, call, stop order, strategies and restart types, from events."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator

import pytest
import trio

import agentree
from agentree.supervise import (
    ChildCrashed,
    ChildStarted,
    ChildStopped,
    EventStream,
    SupervisorEvent,
)

from ._agents import Echo, StartFails

TIMEOUT = 60
FAST = agentree.Backoff(min=0, max=0, jitter=0)


async def next_of(
    events: EventStream, kind: type[SupervisorEvent], path: str | None = None
) -> SupervisorEvent:
    """The next event of ``kind`` (for ``path``), skipping the others."""
    async for event in events:
        if isinstance(event, kind) and (path is None or getattr(event, "path", None) == path):
            return event
    raise AssertionError(f"no {kind.__name__} event")


def touch(path: str) -> None:
    with open(path, "w"):
        pass


def kill(ref: agentree.AgentRef[Echo]) -> None:
    pid = ref.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)


async def test_start_call_and_stop_in_reverse_order() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            events = sup.events()
            refs = [await sup.start_agent(Echo, name=n) for n in "abc"]
            assert [await r.call(Echo.echo, i) for i, r in enumerate(refs)] == [0, 1, 2]
            assert [c.path for c in sup.which_children()] == ["app/a", "app/b", "app/c"]
            assert all(c.phase == "running" and c.incarnation == 1 for c in sup.which_children())
        seen = [e async for e in events]
    assert [(type(e).__name__, e.path) for e in seen] == [  # type: ignore[union-attr]
        ("ChildStarted", "app/a"),
        ("ChildStarted", "app/b"),
        ("ChildStarted", "app/c"),
        ("ChildStopped", "app/c"),
        ("ChildStopped", "app/b"),
        ("ChildStopped", "app/a"),
    ]
    with pytest.raises(agentree.AgentUnavailable):
        await refs[0].call(Echo.echo, 1)


async def test_one_for_one_restarts_only_the_crashed_child() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            events = sup.events()
            a = await sup.start_agent(Echo, name="a")
            b = await sup.start_agent(Echo, name="b")
            a_pid = a.pid
            kill(b)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.path == "app/b"
            assert crashed.kind == "signal"
            assert crashed.exit is not None
            assert crashed.exit.signal_name == "SIGKILL"
            started = await next_of(events, ChildStarted)
            assert isinstance(started, ChildStarted)
            assert (started.path, started.incarnation) == ("app/b", 2)
            assert await b.call(Echo.whoami) == (b.pid, 2)
            assert a.pid == a_pid
            assert await a.call(Echo.echo, 5) == 5


@pytest.mark.parametrize(
    ("strategy", "stopped", "started"),
    [
        ("one_for_all", ["app/d", "app/c", "app/a"], ["app/a", "app/b", "app/c", "app/d"]),
        ("rest_for_one", ["app/d", "app/c"], ["app/b", "app/c", "app/d"]),
    ],
)
async def test_group_strategies_stop_in_reverse_and_start_in_order(
    strategy: str, stopped: list[str], started: list[str]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", strategy=strategy, backoff=FAST) as sup:  # type: ignore[arg-type]
            refs = {n: await sup.start_agent(Echo, name=n) for n in "abcd"}
            events = sup.events()
            kill(refs["b"])
            seen: list[SupervisorEvent] = []
            while len([e for e in seen if isinstance(e, ChildStarted)]) < len(started):
                seen.append(await events.receive())
            assert [e.path for e in seen if isinstance(e, ChildStopped)] == stopped
            assert [e.path for e in seen if isinstance(e, ChildStarted)] == started
            crashed = [e for e in seen if isinstance(e, ChildCrashed)]
            assert [e.path for e in crashed] == ["app/b"]
            # Every stop comes before the first start.
            kinds = [type(e) for e in seen if isinstance(e, ChildStopped | ChildStarted)]
            assert kinds == sorted(kinds, key=lambda k: k is ChildStarted)
            for name, ref in refs.items():
                assert await ref.call(Echo.echo, 1) == 1, name


async def test_restart_types() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            events = sup.events()
            transient = await sup.start_agent(Echo, name="transient", restart="transient")
            temporary = await sup.start_agent(Echo, name="temporary", restart="temporary")
            permanent = await sup.start_agent(Echo, name="permanent")
            # A transient child that exits cleanly is not restarted...
            with pytest.raises(agentree.AgentCrashed):
                await transient.call(Echo.exit_with, 0)
            stopped = await next_of(events, ChildStopped, "app/transient")
            assert isinstance(stopped, ChildStopped)
            assert stopped.reason == "exited"
            with pytest.raises(agentree.AgentUnavailable):
                await transient.call(Echo.echo, 1)
            # ... a permanent one is, even after a clean exit.
            with pytest.raises(agentree.AgentCrashed):
                await permanent.call(Echo.exit_with, 0)
            await next_of(events, ChildStarted, "app/permanent")
            assert await permanent.call(Echo.whoami) == (permanent.pid, 2)
            # A temporary child is never restarted, and is forgotten.
            kill(temporary)
            await next_of(events, ChildCrashed, "app/temporary")
            with pytest.raises(agentree.AgentUnavailable):
                await temporary.call(Echo.echo, 1)
            assert "temporary" not in [c.name for c in sup.which_children()]


async def test_transient_child_is_restarted_after_a_crash() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            events = sup.events()
            ref = await sup.start_agent(Echo, name="t", restart="transient")
            with pytest.raises(agentree.AgentCrashed):
                await ref.call(Echo.exit_with, 3)
            crashed = await next_of(events, ChildCrashed)
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "exit"
            await next_of(events, ChildStarted, "app/t")
            assert (await ref.call(Echo.whoami))[1] == 2


async def test_temporary_child_is_not_restarted_by_one_for_all() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", strategy="one_for_all", backoff=FAST) as sup:
            temp = await sup.start_agent(Echo, name="temp", restart="temporary")
            perm = await sup.start_agent(Echo, name="perm")
            events = sup.events()
            kill(perm)
            await next_of(events, ChildStarted, "app/perm")
            with pytest.raises(agentree.AgentUnavailable):
                await temp.call(Echo.echo, 1)
            assert [c.name for c in sup.which_children()] == ["perm"]


async def test_names_are_unique_and_exist_ok_gets() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            ref = await sup.start_agent(Echo, name="a")
            with pytest.raises(agentree.AgentExists):
                await sup.start_agent(Echo, name="a")
            again = await sup.start_agent(Echo, name="a", exist_ok=True)
            assert again.pid == ref.pid
            assert len(sup.which_children()) == 1


async def test_first_start_failure_raises_and_adds_nothing(tmp_path: os.PathLike[str]) -> None:
    flag = os.path.join(tmp_path, "fail")
    touch(flag)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            with pytest.raises(agentree.RemoteActorError, match="on purpose"):
                await sup.start_agent(StartFails, flag, name="s")
            assert sup.which_children() == ()


async def test_terminate_and_restart_child() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            events = sup.events()
            ref = await sup.start_agent(Echo, name="a")
            await sup.terminate_child("a")
            stopped = await next_of(events, ChildStopped)
            assert isinstance(stopped, ChildStopped)
            assert stopped.reason == "terminated"
            with pytest.raises(agentree.AgentUnavailable):
                await ref.call(Echo.echo, 1)
            assert sup.which_children()[0].phase == "stopped"
            await sup.restart_child("a")
            assert await ref.call(Echo.whoami) == (ref.pid, 2)


@pytest.mark.parametrize("start_method", ["forkserver", "subprocess"])
async def test_restarts_under_each_start_method(start_method: str) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor(
            "app", intensity=10, backoff=FAST, start_method=start_method
        ) as sup:
            ref = await sup.start_agent(Echo, name="a")
            events = sup.events()
            for incarnation in (2, 3, 4):
                kill(ref)
                # A call made at once waits for the next incarnation (or, sent before
                # the death was seen, fails like a call in flight).
                try:
                    pid, seen = await ref.call(Echo.whoami)
                except agentree.AgentCrashed:
                    pid, seen = await ref.call(Echo.whoami)
                assert seen == incarnation
                assert pid == ref.pid
            crashes = [e async for e in _until(events, 3, ChildCrashed)]
            assert [e.incarnation for e in crashes] == [1, 2, 3]  # type: ignore[union-attr]


async def _until(
    events: EventStream, n: int, kind: type[SupervisorEvent]
) -> AsyncIterator[SupervisorEvent]:
    seen = 0
    async for event in events:
        if isinstance(event, kind):
            yield event
            seen += 1
            if seen == n:
                return
