"""Issue 13, bugs 1, 5 and 6: children that outlive trio's idle worker threads, SIGTERM
to the root (and to a child), and spawn options refused before anything is spawned."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

import agentree
from agentree._spawn._forkcopy import FORKSERVER_NAME

from . import _checks, _spawn_funcs

START_METHODS = ["forkserver", "subprocess"]
REPO_ROOT = Path(__file__).resolve().parents[2]
SIGTERM_TREE = Path(__file__).parent / "scripts" / "sigterm_tree.py"
AIO_TREE = Path(__file__).parent / "scripts" / "aio_tree.py"
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
                p
                for p in psutil.Process().children()
                if p.name() == FORKSERVER_NAME or "_forkserver" in " ".join(p.cmdline())
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


# -- bug 5: SIGTERM to the root ------------------------------------------------------


async def _start_sigterm_tree(
    tmp_path: Path, start_method: str, *, ignore_sigterm: bool = False, stubborn: bool = False
) -> tuple[trio.Process, dict[str, Any], Path]:
    """Start ``scripts/sigterm_tree.py``; wait until it reports every actor's pid."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "tree.stderr"
    markers = tmp_path / "markers"
    markers.mkdir()
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN) if ignore_sigterm else None
    try:
        with stderr_path.open("wb") as stderr:
            proc = await trio.lowlevel.open_process(
                [
                    sys.executable,
                    str(SIGTERM_TREE),
                    start_method,
                    str(markers),
                    *(["stubborn"] if stubborn else []),
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=str(tmp_path),
                start_new_session=True,
            )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    assert proc.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        chunk = await proc.stdout.receive_some(4096)
        if not chunk:
            await proc.wait()
            pytest.fail(
                f"sigterm_tree.py exited with {proc.returncode}:\n{stderr_path.read_text()}"
            )
        line += chunk
    return proc, json.loads(line), markers


async def _reap_tree(proc: trio.Process, tree: list[psutil.Process]) -> None:
    for leftover in _checks.alive(tree):
        leftover.kill()
    if proc.returncode is None:
        proc.kill()
    with trio.CancelScope(shield=True):
        await proc.wait()
        if proc.stdout is not None:
            await proc.stdout.aclose()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_sigterm_to_the_root_stops_the_tree_gracefully(
    tmp_path: Path, start_method: str
) -> None:
    tmp_before = _checks.agentree_tmp_entries()
    with trio.fail_after(30):
        proc, report, markers = await _start_sigterm_tree(tmp_path, start_method)
        tree: list[psutil.Process] = []
        try:
            tree = [*psutil.Process(proc.pid).children(recursive=True)]
            tree += [p for p in _checks.processes(report["actors"]) if p not in tree]
            assert len(report["actors"]) == 3
            os.kill(proc.pid, signal.SIGTERM)
            assert await proc.wait() == 143
            # Each child (and the grandchild) was cancelled: its ``finally`` ran.
            written = sorted(p.name for p in markers.iterdir())
            assert written == ["child0", "child0-gc", "child1"]
            assert all(p.read_text() == "cancelled" for p in markers.iterdir())
            with trio.move_on_after(2.0):
                await _checks.wait_gone(tree)
            assert not _checks.alive(tree), "a descendant outlived the root"
            assert _checks.agentree_tmp_entries() == tmp_before
            assert "Traceback" not in (tmp_path / "tree.stderr").read_text()
        finally:
            await _reap_tree(proc, tree)


async def test_sigterm_to_an_infected_asyncio_root(tmp_path: Path) -> None:
    """A root running as a guest on asyncio handles SIGTERM the same way."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with trio.fail_after(30):
        proc = await trio.lowlevel.open_process(
            [sys.executable, str(AIO_TREE)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(tmp_path),
            start_new_session=True,
        )
        tree: list[psutil.Process] = []
        try:
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some(4096)
                assert chunk, "aio_tree.py exited before reporting"
                line += chunk
            tree = psutil.Process(proc.pid).children(recursive=True)
            assert len(tree) == 4  # forkserver and three children
            os.kill(proc.pid, signal.SIGTERM)
            assert await proc.wait() == 143
            with trio.move_on_after(2.0):
                await _checks.wait_gone(tree)
            assert not _checks.alive(tree), "a descendant outlived the root"
        finally:
            await _reap_tree(proc, tree)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_second_sigterm_kills_the_root_at_once(tmp_path: Path, start_method: str) -> None:
    """During a slow teardown a second SIGTERM is final; nothing outlives the root."""
    tmp_before = _checks.agentree_tmp_entries()
    with trio.fail_after(30):
        proc, report, markers = await _start_sigterm_tree(tmp_path, start_method, stubborn=True)
        tree: list[psutil.Process] = []
        try:
            tree = [*psutil.Process(proc.pid).children(recursive=True)]
            tree += [p for p in _checks.processes(report["actors"]) if p not in tree]
            os.kill(proc.pid, signal.SIGTERM)
            # The graceful stop is under way once the other children were cancelled;
            # the stubborn one holds it (cancel_timeout is 30 s).
            written = len(os.listdir(markers))
            while written < 3:
                await trio.sleep(0.02)
                written = len(os.listdir(markers))
            with trio.move_on_after(0.5):
                await proc.wait()
            assert proc.returncode is None
            os.kill(proc.pid, signal.SIGTERM)
            with trio.move_on_after(5.0):
                await proc.wait()
            assert proc.returncode == -signal.SIGTERM
            with trio.move_on_after(5.0):
                await _checks.wait_gone(tree)
            assert not _checks.alive(tree), "a descendant outlived the root"
            with trio.move_on_after(5.0):
                await _checks.wait_removed(_checks.agentree_tmp_entries() - tmp_before)
            assert _checks.agentree_tmp_entries() == tmp_before
        finally:
            await _reap_tree(proc, tree)


async def test_sigterm_handler_restored_when_the_root_closes() -> None:
    calls: list[int] = []

    def previous(signum: int, frame: object) -> None:
        calls.append(signum)

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with trio.fail_after(10):
            async with agentree.open_nursery():
                assert signal.getsignal(signal.SIGTERM) is not previous
            assert signal.getsignal(signal.SIGTERM) is previous
            assert not calls
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            async with agentree.open_nursery():
                assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGTERM, old)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_sigterm_with_a_python_handler_tears_down_then_calls_it(
    start_method: str,
) -> None:
    """Embedded: the tree is stopped, then the program's own handler decides."""
    calls: list[int] = []
    seen_by_handler: list[bool] = []
    pids: list[int] = []

    def previous(signum: int, frame: object) -> None:
        calls.append(signum)
        seen_by_handler.append(bool(_checks.alive(_checks.processes(pids))))

    old = signal.signal(signal.SIGTERM, previous)
    try:
        with trio.fail_after(20):
            async with agentree.open_nursery(start_method=start_method) as an:
                portal = await an.start_actor("daemon", enable_modules=[_spawn_funcs.MODULE])
                pids.append(await portal.run(_spawn_funcs.getpid))
                os.kill(os.getpid(), signal.SIGTERM)
                await trio.sleep_forever()
            assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, old)
    assert calls == [signal.SIGTERM]
    assert seen_by_handler == [False], "the handler ran before the tree was down"


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_root_in_another_thread_leaves_sigterm_alone(start_method: str) -> None:
    """Only the main thread may take signals; a root elsewhere still runs its tree."""

    async def root() -> tuple[int, object]:
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("daemon", enable_modules=[_spawn_funcs.MODULE])
            pid = await portal.run(_spawn_funcs.getpid)
            handler = signal.getsignal(signal.SIGTERM)
            await portal.cancel_actor()
        return pid, handler

    before = signal.getsignal(signal.SIGTERM)
    with trio.fail_after(20):
        pid, handler = await trio.to_thread.run_sync(trio.run, root)
    assert pid != os.getpid()
    assert handler == before == signal.getsignal(signal.SIGTERM)


async def _tree_stopped_by_sigterm() -> None:
    async with agentree.open_nursery() as an:
        await an.start_actor("daemon", enable_modules=[_spawn_funcs.MODULE])
        os.kill(os.getpid(), signal.SIGTERM)
        await trio.sleep_forever()


async def test_sigterm_in_process_raises_system_exit_143() -> None:
    old = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with trio.fail_after(20), pytest.raises(SystemExit) as info:
            await _tree_stopped_by_sigterm()
        assert info.value.code == 143
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGTERM, old)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_children_die_of_sigterm_even_if_the_root_ignores_it(
    tmp_path: Path, start_method: str
) -> None:
    """A root started with SIGTERM ignored: its children still die of SIGTERM."""
    with trio.fail_after(30):
        proc, report, _markers = await _start_sigterm_tree(
            tmp_path, start_method, ignore_sigterm=True
        )
        tree = _checks.processes(report["actors"])
        try:
            os.kill(proc.pid, signal.SIGTERM)
            with trio.move_on_after(1.0):
                await proc.wait()
            assert proc.returncode is None, "the root did not keep ignoring SIGTERM"
            # child0 has a nursery of its own: it is no root, and SIGTERM kills it.
            child, grandchild = tree[0], tree[1]
            child.send_signal(signal.SIGTERM)
            with trio.move_on_after(5.0):
                await _checks.wait_gone([child])
            assert not _checks.alive([child]), "a child ignored SIGTERM"
            with trio.move_on_after(5.0):
                await _checks.wait_gone([grandchild])
            assert not _checks.alive([grandchild]), "the grandchild outlived its parent"
            # The root reports that run_in_actor child's death as its failure.
            assert await proc.wait() == 1
        finally:
            await _reap_tree(proc, tree)
