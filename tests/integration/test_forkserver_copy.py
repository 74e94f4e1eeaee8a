"""The forkserver as a copy of the root (issue 14), and the fresh one it falls back to.

Each test runs ``scripts/forkcopy_root.py`` as a whole program, which is single-
threaded (its forkserver is a copy of it) unless told to keep another thread running
(a fresh forkserver): under pytest, whether a thread of trio's cache is still alive
would decide the path.
"""

from __future__ import annotations

import contextlib
import importlib.util
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

from agentree._spawn._forkcopy import ENV_SWITCH, FORKSERVER_NAME

from . import _checks

HAVE_SETPROCTITLE = importlib.util.find_spec("setproctitle") is not None

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "scripts" / "forkcopy_root.py"
# mode -> (script mode, environment switch, whether the forkserver is a copy)
MODES = {
    "copy": ("single", None, True),
    "thread": ("thread", None, False),
    "switch": ("single", "fresh", False),
}


async def _start(mode: str, action: str) -> trio.Process:
    script_mode, switch, _ = MODES[mode]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop(ENV_SWITCH, None)
    if switch is not None:
        env[ENV_SWITCH] = switch
    return await trio.lowlevel.open_process(
        [sys.executable, str(SCRIPT), script_mode, action],
        stdout=subprocess.PIPE,
        env=env,
        cwd=str(REPO_ROOT),
        start_new_session=True,
    )


async def _read_report(proc: trio.Process) -> tuple[str, dict[str, Any]]:
    """Read the script's output up to its JSON line: (what came before it, the report)."""
    assert proc.stdout is not None
    data = b""
    while not data.endswith(b"\n"):
        chunk = await proc.stdout.receive_some(65536)
        if not chunk:
            break
        data += chunk
    head, brace, rest = data.decode().partition("{")
    assert brace, f"no report: {data!r}"
    return head, json.loads(brace + rest)


def _check_tree(mode: str, report: dict[str, Any]) -> None:
    copy = MODES[mode][2]
    server = report["server_proc"]
    # Either forkserver is titled agentree[forkserver]: its short name always, its
    # command line where setproctitle is installed (else the root's, for the copy).
    assert server["name"] == FORKSERVER_NAME
    if HAVE_SETPROCTITLE:
        assert server["cmdline"].startswith("agentree[forkserver] root=")
    elif copy:
        assert "_forkserver" not in server["cmdline"]
    else:
        assert "_forkserver" in server["cmdline"]
    for proc, seen in zip(report["actor_procs"], report["actors"], strict=True):
        # Forked by the forkserver, named like the root (not like the forkserver).
        assert seen["ppid"] == report["server"]
        assert proc["name"] != FORKSERVER_NAME
        # Nothing of the root's reaches an actor: not its file, not its socket.
        assert report["secret"] not in seen["fds"]
        assert report["listener"] not in seen["fds"]
        # The root's Python signal handler and trio run are not the actor's.
        assert seen["usr1"] == str(signal.SIG_DFL)
        assert seen["in_trio"] is True
        # The root's logging.basicConfig() is not the actor's.
        assert seen["log_handlers"] == 0
        assert seen["echoed"] == "x"
    assert [seen["actor"] for seen in report["actors"]] == ["a0", "a1"]


@pytest.mark.parametrize("mode", list(MODES))
async def test_actors_of_either_forkserver(mode: str) -> None:
    with trio.fail_after(30):
        proc = await _start(mode, "report")
        try:
            head, report = await _read_report(proc)
            assert proc.stdout is not None
            tail = b"".join([chunk async for chunk in proc.stdout])
            assert await proc.wait() == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    _check_tree(mode, report)
    # What the root printed before the fork is printed once, by the root only.
    assert head == "early"
    assert b"early" not in tail
    assert not _checks.existing([report["tmpdir"]])


@pytest.mark.parametrize("mode", list(MODES))
async def test_sigkill_of_the_root_takes_either_forkserver_down(mode: str) -> None:
    with trio.fail_after(30):
        proc = await _start(mode, "hold")
        tree: list[psutil.Process] = []
        report: dict[str, Any] = {}
        try:
            _, report = await _read_report(proc)
            _check_tree(mode, report)
            tree = _checks.processes([report["server"], *(a["pid"] for a in report["actors"])])
            assert len(_checks.alive(tree)) == 3
            os.kill(report["root"], signal.SIGKILL)
            assert await proc.wait() == -signal.SIGKILL
            with trio.move_on_after(5.0):
                await _checks.wait_gone(tree)
            assert not _checks.alive(tree), "the tree outlived its root"
            with trio.move_on_after(5.0):
                await _checks.wait_removed([report["tmpdir"]])
            assert not _checks.existing([report["tmpdir"]]), "the tree's directory was left"
        finally:
            for leftover in _checks.alive(tree):
                leftover.kill()
            # The killed root could not remove its temporary file.
            with contextlib.suppress(KeyError, OSError):
                os.unlink(report["secret"])
            if proc.returncode is None:
                proc.kill()
            with trio.CancelScope(shield=True):
                await proc.wait()
                if proc.stdout is not None:
                    await proc.stdout.aclose()


async def test_a_root_that_ignores_sigchld_still_gets_exit_codes(tmp_path: Path) -> None:
    """SIGCHLD ignored by the root (inherited by a copy, and across exec) would have
    the kernel reap the actors before the forkserver could read their exit codes."""
    script = tmp_path / "ignore_sigchld.py"
    script.write_text(
        "import signal, trio, agentree\n"
        "from tests.integration import _exit_funcs as funcs\n"
        "async def main():\n"
        "    async with agentree.open_nursery(report_exits=True) as an:\n"
        "        portal = await an.run_in_actor(funcs.die, how='exit7')\n"
        "        print((await portal.wait_for_exit()).returncode, flush=True)\n"
        "signal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
        "trio.run(main)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    with trio.fail_after(30):
        done = await trio.run_process(
            [sys.executable, str(script)], capture_stdout=True, env=env, cwd=str(REPO_ROOT)
        )
    assert done.stdout.split() == [b"7"]
