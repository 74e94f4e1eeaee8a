"""tractor's names, used the way its documentation uses them (issue 16, item 2)."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

import agentree
from agentree import to_asyncio
from agentree.trionics import gather_contexts, maybe_open_context

from . import _names_funcs

TIMEOUT = 30


async def test_portal_chan_uid_aid_raddr() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("named", enable_modules=[_names_funcs.MODULE])
            me = await portal.run(_names_funcs.whoami)
            assert portal.chan is portal.channel
            assert portal.chan.uid == portal.channel.uid == portal.actor_uid
            assert portal.chan.aid.uid == portal.actor_uid
            assert portal.chan.aid.name == "named"
            assert portal.chan.aid.pid == me["pid"]
            assert tuple(me["uid"]) == tuple(me["aid_uid"]) == portal.actor_uid
            # A socketpair has no address; the attribute is there all the same.
            assert portal.chan.raddr is None or isinstance(portal.chan.raddr, str | tuple)


async def test_actor_aid_and_aid_uid() -> None:
    async with agentree.open_root_actor(name="top") as actor:
        assert agentree.current_actor().aid == actor.aid
        assert actor.aid.uid == actor.uid
        assert actor.aid.name == "top"


async def test_current_actor_err_on_no_runtime() -> None:
    assert agentree.current_actor(err_on_no_runtime=False) is None
    with pytest.raises(agentree.NoRuntime):
        agentree.current_actor()
    async with agentree.open_root_actor() as actor:
        assert agentree.current_actor(err_on_no_runtime=False) is actor


async def test_current_ipc_ctx_on_both_sides() -> None:
    assert agentree.current_ipc_ctx() is None
    with pytest.raises(agentree.AgentreeError):
        agentree.current_ipc_ctx(error_on_not_set=True)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("served", enable_modules=[_names_funcs.MODULE])
            async with portal.open_context(_names_funcs.ctx_is_current, tag="t") as (ctx, first):
                assert first == ["t", True]
                assert agentree.current_ipc_ctx() is ctx
            assert agentree.current_ipc_ctx() is None
            # A plain call is no context.
            assert (await portal.run(_names_funcs.whoami))["ipc_ctx"] is False


async def test_debug_mode() -> None:
    assert agentree.debug_mode() is False
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            assert agentree.debug_mode() is False
            plain = await an.start_actor("plain", enable_modules=[_names_funcs.MODULE])
            debugged = await an.start_actor(
                "debugged", enable_modules=[_names_funcs.MODULE], debug_mode=True
            )
            assert (await plain.run(_names_funcs.whoami))["debug_mode"] is False
            assert (await debugged.run(_names_funcs.whoami))["debug_mode"] is True


def test_get_console_log_takes_tractor_levels() -> None:
    try:
        log = agentree.log.get_console_log("cancel")
        assert isinstance(log, logging.Logger)
        assert log.name == "agentree"
        assert logging.getLogger("agentree").level == logging.INFO
        agentree.log.get_console_log("runtime")
        assert logging.getLogger("agentree").level == logging.DEBUG
        with pytest.raises(agentree.InvalidOption):
            agentree.log.get_console_log("chatty")
    finally:
        agentree.log.configure(None, "test")
        logging.getLogger("agentree").setLevel(logging.NOTSET)


@pytest.mark.parametrize("level", ["cancel", "runtime", "transport", "devx", "pdb"])
async def test_extra_levels_on_start_actor_and_run_in_actor(level: str) -> None:
    expected = agentree.log.level_number(level)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(loglevel=level) as an:
            daemon = await an.start_actor(
                "daemon", enable_modules=[_names_funcs.MODULE], loglevel=level
            )
            one_shot = await an.run_in_actor(_names_funcs.log_level, loglevel=level, x=1)
            assert (await daemon.run(_names_funcs.log_level))["level"] == expected
            # loglevel is the child's option, never an argument of the function.
            assert await one_shot.wait_for_result() == {"level": expected, "kwargs": ["x"]}
    agentree.log.configure(None, "test")
    logging.getLogger("agentree").setLevel(logging.NOTSET)


async def test_open_actor_cluster_keywords() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_actor_cluster(
            modules=[_names_funcs.MODULE], count=2, names=None, start_method="subprocess"
        ) as portals:
            assert list(portals) == ["worker_0", "worker_1"]
            pids = {(await p.run(_names_funcs.whoami))["pid"] for p in portals.values()}
            assert len(pids) == 2


async def test_enable_transports() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(enable_transports=["uds"]) as actor:
            assert actor.is_registrar
    with pytest.raises(agentree.InvalidOption, match="enable_transports"):
        async with agentree.open_root_actor(enable_transports=["carrier-pigeon"]):
            pass
    # ["tcp"]: the root listens on TCP (loopback, a free port, unless
    # registry_addrs names one), and another program joins it with the tree's secret.
    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(enable_transports=["tcp"]):
            address = agentree.tree_address()
            assert address is not None
            assert address[0] == "127.0.0.1"
            assert address[1] > 0


async def test_gather_contexts_enters_them_together() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portals = [
                await an.start_actor(f"a{i}", enable_modules=[_names_funcs.MODULE])
                for i in range(3)
            ]
            async with gather_contexts(
                [
                    p.open_context(_names_funcs.ctx_is_current, tag=str(i))
                    for i, p in enumerate(portals)
                ]
            ) as entered:
                assert [first for _ctx, first in entered] == [
                    ["0", True],
                    ["1", True],
                    ["2", True],
                ]
            async with gather_contexts([]) as none:
                assert none == ()


async def test_gather_contexts_error_on_entry_is_grouped() -> None:
    @asynccontextmanager
    async def fails() -> AsyncIterator[None]:
        raise KeyError("no entry")
        yield

    exited = []

    @asynccontextmanager
    async def fine() -> AsyncIterator[int]:
        try:
            yield 1
        finally:
            exited.append(True)

    with pytest.raises(ExceptionGroup) as info:
        async with gather_contexts([fine(), fails()]):
            raise AssertionError("must not be entered")
    assert [type(e) for e in info.value.exceptions] == [KeyError]


async def test_maybe_open_context_shares_one_instance() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def resource(label: str) -> AsyncIterator[str]:
        events.append(f"open {label}")
        try:
            yield f"resource {label}"
        finally:
            events.append(f"close {label}")

    hits: list[tuple[bool, str]] = []
    all_in = trio.Event()

    async def user() -> None:
        async with maybe_open_context(resource, kwargs={"label": "a"}) as (hit, value):
            hits.append((hit, value))
            if len(hits) == 3:
                all_in.set()
            await all_in.wait()

    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor():
            async with trio.open_nursery() as tn:
                for _ in range(3):
                    tn.start_soon(user)
            assert events == ["open a", "close a"]
            assert sorted(hits) == [
                (False, "resource a"),
                (True, "resource a"),
                (True, "resource a"),
            ]
            # Closed with its last user: the next one opens it again.
            async with maybe_open_context(resource, kwargs={"label": "a"}) as (hit, _):
                assert hit is False
            async with maybe_open_context(resource, kwargs={"label": "b"}, key=lambda kw: "k"):
                pass
    assert events == ["open a", "close a", "open a", "close a", "open b", "close b"]


async def test_maybe_open_context_needs_an_actor() -> None:
    @asynccontextmanager
    async def resource() -> AsyncIterator[None]:
        yield

    with pytest.raises(agentree.NoRuntime):
        async with maybe_open_context(resource):
            pass


async def aio_echo_chan(chan: to_asyncio.LinkedTaskChannel) -> None:
    """tractor's current form: one ``chan`` argument."""
    chan.started_nowait("ready")
    async for msg in chan:
        chan.send_nowait(msg * 2)


async def aio_echo_old(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    """The seed README's form: ``to_trio`` and ``from_trio``."""
    to_trio.send_nowait("ready")
    while True:
        to_trio.send_nowait(await from_trio.get() * 3)
        await asyncio.sleep(0)


async def _both_asyncio_forms() -> list[object]:
    seen: list[object] = []
    async with agentree.open_root_actor():
        async with to_asyncio.open_channel_from(aio_echo_chan) as (chan, first):
            seen.append(first)
            await chan.send(2)
            seen.append(await chan.receive())
        async with to_asyncio.open_channel_from(aio_echo_old) as (first, chan):
            seen.append(first)
            await chan.send(2)
            seen.append(await chan.receive())
    return seen


def test_asyncio_channel_forms_chosen_by_signature() -> None:
    assert agentree.run_as_asyncio_guest(_both_asyncio_forms) == ["ready", 4, "ready", 6]


async def test_post_mortem_shield_and_open_nursery_hide_tb() -> None:
    assert "shield" in inspect.signature(agentree.post_mortem).parameters
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(hide_tb=False) as an:
            portal = await an.run_in_actor(_names_funcs.log_level)
            assert (await portal.wait_for_result())["kwargs"] == []
            # Not in debug mode: a clear error, shielded or not.
            try:
                raise KeyError("inspect me")
            except KeyError:
                with pytest.raises(agentree.AgentreeError, match="debug"):
                    await agentree.post_mortem(shield=True)


async def test_maybe_enable_greenback() -> None:
    greenback = pytest.importorskip("greenback")
    module = await agentree.maybe_enable_greenback()
    assert module is greenback
    assert greenback.has_portal()
