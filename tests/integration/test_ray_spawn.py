"""start_method="ray": children hosted by Ray actors, on one local Ray.

One local Ray for the whole module (``ray.init(num_cpus=2)``, no dashboard, on
127.0.0.1): starting Ray costs seconds, a Ray-hosted child about half of one.
Skipped when Ray is not installed (the ``ray`` extra).

The module's leak check (it replaces the plugin's): Ray's own processes (raylet,
idle workers) outlive a test by design, so what must be gone after each test is
every agentree process and every host actor (Ray's GCS state says DEAD).
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import trio

import agentree
from agentree.testing import raises_one

from . import _ray_debug_funcs, _ray_funcs
from ._checks import alive, processes
from ._ray_checks import live_hosts, reap_after_ray, reap_zombies, wait_all_gone

ray = pytest.importorskip("ray", reason="the ray extra is not installed", exc_type=ImportError)

TIMEOUT = 60
FUNCS = ["tests.integration._ray_funcs"]


@pytest.fixture(scope="module")
def ray_session() -> Iterator[Any]:
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    ray.init(
        num_cpus=2,
        object_store_memory=80 * 1024 * 1024,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        yield ray
    finally:
        ray.shutdown()
        reap_after_ray(before)


@pytest.fixture(autouse=True)
def agentree_leak_check(ray_session: Any) -> Iterator[None]:
    """Nothing of agentree left: processes, host actors, temp dirs."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    tmp_before = set(glob.glob(os.path.join(tempfile.gettempdir(), "agentree-*")))
    yield
    left = wait_all_gone(ray_session, before)
    reap_zombies(before)
    tmp_left = set(glob.glob(os.path.join(tempfile.gettempdir(), "agentree-*"))) - tmp_before
    assert not left, f"left behind: {left}"
    assert not tmp_left, f"temp dirs left behind: {tmp_left}"


async def test_a_ray_hosted_actor_is_an_ordinary_actor() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("hosted", enable_modules=FUNCS, start_method="ray")
            child = portal._child
            assert child is not None
            assert await portal.run(_ray_funcs.whoami) == "hosted"
            remote_pid = await portal.run(_ray_funcs.pid)
            assert remote_pid == child.pid != os.getpid()
            # Its process runs under a Ray worker, not under this process's own spawner.
            assert "ray" in " ".join(psutil.Process(remote_pid).parent().cmdline()).lower()
            assert len(live_hosts(ray)) == 1
            # An error crosses back, typed.
            with raises_one(agentree.RemoteActorError) as info:
                await portal.run(_ray_funcs.fail, msg="from ray")
            assert info.value.boxed_type is ValueError
            assert "from ray" in str(info.value)
            # A context with a two-way stream.
            async with (
                portal.open_context(_ray_funcs.echo) as (ctx, first),
                ctx.open_stream() as stream,
            ):
                assert first == "hosted"
                for i in range(50):
                    await stream.send(i)
                    assert await stream.receive() == i
            # A cancellation crosses: the remote task sees it.
            async with portal.open_context(_ray_funcs.wait_to_be_cancelled) as (ctx, first):
                assert first == "waiting"
                await ctx.cancel()
            assert await portal.run(_ray_funcs.cancellations) == ["ctx"]
            # 10,000 messages on one stream, in order.
            async with portal.open_stream_from(_ray_funcs.numbers, n=10_000) as numbers:
                got = [i async for i in numbers]
            assert got == list(range(10_000))
            # Discovery both ways between it and a sibling started the default way.
            sibling = await an.start_actor("sibling", enable_modules=FUNCS)
            assert await sibling.run(_ray_funcs.call_by_name, name="hosted") == "hosted"
            assert await portal.run(_ray_funcs.call_by_name, name="sibling") == "sibling"
            # Its own nursery: a grandchild on its node.
            name, pid = await portal.run(_ray_funcs.spawn_grandchild)
            assert (name, pid) == ("grandchild", remote_pid)
        assert not alive(processes([remote_pid]))


async def test_infected_asyncio_and_run_in_actor_through_ray() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method="ray") as an:
            aio = await an.start_actor("aio", enable_modules=FUNCS, infect_asyncio=True)
            assert await aio.run(_ray_funcs.aio_answer) == 42
            one_shot = await an.run_in_actor(_ray_funcs.whoami, name="once")
            assert await one_shot.wait_for_result() == "once"


async def test_a_nursery_opened_with_ray_hosts_agents() -> None:
    from tests.agents._agents import Basic, Point

    with trio.fail_after(TIMEOUT):
        async with agentree.open_root_actor(), agentree.open_nursery(start_method="ray") as an:
            ref = await an.start_agent(Basic, 10, name="ray-agent")
            assert await ref.call(Basic.add, 1, y=2) == 13
            identity = await ref.call(Basic.identity)
            assert identity["pid"] != os.getpid()
            assert len(live_hosts(ray)) == 1
            # A CPU-bound method in the agent's own worker processes, on its node.
            assert await ref.call(Basic.manhattan, Point(3, -4)) == 7


async def test_brutal_kill_ends_the_child_and_its_host() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method="ray") as an:
            portal = await an.start_actor("doomed", enable_modules=FUNCS)
            remote_pid = await portal.run(_ray_funcs.pid)
            end = await an.stop_child(portal, shutdown="brutal_kill")
            assert end.reason == "stopped"
            assert end.returncode < 0
            # Killed with its host: reported once the process is gone.
            assert not alive(processes([remote_pid]))


async def test_no_running_ray_gives_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            with raises_one(agentree.SpawnError) as info:
                await an.start_actor("nowhere", start_method="ray")
    message = str(info.value)
    assert "ray.init()" in message
    assert "address='auto'" in message


async def test_a_placement_no_node_can_meet_fails_at_once() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method="ray") as an:
            with raises_one(agentree.SpawnError) as info:
                await an.start_actor(
                    "greedy", placement=agentree.RayPlacement(resources={"tpu_pod": 1})
                )
            assert "tpu_pod" in str(info.value)
            with pytest.raises(agentree.InvalidOption):
                await an.start_actor("bad", placement={"num_cpus": 1})  # type: ignore[arg-type]


async def test_the_example_runs_on_a_running_ray() -> None:
    """``examples/cluster/ray_tree.py``, pointed at this module's Ray by RAY_ADDRESS."""
    import sys

    from ._tcp_helpers import ROOT

    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    with trio.fail_after(TIMEOUT):
        done = await trio.run_process(
            [sys.executable, os.path.join(ROOT, "examples", "cluster", "ray_tree.py")],
            env=env,
            cwd=ROOT,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    out = done.stdout.decode()
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert "worker0: pid" in out
    assert "worker1: pid" in out
    assert "streamed: [0, 1, 4, 9, 16, 25]" in out
    assert "error crossed back: ZeroDivisionError" in out
    assert out.rstrip().endswith("the workers and their Ray hosts are gone")


async def test_a_ray_hosted_actor_gets_the_debugger_by_proxy() -> None:
    """debug_mode reaches Ray-hosted actors; they (and theirs) use the root's terminal.

    The REPLs themselves are driven in ``tests/debugger/test_ray_debugger.py``.
    """
    mods = ["tests.integration._ray_debug_funcs"]
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            # Asked for per actor, in a tree without the debugger.
            portal = await an.start_actor(
                "dbg", enable_modules=mods, start_method="ray", debug_mode=True
            )
            assert await portal.run(_ray_debug_funcs.debugging) == [True, True]
            await portal.cancel_actor()
        async with agentree.open_nursery(debug_mode=True) as an:
            # Inherited from the tree, and by the Ray-hosted actor's own children.
            portal = await an.start_actor("inherits", enable_modules=mods, start_method="ray")
            assert await portal.run(_ray_debug_funcs.debugging) == [True, True]
            assert await portal.run(_ray_debug_funcs.child_debugging) == [True, True]
            # A local child of the same tree keeps the terminal itself.
            local = await an.start_actor("local", enable_modules=mods)
            assert await local.run(_ray_debug_funcs.debugging) == [True, False]
