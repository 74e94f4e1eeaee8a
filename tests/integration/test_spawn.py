"""Spawning one-shot actors and getting their results; who-am-I inside an actor."""

from __future__ import annotations

import os

import pytest
import trio

import agentree

from . import _checks, _funcs

START_METHODS = ["forkserver", "subprocess"]


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_run_in_actor_result(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            adder = await an.run_in_actor(_funcs.add, x=40, y=2)
            pid_portal = await an.run_in_actor(_funcs.getpid)
            assert await adder.wait_for_result() == 42
            pid = await pid_portal.wait_for_result()
            # A second wait gives the same result again.
            assert await adder.wait_for_result() == 42
    assert pid != os.getpid()


async def test_result_alias() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(_funcs.echo, value={"a": [1, 2.5, "x", None]})
            assert await portal.result() == {"a": [1, 2.5, "x", None]}
            assert await portal.wait_for_result() == {"a": [1, 2.5, "x", None]}


async def test_sync_function_in_actor() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(_funcs.add_sync, x=1, y=2)
            assert await portal.wait_for_result() == 3


async def test_result_collected_when_block_ends_first() -> None:
    """The block may end before the child does; the nursery waits for the result."""
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(_funcs.add, x=2, y=3)
        assert await portal.wait_for_result() == 5


async def test_daemon_portal_has_no_result() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.AgentreeError, match="daemon"):
                await portal.wait_for_result()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_current_actor_in_child(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            root = agentree.current_actor()
            assert root.name == "root"
            assert agentree.is_root_process()
            one_shot = await an.run_in_actor(_funcs.whoami, name="worker")
            daemon = await an.start_actor("helper", enable_modules=[_funcs.MODULE])
            daemon_info = await daemon.run(_funcs.whoami)
            info = await one_shot.wait_for_result()
    assert info["name"] == "worker"
    assert info["is_root"] is False
    assert info["pid"] != os.getpid()
    name, uuid = info["uid"]
    assert name == "worker"
    assert isinstance(uuid, str)
    assert uuid
    assert tuple(info["uid"]) == one_shot.actor_uid
    assert daemon_info["name"] == "helper"
    assert daemon_info["is_root"] is False
    assert tuple(daemon_info["uid"]) == daemon.actor_uid
    assert daemon_info["uid"][1] != uuid
    assert root.uid not in (one_shot.actor_uid, daemon.actor_uid)


def test_current_actor_outside_runtime() -> None:
    with pytest.raises(agentree.NoRuntime):
        agentree.current_actor()
    assert issubclass(agentree.NoRuntime, RuntimeError)


async def test_current_actor_after_runtime_closed() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery():
            assert agentree.current_actor().name == "root"
    with pytest.raises(agentree.NoRuntime):
        agentree.current_actor()


async def test_start_actor_with_a_module_that_does_not_import() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.SpawnError, match="no_such_module_here"):
                await an.start_actor("broken", enable_modules=["no_such_module_here"])
            assert an.children == {}
            portal = await an.start_actor("fine", enable_modules=[_funcs.MODULE])
            assert await portal.run(_funcs.add, x=1, y=1) == 2


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_children_start_with_warnings_as_errors(
    start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child interpreter with ``-W error`` (as a strict test suite has) starts."""
    monkeypatch.setenv("PYTHONWARNINGS", "error")
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.run_in_actor(_funcs.add, x=1, y=2)
            assert await portal.wait_for_result() == 3


async def test_dead_forkserver_gives_spawn_error() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            (forkserver,) = _checks.descendants()
            forkserver.kill()
            await _checks.wait_gone([forkserver])
            with pytest.raises(agentree.SpawnError):
                await an.start_actor("orphan", enable_modules=[_funcs.MODULE])


async def test_forkserver_that_cannot_start_gives_spawn_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The forkserver dies before it serves (a broken install, say): a SpawnError."""
    # The only way to break the forkserver's start from outside: its entry code
    # (that of a fresh forkserver, not a copy of the root).
    monkeypatch.setenv("AGENTREE_FORKSERVER", "fresh")
    monkeypatch.setattr("agentree._spawn._forkserver._ENTRY", "raise SystemExit(3)")
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.SpawnError):
                await an.start_actor("never", enable_modules=[_funcs.MODULE])
