"""Issue 13, bugs 1, 5 and 6: children that outlive trio's idle worker threads, SIGTERM
to the root (and to a child), and spawn options refused before anything is spawned."""

from __future__ import annotations

import os
import signal

import psutil
import pytest
import trio

import agentree

from . import _checks, _spawn_funcs

START_METHODS = ["forkserver", "subprocess"]
IDLE_TIMEOUT = 0.3  # seconds, instead of trio's 10, in the test process


@pytest.fixture
def short_idle_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Restore trio's idle timeout after the test (the test shortens it)."""
    from trio._core import _thread_cache

    monkeypatch.setattr(_thread_cache, "IDLE_TIMEOUT", _thread_cache.IDLE_TIMEOUT)


# -- bug 1: a child dies with the thread that forked it ------------------------------


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_daemon_outlives_the_idle_worker_threads(
    start_method: str, short_idle_timeout: None
) -> None:
    """A child's death signal follows its parent process, not a trio worker thread."""
    with trio.fail_after(30):
        await _spawn_funcs.shorten_idle_timeout(IDLE_TIMEOUT)
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("daemon", enable_modules=[_spawn_funcs.MODULE])
            pid = await portal.run(_spawn_funcs.getpid)
            await _spawn_funcs.wait_worker_threads_gone()
            assert _checks.alive(_checks.processes([pid])), "the child died with a thread"
            assert await portal.run(_spawn_funcs.getpid) == pid
            await portal.cancel_actor()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_long_run_in_actor_delivers_its_result(
    start_method: str, short_idle_timeout: None
) -> None:
    with trio.fail_after(30):
        await _spawn_funcs.shorten_idle_timeout(IDLE_TIMEOUT)
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.run_in_actor(_spawn_funcs.wait_released)
            await _spawn_funcs.wait_worker_threads_gone()
            await portal.run(_spawn_funcs.release)
            pid = await portal.wait_for_result()
    assert pid != os.getpid()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_grandchild_outlives_its_parents_worker_threads(
    start_method: str, short_idle_timeout: None
) -> None:
    """Nested actors: a child's own children live as long as that child."""
    with trio.fail_after(40):
        await _spawn_funcs.shorten_idle_timeout(IDLE_TIMEOUT)
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.run_in_actor(
                _spawn_funcs.grandchild_outlives_idle_threads, idle_timeout=IDLE_TIMEOUT
            )
            await _spawn_funcs.wait_worker_threads_gone()
            before, after = await portal.wait_for_result()
    assert before == after


async def test_forkserver_survives_the_idle_worker_threads(short_idle_timeout: None) -> None:
    """The forkserver is started from a worker thread too; it must not die with it."""
    with trio.fail_after(30):
        await _spawn_funcs.shorten_idle_timeout(IDLE_TIMEOUT)
        async with agentree.open_nursery(start_method="forkserver") as an:
            forkserver = [
                p for p in psutil.Process().children() if "_forkserver" in " ".join(p.cmdline())
            ]
            assert len(forkserver) == 1
            await _spawn_funcs.wait_worker_threads_gone()
            assert _checks.alive(forkserver)
            portal = await an.start_actor("late", enable_modules=[_spawn_funcs.MODULE])
            assert await portal.run(_spawn_funcs.getpid) != os.getpid()
            await portal.cancel_actor()


# -- bug 5: a SIGTERM sent to a child from outside -----------------------------------


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_sigterm_to_a_child_kills_it(start_method: str) -> None:
    """A child keeps SIGTERM's default action: it dies, with -15, and the nursery goes on."""
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("victim", enable_modules=[_spawn_funcs.MODULE])
            pid = await portal.run(_spawn_funcs.getpid)
            (child,) = (c for c in an._children.values() if c.proc.pid == pid)
            os.kill(pid, signal.SIGTERM)
            assert await child.proc.wait() == -signal.SIGTERM


# -- bug 6: options a child cannot use ------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("loglevel", "verbose"),
        ("loglevel", 10),
        ("enable_modules", "tests.integration._funcs"),
        ("enable_modules", ["not a module"]),
        ("infect_asyncio", "yes"),
        ("debug_mode", 1),
        ("name", ""),
    ],
)
async def test_start_actor_refuses_bad_options_before_spawning(option: str, value: object) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            before = {p.pid for p in psutil.Process().children(recursive=True)}
            kwargs: dict[str, object] = {"name": "worker", option: value}
            with pytest.raises(agentree.InvalidOption, match=option) as info:
                await an.start_actor(**kwargs)  # type: ignore[arg-type]
            assert isinstance(info.value, ValueError)
            assert "start_actor" in str(info.value)
            after = {p.pid for p in psutil.Process().children(recursive=True)}
            assert after <= before, "a process was started for a refused option"
            assert not an.children


async def test_run_in_actor_refuses_bad_options_before_spawning() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            with pytest.raises(agentree.InvalidOption, match="enable_modules"):
                await an.run_in_actor(_spawn_funcs.getpid, enable_modules="x")
            with pytest.raises(agentree.InvalidOption, match="name"):
                await an.run_in_actor(_spawn_funcs.getpid, name=3)
            assert not an.children


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("loglevel", "loud"),
        ("start_method", "spawn"),
        ("cancel_timeout", -1),
        ("terminate_timeout", float("nan")),
        ("terminate_timeout", "1"),
        ("max_frame_size", 100),
        ("debug_mode", "no"),
        ("enable_modules", "mod"),
    ],
)
async def test_root_options_refused_before_anything_starts(option: str, value: object) -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    tmp_before = _checks.agentree_tmp_entries()
    with pytest.raises(agentree.InvalidOption, match=option):
        async with agentree.open_nursery(**{option: value}):
            pytest.fail("the block ran")
    with pytest.raises(agentree.InvalidOption, match="open_root_actor"):
        async with agentree.open_root_actor(**{option: value}):  # type: ignore[arg-type]
            pytest.fail("the block ran")
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
    assert _checks.agentree_tmp_entries() == tmp_before


async def test_open_nursery_in_an_actor_checks_its_options() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery():
            with pytest.raises(agentree.InvalidOption, match="loglevel"):
                async with agentree.open_nursery(loglevel="loud"):
                    pytest.fail("the block ran")
            with pytest.raises(TypeError, match="start_methd"):
                async with agentree.open_nursery(start_methd="subprocess"):
                    pytest.fail("the block ran")


@pytest.mark.parametrize("start_method", START_METHODS)
@pytest.mark.parametrize("level", ["cancel", "runtime", "transport", "devx", "pdb", "DEBUG"])
async def test_tractor_level_names_are_accepted(start_method: str, level: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor(
                "logged", enable_modules=[_spawn_funcs.MODULE], loglevel=level
            )
            assert await portal.run(_spawn_funcs.getpid) != os.getpid()
            await portal.cancel_actor()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_child_start_error_reaches_the_parent(start_method: str) -> None:
    """An option that slips past the checks: the child's own error is the cause."""
    from agentree._spawn import spawn_actor

    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method):
            actor = agentree.current_actor()
            with pytest.raises(agentree.SpawnError, match="failed to start") as info:
                await spawn_actor(
                    actor, "bad-level", uuid="0" * 32, enable_modules=[], loglevel="verbose"
                )
            cause = info.value.__cause__
            assert isinstance(cause, agentree.RemoteActorError)
            assert cause.boxed_type_str.endswith("InvalidOption")
            assert "verbose" in cause.message
            assert "configure" in cause.tb_str  # the child's traceback


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_child_runtime_start_error_reaches_the_parent(start_method: str) -> None:
    """A failure while the child's runtime starts (after its imports) is its cause."""
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            with pytest.raises(agentree.SpawnError, match="failed to start") as info:
                await an.start_actor(
                    "broken", enable_modules=["tests.integration._bad_start_hook"]
                )
            cause = info.value.__cause__
            assert isinstance(cause, agentree.RemoteActorError)
            assert cause.boxed_type_str.endswith("BrokenStartError")
            assert "_broken_hook" in cause.tb_str
            assert not an.children
