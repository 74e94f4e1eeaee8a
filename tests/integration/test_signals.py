"""Signals and sudden deaths: of the root (SIGKILL, SIGINT, signals to its group), of a child."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

import agentree

from . import _checks, _funcs

REPO_ROOT = Path(__file__).resolve().parents[2]
TREE_SCRIPT = Path(__file__).parent / "scripts" / "tree.py"


async def _read_line(stream: trio.abc.ReceiveStream) -> bytes:
    """Read from ``stream`` up to and including the first newline."""
    data = b""
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(4096)
        if not chunk:
            break
        data += chunk
    return data


def _default_sigint() -> None:
    """Before its exec: the root takes SIGINT even if this test run ignores it (in background)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


async def _start_tree(
    tmp_path: Path, start_method: str = "forkserver"
) -> tuple[trio.Process, dict[str, Any], Path]:
    """Start ``scripts/tree.py`` and wait until it reports every actor's pid.

    Args:
        tmp_path: where the script's stderr is written.
        start_method: the tree's start method.

    Returns:
        The root's process, the script's report (``root`` and ``actors`` pids) and
        the file that holds its stderr.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "tree.stderr"
    with stderr_path.open("wb") as stderr:
        proc = await trio.lowlevel.open_process(
            [sys.executable, str(TREE_SCRIPT), start_method],
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
            cwd=str(tmp_path),
            start_new_session=True,
            preexec_fn=_default_sigint,
        )
    assert proc.stdout is not None
    line = await _read_line(proc.stdout)
    if not line:
        await proc.wait()
        pytest.fail(f"tree.py exited with {proc.returncode}:\n{stderr_path.read_text()}")
    return proc, json.loads(line), stderr_path


def _whole_tree(root_pid: int, actor_pids: list[int]) -> list[psutil.Process]:
    """Every process under the root (forkserver included) and every reported actor."""
    procs = {proc.pid: proc for proc in psutil.Process(root_pid).children(recursive=True)}
    for proc in _checks.processes(actor_pids):
        procs.setdefault(proc.pid, proc)
    return list(procs.values())


async def _cleanup(
    proc: trio.Process, tree: list[psutil.Process], tree_tmp: Iterable[str] = ()
) -> None:
    """Remove whatever a failed test left of the tree, so later tests start clean."""
    for leftover in _checks.alive(tree):
        leftover.kill()
    for path in _checks.existing(tree_tmp):
        shutil.rmtree(path, ignore_errors=True)
    if proc.returncode is None:
        proc.kill()
    with trio.CancelScope(shield=True):
        await proc.wait()
        if proc.stdout is not None:
            await proc.stdout.aclose()


@pytest.mark.parametrize("start_method", ["forkserver", "subprocess"])
async def test_sigkill_of_the_root_takes_the_tree_down(tmp_path: Path, start_method: str) -> None:
    tmp_before = _checks.agentree_tmp_entries()
    with trio.fail_after(20):
        proc, report, _stderr = await _start_tree(tmp_path, start_method)
        tree: list[psutil.Process] = []
        tree_tmp: set[str] = set()
        try:
            tree = _whole_tree(report["root"], report["actors"])
            assert len(report["actors"]) == 6
            # 6 actors, and the forkserver (or else the tree dir's janitor).
            assert len(tree) == 7
            # The tree's private dir holds the actors' sockets.
            tree_tmp = _checks.agentree_tmp_entries() - tmp_before
            assert len(tree_tmp) == 1
            os.kill(report["root"], signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            with trio.move_on_after(2.0):
                await _checks.wait_gone(tree)
            left = _checks.alive(tree)
            assert not left, f"still running 2 s after the root died: {left}"
            with trio.move_on_after(2.0):
                await _checks.wait_removed(tree_tmp)
            assert not _checks.existing(tree_tmp), "the forkserver left the tree's temp dir"
            assert not (_checks.agentree_tmp_entries() - tmp_before), "a temp dir was left"
        finally:
            await _cleanup(proc, tree, tree_tmp)


async def test_sigint_to_the_root_tears_the_tree_down(tmp_path: Path) -> None:
    with trio.fail_after(20):
        proc, report, stderr = await _start_tree(tmp_path)
        tree: list[psutil.Process] = []
        try:
            tree = _whole_tree(report["root"], report["actors"])
            assert len(tree) == 7
            os.kill(report["root"], signal.SIGINT)
            with trio.move_on_after(5):
                await proc.wait()
            assert proc.returncode is not None, "the root did not exit 5 s after SIGINT"
            assert proc.returncode != 0
            assert "KeyboardInterrupt" in stderr.read_text()
            with trio.move_on_after(2.0):
                await _checks.wait_gone(tree)
            left = _checks.alive(tree)
            assert not left, f"still running after the root exited: {left}"
        finally:
            await _cleanup(proc, tree)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
async def test_signal_to_the_whole_process_group(tmp_path: Path, sig: signal.Signals) -> None:
    """``kill -TERM -PGID`` or a terminal hangup: every process of the tree gets it.

    Nothing may be left: no process, and no temp dir (the root dies without its
    cleanup, so the forkserver has to do it, as it does when the root is SIGKILLed).
    """
    tmp_before = _checks.agentree_tmp_entries()
    with trio.fail_after(20):
        proc, report, _stderr = await _start_tree(tmp_path)
        tree: list[psutil.Process] = []
        tree_tmp: set[str] = set()
        try:
            tree = _whole_tree(report["root"], report["actors"])
            assert len(tree) == 7
            tree_tmp = _checks.agentree_tmp_entries() - tmp_before
            assert len(tree_tmp) == 1
            os.killpg(report["root"], sig)
            with trio.move_on_after(5):
                await proc.wait()
            assert proc.returncode is not None, f"the root did not exit 5 s after {sig.name}"
            with trio.move_on_after(2.0):
                await _checks.wait_gone(tree)
            left = _checks.alive(tree)
            assert not left, f"still running 2 s after the root exited: {left}"
            with trio.move_on_after(2.0):
                await _checks.wait_removed(tree_tmp)
            assert not _checks.existing(tree_tmp), f"the tree's temp dir outlived {sig.name}"
        finally:
            await _cleanup(proc, tree, tree_tmp)


async def test_sigkill_of_a_child_mid_call() -> None:
    with trio.fail_after(15):
        async with agentree.open_nursery() as an:
            victim = await an.start_actor("victim", enable_modules=[_funcs.MODULE])
            survivor = await an.start_actor("survivor", enable_modules=[_funcs.MODULE])
            victim_pid = await victim.run(_funcs.getpid)

            async def kill_when_blocked() -> None:
                assert await victim.run(_funcs.wait_blocked) == victim_pid
                os.kill(victim_pid, signal.SIGKILL)

            start = trio.current_time()
            async with trio.open_nursery() as tn:
                tn.start_soon(kill_when_blocked)
                with pytest.raises((agentree.TransportClosed, agentree.RemoteActorError)) as info:
                    await victim.run(_funcs.block_until_cancelled)
            assert trio.current_time() - start < 5
            assert "victim" in str(info.value)
            assert await survivor.run(_funcs.add, x=20, y=22) == 42
            assert await survivor.run(_funcs.getpid) != victim_pid
    assert not _checks.alive(_checks.processes([victim_pid]))
