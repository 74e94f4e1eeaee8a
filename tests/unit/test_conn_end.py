"""L3: why a connection ended, as every waiting dialog learns it (the end hook).

A child's connection gets a hook from its owner: awaited once when the channel
ends, it turns the end into the error every waiter gets (``ActorDied`` once the
child's process is reaped). Waiters get nothing before the hook has answered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import agentree
from agentree._exceptions import AgentreeError
from agentree._ipc import Channel
from agentree._runtime._actor import Actor
from agentree._runtime._conn import Conn

MODULE = __name__
EXIT = agentree.ChildExit(
    name="server", uid=("server", "u"), pid=4242, returncode=-9, reason="signaled"
)


async def block() -> None:
    await trio.sleep_forever()


@asynccontextmanager
async def connected() -> AsyncIterator[tuple[Conn, Conn]]:
    left, right = trio.testing.memory_stream_pair()
    caller = Actor("caller")
    server = Actor("server", enable_modules={MODULE})
    caller_conn = Conn(caller, Channel(left, initiator=True), server.uid)  # type: ignore[arg-type]
    server_conn = Conn(server, Channel(right), caller.uid)  # type: ignore[arg-type]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller_conn.process_messages)
        nursery.start_soon(server_conn.process_messages)
        yield caller_conn, server_conn
        await caller_conn.chan.aclose()
        await server_conn.chan.aclose()


async def test_waiters_get_what_the_end_hook_says() -> None:
    seen: list[AgentreeError] = []
    release = trio.Event()

    async def explain(reason: AgentreeError) -> AgentreeError:
        seen.append(reason)
        await release.wait()
        return agentree.ActorDied(EXIT.describe(), exit=EXIT)

    with trio.fail_after(5):
        async with connected() as (caller, server):
            caller.explain_end = explain
            errors: list[BaseException] = []

            async def call() -> None:
                try:
                    await caller.call(f"{MODULE}:block", {})
                except BaseException as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(call)
                await trio.testing.wait_all_tasks_blocked()
                await server.chan.aclose()
                await trio.testing.wait_all_tasks_blocked()
                # The hook is running: nobody has been told anything yet.
                assert len(seen) == 1
                assert isinstance(seen[0], agentree.TransportClosed)
                assert errors == []
                assert not caller.closed.is_set()
                release.set()
            assert len(errors) == 1
            died = errors[0]
            assert isinstance(died, agentree.ActorDied)
            assert died.exit == EXIT
            assert str(died) == (
                f"actor 'server' (pid 4242) was killed by SIGKILL during {MODULE}:block()"
            )
            # Later calls say the same; the hook ran once.
            with pytest.raises(agentree.ActorDied, match="SIGKILL"):
                await caller.call(f"{MODULE}:block", {})
            assert len(seen) == 1


async def test_without_a_hook_the_end_is_transport_closed() -> None:
    with trio.fail_after(5):
        async with connected() as (caller, server), trio.open_nursery() as nursery:

            async def call() -> None:
                with pytest.raises(agentree.TransportClosed) as info:
                    await caller.call(f"{MODULE}:block", {})
                assert not isinstance(info.value, agentree.ActorDied)

            nursery.start_soon(call)
            await trio.testing.wait_all_tasks_blocked()
            await server.chan.aclose()


async def test_a_failed_send_waits_for_the_reason(autojump_clock: trio.testing.MockClock) -> None:
    # In-memory streams only: the bounded wait (2 s) passes on the mock clock, at once.
    async def explain(reason: AgentreeError) -> AgentreeError:
        return agentree.ActorDied(EXIT.describe(), exit=EXIT)

    with trio.fail_after(5):
        async with connected() as (caller, _server):
            caller.explain_end = explain
            exc = await caller.send_failed("mod:fn", agentree.TransportClosed("broke"))
            # The channel had not ended: after the bounded wait, what is known.
            assert type(exc) is agentree.TransportClosed
            await _server.chan.aclose()
            await caller.closed.wait()
            exc = await caller.send_failed("mod:fn", agentree.TransportClosed("broke"))
            assert isinstance(exc, agentree.ActorDied)
            assert "during mod:fn()" in str(exc)
