"""Run every script in ``examples/`` as a user would and check what it prints.

Each example runs as ``python <script>`` from the repository root, in a fresh
process, with a bounded timeout. Besides its exit code and key output lines, every
run is checked for leftovers. The autouse leak fixture only sees this process's
descendants, and an orphaned grandchild is re-parented to init once the example
exits, so every run carries a unique environment marker that its whole process
tree inherits; a process still carrying it after the example has exited is a leak.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
TIMEOUT = 60.0
MARKER = "AGENTREE_EXAMPLE_RUN"
# Processes that are exiting get this long to be reaped before they count as leaks.
REAP_GRACE = 2.0


def _marked(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _survivors(token: str) -> list[str]:
    """Describe (and kill) processes of this run still alive after the grace period."""
    deadline = time.monotonic() + REAP_GRACE
    while (left := _marked(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = []
    for proc in left:
        try:
            described.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    return described


def run_example(relpath: str) -> str:
    """Run ``examples/<relpath>`` to completion and return its stdout.

    Fails the test on a timeout, a non-zero exit, anything on stderr, or a process
    from the run's tree that outlives it.
    """
    script = EXAMPLES / relpath
    token = uuid.uuid4().hex
    env = {**os.environ, MARKER: token}
    # Files, not pipes: a leaked process holding a pipe open would keep us reading
    # until the timeout, instead of being reported as soon as the example exits.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        try:
            proc = subprocess.run(
                [sys.executable, str(script)],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=err,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            _survivors(token)
            out.seek(0)
            pytest.fail(f"{relpath} did not finish in {TIMEOUT}s; stdout so far:\n{out.read()}")
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    report = f"{relpath} exited {proc.returncode}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    assert proc.returncode == 0, report
    assert stderr == "", report
    leaked = _survivors(token)
    assert not leaked, f"{relpath} left processes behind:\n" + "\n".join(leaked)
    return stdout


def test_single_func() -> None:
    out = run_example("parallelism/single_func.py")
    match = re.fullmatch(r"Collected subproc (\d+)\n", out)
    assert match, out
    assert int(match.group(1)) != os.getpid()


def test_we_are_processes() -> None:
    out = run_example("parallelism/we_are_processes.py")
    workers = os.cpu_count() or 1
    hellos = re.findall(r"Yo, i'm 'worker_(\d+)' running in pid (\d+)", out)
    assert sorted(int(i) for i, _pid in hellos) == list(range(workers)), out
    assert len({pid for _i, pid in hellos}) == workers, out
    lines = out.splitlines()
    # Every worker announced itself before the root blew the tree up.
    boom = lines.index(f"All {workers} workers reported in; this tree will now self-destruct")
    assert all(line.startswith("Yo, i'm") for line in lines[:boom]), out
    assert "Caught Exception('Self Destructed') outside the nursery" in lines, out
    assert lines[-1] == f"Zombies Contained: all {workers} workers reaped", out


def test_nested_tree() -> None:
    out = run_example("nested_tree.py")
    assert "grandchild: 'grandchild' in pid" in out, out
    assert "root caught RemoteActorError boxing a NameError" in out, out
    assert re.search(r"raised in actor: +grandchild\n", out), out
    assert re.search(r"relay path: +grandchild -> child -> root\n", out), out
    assert "name 'undefined_name' is not defined" in out, out


def test_rpc_daemon() -> None:
    out = run_example("rpc_daemon.py")
    assert re.search(r"^daemon up: kvstore \(pid \d+\)$", out, re.MULTILINE), out
    assert "put pears=5 -> 2 key(s) stored" in out, out
    assert "get apples -> 3" in out, out
    assert "5 concurrent calls: [1, 4, 9, 16, 25]" in out, out
    assert "remote error caught: KeyError('bananas') from actor 'kvstore'" in out, out
    assert "get pears -> 5" in out, out
    assert "cancel_actor() -> True" in out, out
    assert out.endswith("daemon stopped, nursery closed\n"), out


def test_demo() -> None:
    start = time.monotonic()
    out = run_example("demo.py")
    took = time.monotonic() - start
    steps = [line for line in out.splitlines() if line.startswith("[")]
    assert [line[:5] for line in steps] == [f"[{i}/8]" for i in range(1, 9)], out
    assert "summed the squares below 100000 -> 333328333350000" in steps[0], out
    assert "greet('ada') -> 'hello ada, from greeter'" in out, out
    assert "3 greets at once: all answered in" in out, out
    assert steps[2] == "[3/8] remote error: ZeroDivisionError in actor 'greeter'", out
    assert "remote traceback ends with: ZeroDivisionError: division by zero" in out, out
    assert "the daemon still answers: divide(1, 4) -> 0.25" in out, out
    assert steps[3] == "[4/8] context: the daemon's task says 'ready to shout, x2'", out
    assert "'hey' -> 'HEY HEY'" in out, out
    assert "'ho' -> 'HO HO'" in out, out
    assert "the task answered 2 words and returned" in out, out
    assert steps[4] == "[5/8] infected asyncio: asyncio napped 0.05s in 'aio'", out
    assert steps[5].startswith("[6/8] supervision: agent 'demo/flaky' answered from incarnation 1")
    assert "then crashed (actor 'demo/flaky' (pid " in out, out
    assert "and came back: the next call answered from incarnation 2" in out, out
    assert steps[6] == "[7/8] feedback: the agent asked 'delete /tmp/agentree-demo?' and waited;"
    assert "the supervisor's policy answered at once -> 'deleted /tmp/agentree-demo'" in out
    assert steps[7] == "[8/8] teardown: daemon cancelled, nursery closed, 0 processes left", out
    # "A few seconds", with room for a loaded CI machine.
    assert took < 15, f"demo took {took:.1f}s"


def test_streams_ping_pong() -> None:
    out = run_example("streams/ping_pong.py")
    lines = out.splitlines()
    assert lines[0] == "started: ready from ponger", out
    assert lines[1:11] == [f"ping {i} -> pong {i}" for i in range(10)], out
    assert lines[11:] == ["child counted 10 pings", "context closed cleanly"], out


def test_streams_fan_out() -> None:
    out = run_example("streams/fan_out.py")
    assert out.splitlines() == [
        "service: ticking",
        "consumer-last: 200 ticks, last 199.5",
        "consumer-max: 200 ticks, max 199.5",
        "consumer-mean: 200 ticks, mean 149.75",
        "service and consumers stopped",
    ], out


def test_streams_one_way() -> None:
    out = run_example("streams/one_way.py")
    assert out.splitlines() == [
        "fibonacci below 100: [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89]",
        "sum of 0..1000 from an endless generator: 500500",
        "generators stopped, nursery closed",
    ], out


def test_streams_typed_dialog() -> None:
    out = run_example("streams/typed_dialog.py")
    lines = out.splitlines()
    assert lines[:4] == [
        "started with Converted(celsius=0.0, fahrenheit=32.0)",
        "-40 C -> -40 F",
        "37 C -> 98.6 F",
        "100 C -> 212 F",
    ], out
    assert lines[4].startswith("the converter refused it: agentree.MsgTypeError: "), out
    assert lines[4].endswith("Expected `float`, got `str` - at `$.celsius`"), out
    assert lines[5:] == ["typed dialog done"], out


def test_infected_asyncio_echo() -> None:
    out = run_example("infected_asyncio/echo.py")
    lines = out.splitlines()
    assert lines[0] == "1000 round trips root -> infected actor -> asyncio task -> root", out
    match = re.fullmatch(r"mean round trip rate \(Hz\): (\d+)", lines[1])
    assert match, out
    assert int(match.group(1)) > 0, out
    assert lines[2:] == ["cancel_actor() -> True"], out


def test_infected_asyncio_aiohttp_fetch() -> None:
    out = run_example("infected_asyncio/aiohttp_fetch.py")
    assert out.splitlines() == [
        "root infected: True; aiohttp server on 127.0.0.1",
        "fetcher is fetching 8 pages with aiohttp",
        "fetcher returned 8",
        "streamed back in arrival order: 8 pages, all 200",
        "every page arrived once: True",
        "every page was served by the root process",
        "server stopped, fetcher reaped",
    ], out


def test_agents_research_team() -> None:
    out = run_example("agents/research_team.py")
    lines = out.splitlines()
    assert lines[0] == "team: fetcher, reader, embedder, planner in 5 processes", out
    names = [line.split(":", 1)[0] for line in lines[1:5]]
    assert names == ["actors", "supervisors", "refs", "modes"], out
    assert lines[1].startswith("actors: 'Actors An actor is a process with a mailbox.' -> ["), out
    assert lines[4].startswith("modes: 'Modes Async, thread & process methods.' -> ["), out
    assert lines[-1] == "team stopped", out
