"""Discovery: the root as registrar, lookups from any actor, direct connections."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import agentree
from agentree import _discovery
from agentree._ipc import authenticate_client
from agentree._runtime._peers import socket_path

from . import _discovery_funcs as f

BOTH = pytest.mark.parametrize("start_method", ["forkserver", "subprocess"])
MODULES = [f.MODULE]


def _tmpdir() -> str:
    tmpdir = agentree.current_actor().options.tmpdir
    assert tmpdir is not None
    return tmpdir


def _sockets() -> set[str]:
    return {
        name
        for name in os.listdir(_tmpdir())
        if name not in ("forkserver.sock", "control.json", "log.sock")
    }


def _sock_of(uid: tuple[str, str]) -> str:
    return os.path.basename(socket_path(_tmpdir(), uid[1]))


@asynccontextmanager
async def _hosted(portal: agentree.Portal, name: str) -> AsyncIterator[tuple[list[str], int]]:
    """Have the actor behind ``portal`` start child ``name``; yield its uid and pid."""
    async with portal.open_context(f.host, name=name) as (ctx, (uid, pid)):
        yield uid, pid
        await ctx.cancel()


async def _gone_from_registry(key: str) -> None:
    """Wait (event-driven, in the root) until nothing is registered under ``key``."""
    registry = agentree.current_actor().registry
    assert registry is not None
    while registry.lookup(key) is not None:
        await registry.changed(key)


# -- names, siblings and cousins ------------------------------------------------------


@BOTH
async def test_siblings_find_and_call_each_other_directly(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            a = await an.start_actor("alice", enable_modules=MODULES)
            b = await an.start_actor("bob", enable_modules=MODULES)
            # bob finds alice through the registrar and calls her: alice sees bob,
            # not the root, at the other end of the connection.
            got = await b.run(f.call_by_name, name="alice")
            assert got["me"] == list(a.actor_uid)
            assert got["caller"] == list(b.actor_uid)
            got = await a.run(f.call_by_name, name="bob")
            assert got["caller"] == list(a.actor_uid)
            # From the root the child's own channel is the direct connection.
            async with agentree.find_actor("bob") as portal:
                assert portal is not None
                assert portal.actor_uid == b.actor_uid
                assert portal.channel is b.channel


@BOTH
async def test_cousins_find_and_call_each_other_directly(start_method: str) -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(start_method=start_method) as an:
            m1 = await an.start_actor("m1", enable_modules=MODULES)
            m2 = await an.start_actor("m2", enable_modules=MODULES)
            async with (
                _hosted(m1, "cousin-a") as (a_uid, _a_pid),
                _hosted(m2, "cousin-b") as (b_uid, _b_pid),
            ):
                # The root reaches a grandchild directly too.
                async with agentree.find_actor("cousin-b") as b:
                    assert b is not None
                    assert b.actor_uid == tuple(b_uid)
                    got = await b.run(f.call_by_name, name="cousin-a")
                    assert got["me"] == a_uid
                    assert got["caller"] == b_uid
                    got = await b.run(f.who_calls)
                    assert got["caller"] == list(agentree.current_actor().uid)
                # A nested actor finds a sibling of its parent (an uncle).
                async with agentree.find_actor("cousin-a") as a:
                    assert a is not None
                    got = await a.run(f.call_by_name, name="m2")
                    assert got["me"] == list(m2.actor_uid)
                    assert got["caller"] == a_uid


async def test_one_cached_connection_per_pair_of_actors() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            await an.start_actor("target", enable_modules=MODULES)
            caller = await an.start_actor("many", enable_modules=MODULES)
            assert await caller.run(f.concurrent_portals, name="target", n=20) == [1, 1]
            # Again later: the same connection.
            assert await caller.run(f.concurrent_portals, name="target", n=3) == [1, 1]


async def test_direct_portal_runs_contexts_streams_errors_and_cancellation() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            a = await an.start_actor("ctx-a", enable_modules=MODULES)
            b = await an.start_actor("ctx-b", enable_modules=MODULES)
            first, got, result, streamed = await b.run(
                f.context_and_stream_over_peer, name="ctx-a"
            )
            assert (first, got, streamed) == (7, [0, 2, 4], [0, 1, 2, 3])
            assert result == "done for ctx-b"
            # Errors are boxed as on any channel, and enable_modules holds.
            boom, hidden = await b.run(f.remote_error_over_peer, name="ctx-a")
            assert boom == ["ValueError", boom[1], list(a.actor_uid)]
            assert "boom" in boom[1]
            assert hidden[0] == "agentree.ModuleNotExposed"
            # Cancelling the caller cancels the call in the callee, which keeps serving.
            # Several rounds: the cancel may reach the callee at any point of its call
            # (the callee's test function missed one, and about 1 round in 15 hung).
            for i in range(30):
                got = await b.run(f.cancel_call_over_peer, name="ctx-a", key=f"nap{i}")
                assert got == "ctx-a"


async def test_infected_asyncio_actors_are_found_and_called_directly() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            aio = await an.start_actor("aio", enable_modules=MODULES, infect_asyncio=True)
            plain = await an.start_actor("plain", enable_modules=MODULES)
            got = await plain.run(f.call_by_name, name="aio")
            assert got["me"] == list(aio.actor_uid)
            assert got["caller"] == list(plain.actor_uid)
            got = await aio.run(f.call_by_name, name="plain")
            assert got["caller"] == list(aio.actor_uid)


# -- waiting and missing names -----------------------------------------------------------


@BOTH
async def test_wait_for_actor_started_later(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            waiter = await an.start_actor("waiter", enable_modules=MODULES)
            async with trio.open_nursery() as tn:
                results: list[dict[str, Any]] = []

                async def wait_in_child() -> None:
                    results.append(
                        await waiter.run(f.wait_then_call, name="latecomer", ready_key="w")
                    )

                tn.start_soon(wait_in_child)
                await _discovery.wait_for("w")
                late = await an.start_actor("latecomer", enable_modules=MODULES)
            (got,) = results
            assert got["absent_first"] is True
            assert got["me"] == list(late.actor_uid)
            assert got["caller"] == list(waiter.actor_uid)


async def test_wait_for_actor_in_the_root_waits_for_the_event() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an, trio.open_nursery() as tn:
            found: list[tuple[str, str]] = []

            async def wait_here() -> None:
                async with agentree.wait_for_actor("later") as portal:
                    found.append(portal.actor_uid)

            tn.start_soon(wait_here)
            await trio.testing.wait_all_tasks_blocked()
            assert found == []
            late = await an.start_actor("later")
        assert found == [late.actor_uid]


async def test_wait_for_ends_with_the_callers_cancel_scope() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            child = await an.start_actor("patient", enable_modules=MODULES)
            assert await child.run(f.wait_cancelled, key="never", seconds=0.2) is True
            with trio.move_on_after(0.2) as scope:
                await _discovery.wait_for("never")
            assert scope.cancelled_caught
            # The child serves on after its relayed wait was cancelled.
            assert (await child.run(f.who_calls))["me"][0] == "patient"


@BOTH
async def test_unknown_name_is_none_quickly(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            with trio.fail_after(1):
                async with agentree.find_actor("nobody") as portal:
                    assert portal is None
                async with agentree.query_actor("nobody") as (addr, reg):
                    assert (addr, reg) == (None, None)
            m = await an.start_actor("mid", enable_modules=MODULES)
            async with _hosted(m, "deep"), agentree.find_actor("deep") as deep:
                assert deep is not None
                assert await deep.run(f.find_quickly, name="nobody") is False
                assert await deep.run(f.find_quickly, name="mid") is True
            with pytest.raises(agentree.AgentreeError, match="nobody"):
                async with agentree.find_actor("nobody", raise_on_none=True):
                    pass


# -- entries end with their actor ---------------------------------------------------------


@BOTH
async def test_entries_and_socket_dropped_when_actor_stops(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            root_sock = _sock_of(agentree.current_actor().uid)
            assert _sockets() == {root_sock}
            async with agentree.open_nursery() as inner:
                p = await inner.start_actor("short", enable_modules=MODULES)
                await p.run(f.register_key, key="agent:short")
                assert _sockets() == {root_sock, _sock_of(p.actor_uid)}
                assert await _discovery.lookup("short") is not None
            # The nursery reaped it: its name, its keys and its socket are gone.
            assert await _discovery.lookup("short") is None
            assert await _discovery.lookup("agent:short") is None
            assert _sockets() == {root_sock}
            # A daemon that is asked to cancel itself goes the same way.
            p = await an.start_actor("cancelled", enable_modules=MODULES)
            assert await p.cancel_actor()
            await p.channel.closed.wait()
            assert await _discovery.lookup("cancelled") is None
            # A nested actor's stop reaches the registrar before its parent goes on.
            m = await an.start_actor("parent", enable_modules=MODULES)
            assert await m.run(f.host_and_stop, name="nested-short") is False
            assert await _discovery.lookup("nested-short") is None


@BOTH
async def test_entries_and_socket_dropped_when_actor_is_sigkilled(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            p = await an.start_actor("victim", enable_modules=MODULES)
            await p.run(f.register_key, key="agent:victim")
            pid = await p.run(f.getpid)
            os.kill(pid, signal.SIGKILL)
            await p.channel.closed.wait()
            assert await _discovery.lookup("victim") is None
            assert await _discovery.lookup("agent:victim") is None
            assert _sock_of(p.actor_uid) not in _sockets()
            # A killed grandchild: its parent sees it go and tells the registrar.
            m = await an.start_actor("mid", enable_modules=MODULES)
            async with _hosted(m, "grandkid") as (g_uid, g_pid):
                assert (await _discovery.lookup("grandkid")) is not None
                os.kill(g_pid, signal.SIGKILL)
                await _gone_from_registry("grandkid")
                assert _sock_of((g_uid[0], g_uid[1])) not in _sockets()


@BOTH
async def test_descendants_dropped_with_their_killed_parent(start_method: str) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(start_method=start_method) as an:
            m = await an.start_actor("doomed-parent", enable_modules=MODULES)
            with pytest.raises(agentree.TransportClosed, match="doomed-parent"):  # noqa: PT012
                async with _hosted(m, "orphan") as (orphan_uid, _pid):
                    assert await _discovery.lookup("orphan") is not None
                    os.kill(await m.run(f.getpid), signal.SIGKILL)
                    await m.channel.closed.wait()
            # The registrar dropped the subtree with its root, at once, and their
            # socket files (killed actors cannot remove their own).
            assert await _discovery.lookup("doomed-parent") is None
            assert await _discovery.lookup("orphan") is None
            assert _sockets() == {_sock_of(agentree.current_actor().uid)}
            assert _sock_of((orphan_uid[0], orphan_uid[1])) not in _sockets()


async def test_cached_connection_dropped_when_peer_dies() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            caller = await an.start_actor("caller", enable_modules=MODULES)
            callee = await an.start_actor("callee", enable_modules=MODULES)
            async with trio.open_nursery() as tn:
                outcome: list[str] = []

                async def call() -> None:
                    outcome.append(
                        await caller.run(f.call_until_peer_dies, name="callee", key="asleep")
                    )

                tn.start_soon(call)
                await _discovery.wait_for("asleep")
                os.kill(await callee.run(f.getpid), signal.SIGKILL)
            assert outcome == ["TransportClosed cached=False"]
            # And the caller does not find it any more.
            await callee.channel.closed.wait()
            assert await caller.run(f.call_by_name, name="callee") is None


# -- the registry for the layers above ---------------------------------------------------


@BOTH
async def test_register_lookup_wait_for_open_portal_from_nested_actors(
    start_method: str,
) -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(start_method=start_method) as an:
            m1 = await an.start_actor("team-a", enable_modules=MODULES)
            m2 = await an.start_actor("team-b", enable_modules=MODULES)
            async with (
                _hosted(m1, "reader") as (reader_uid, _r),
                _hosted(m2, "writer") as (writer_uid, _w),
                agentree.find_actor("reader") as reader,
                agentree.find_actor("writer") as writer,
                trio.open_nursery() as tn,
            ):
                assert reader is not None
                assert writer is not None
                results: list[dict[str, Any]] = []

                async def wait_in_writer() -> None:
                    results.append(await writer.run(f.wait_and_call, key="agent:team/reader"))

                tn.start_soon(wait_in_writer)
                await reader.run(f.register_key, key="agent:team/reader", meta={"v": 1})
            (got,) = results
            assert got["me"] == reader_uid
            assert got["caller"] == writer_uid
            assert got["meta"] == {"v": 1}


async def test_register_latest_holder_wins_and_unregister() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(enable_modules=MODULES) as an:
            one = await an.start_actor("one", enable_modules=MODULES)
            two = await an.start_actor("two", enable_modules=MODULES)
            await one.run(f.register_key, key="agent:x", meta={"n": 1})
            key, uid, addr, meta = await two.run(f.lookup_key, key="agent:x")
            assert (key, tuple(uid), meta) == ("agent:x", one.actor_uid, {"n": 1})
            assert os.path.basename(addr) == _sock_of(one.actor_uid)
            await two.run(f.register_key, key="agent:x")
            entry = await _discovery.lookup("agent:x")
            assert entry is not None
            assert entry.uid == two.actor_uid
            assert entry.meta == {}
            await two.run(f.unregister_key, key="agent:x")
            entry = await _discovery.lookup("agent:x")
            assert entry is not None
            assert entry.uid == one.actor_uid
            await one.run(f.unregister_key, key="agent:x")
            assert await _discovery.lookup("agent:x") is None
            # The root registers itself too, and reaches itself directly.
            await _discovery.register("agent:root", {"r": True})
            entry = await _discovery.wait_for("agent:root")
            portal = await _discovery.open_portal(entry)
            got = await portal.run(f.who_calls)
            assert got["me"] == got["caller"] == list(agentree.current_actor().uid)


async def test_register_refuses_bad_input() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery():
            with pytest.raises(TypeError, match="register"):
                await _discovery.register("")
            with pytest.raises(TypeError, match="meta"):
                await _discovery.register("k", ["not", "a", "dict"])  # type: ignore[arg-type]
            with pytest.raises(agentree.MsgEncodeError, match="'k'"):
                await _discovery.register("k", {"x": object()})
            with pytest.raises(TypeError, match="RegistryEntry"):
                await _discovery.open_portal(("k", "uid"))  # type: ignore[arg-type]
            assert await _discovery.lookup("k") is None


async def test_several_actors_with_one_name() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            first = await an.start_actor("twin", enable_modules=MODULES)
            second = await an.start_actor("twin", enable_modules=MODULES)
            async with agentree.find_actor("twin") as portal:
                assert portal is not None
                assert portal.actor_uid == second.actor_uid
            async with agentree.find_actor("twin", only_first=False) as portals:
                assert [p.actor_uid for p in portals] == [first.actor_uid, second.actor_uid]
            await second.cancel_actor()
            await second.channel.closed.wait()
            async with agentree.find_actor("twin") as portal:
                assert portal is not None
                assert portal.actor_uid == first.actor_uid


async def test_registrar_names_query_and_get_registry() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            root = agentree.current_actor()
            assert root.is_registrar
            assert root.is_arbiter
            m = await an.start_actor("asker", enable_modules=MODULES)
            got = await m.run(f.who_calls)
            assert got["is_registrar"] is False
            assert got["is_arbiter"] is False
            assert await m.run(f.registrar_uid) == list(root.uid)
            async with _hosted(m, "deeper"), agentree.find_actor("deeper") as deep:
                assert deep is not None
                assert await deep.run(f.registrar_uid) == list(root.uid)
                addr, reg = await deep.run(f.query, name="asker")
                assert reg is None
                assert addr == socket_path(_tmpdir(), m.actor_uid[1])
            async with agentree.get_registry() as portal:
                assert portal.actor_uid == root.uid


# -- the listener only serves the tree ----------------------------------------------------


async def test_unauthenticated_connections_are_refused_and_the_actor_serves_on() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            p = await an.start_actor("guarded", enable_modules=MODULES)
            path = socket_path(_tmpdir(), p.actor_uid[1])

            # A silent client holds one connection in its handshake...
            silent = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            await silent.connect(path)
            # ...while a client with the wrong secret is refused,
            stream = await trio.open_unix_socket(path)
            with pytest.raises(agentree.AuthenticationError):
                await authenticate_client(stream, b"not the tree's secret")
            await stream.aclose()
            # a client that skips the handshake and sends a call gets nothing but EOF,
            raw = await trio.open_unix_socket(path)
            hello = await raw.receive_some(64)
            assert hello.startswith(b"AGTR")
            from agentree.msg import Start, encode

            frame = encode(Start(cid=1, ns=f"{f.MODULE}:who_calls", kwargs=encode({})))
            await raw.send_all(len(frame).to_bytes(4, "big") + frame + b"\0" * 64)
            with contextlib.suppress(trio.BrokenResourceError):  # closed with unread data
                assert await raw.receive_some(1024) == b""
            await raw.aclose()
            # and the tree's own actors are served all along.
            got = await p.run(f.who_calls)
            assert got["me"][0] == "guarded"
            other = await an.start_actor("other", enable_modules=MODULES)
            got = await other.run(f.call_by_name, name="guarded")
            assert got["caller"] == list(other.actor_uid)
            silent.close()


async def test_socket_files_are_private_and_removed_with_the_tree() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            tmpdir = _tmpdir()
            assert os.stat(tmpdir).st_mode & 0o777 == 0o700
            await an.start_actor("a", enable_modules=MODULES)
            await an.start_actor("b", enable_modules=MODULES)
            assert len(_sockets()) == 3
        assert not os.path.exists(tmpdir)  # noqa: ASYNC240


async def test_lookups_need_a_runtime() -> None:
    with pytest.raises(agentree.NoRuntime):
        await _discovery.lookup("x")
    with pytest.raises(agentree.NoRuntime):
        async with agentree.find_actor("x"):
            pass


async def test_registry_addrs_accepted_for_tractor_compatibility() -> None:
    with trio.fail_after(20):
        addrs = [("127.0.0.1", 1616)]
        async with (
            agentree.open_root_actor(registry_addrs=addrs),
            agentree.find_actor("root", registry_addrs=addrs) as p,
        ):
            assert p is not None
