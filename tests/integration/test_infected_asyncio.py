"""Infected-asyncio actors: asyncio hosts, trio is the guest, the tree stays whole.

Every test that spawns infected actors also reads what the children wrote to stderr
(they inherit the test's file descriptor 2): asyncio's "Task was destroyed but it is
pending", "coroutine ... was never awaited" and any traceback would show there.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import trio

import agentree
from agentree import to_asyncio
from agentree.testing import raises_one

from . import _aio_funcs, _aiohttp_funcs, _checks, _funcs

START_METHODS = ["forkserver", "subprocess"]
TIMEOUT = 30
STDERR_MARKERS = (
    "Task was destroyed",
    "never awaited",
    "never retrieved",
    "Exception ignored",
    "Traceback",
)


def assert_clean_stderr(capfd: pytest.CaptureFixture[str]) -> None:
    """Fail if this test's processes wrote any asyncio complaint or traceback."""
    err = capfd.readouterr().err
    found = [marker for marker in STDERR_MARKERS if marker in err]
    assert not found, f"stderr of the tree has {found}:\n{err}"


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_start_actor_infected(start_method: str, capfd: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method=start_method) as an:
            infected = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            plain = await an.start_actor("plain", enable_modules=[_aio_funcs.MODULE])
            assert await infected.run(_aio_funcs.whoami) == {
                "name": "aio",
                "infected": True,
                "loop": "_UnixSelectorEventLoop",
            }
            assert await plain.run(_aio_funcs.whoami) == {
                "name": "plain",
                "infected": False,
                "loop": None,
            }
            assert await infected.run(_aio_funcs.add_in_asyncio, x=40, y=2) == 42
            # Many calls at once, each with its own asyncio task.
            results: list[int] = []
            async with trio.open_nursery() as tn:
                for i in range(20):

                    async def call(i: int = i) -> None:
                        results.append(await infected.run(_aio_funcs.add_in_asyncio, x=i, y=i))

                    tn.start_soon(call)
            assert sorted(results) == [2 * i for i in range(20)]
            assert await infected.cancel_actor()
    assert_clean_stderr(capfd)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_run_in_actor_infected(start_method: str, capfd: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method=start_method) as an:
            adder = await an.run_in_actor(_aio_funcs.add_in_asyncio, infect_asyncio=True, x=1, y=2)
            who = await an.run_in_actor(_aio_funcs.whoami, infect_asyncio=True)
            assert await adder.wait_for_result() == 3
            assert (await who.wait_for_result())["infected"] is True
    assert_clean_stderr(capfd)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_asyncio_error_is_boxed(
    start_method: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with trio.fail_after(TIMEOUT):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery(start_method=start_method) as an:
                await an.run_in_actor(
                    _aio_funcs.raise_in_asyncio, infect_asyncio=True, message="aio bad 7"
                )
    err = info.value
    assert err.boxed_type is ValueError
    assert err.message == "aio bad 7"
    # The remote traceback runs through the asyncio function that raised.
    assert "aio_raise" in err.tb_str
    assert "raise_in_asyncio" in err.tb_str
    assert_clean_stderr(capfd)


async def test_asyncio_side_cancel_is_boxed(capfd: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_aio_funcs.cancelled_in_asyncio)
            assert info.value.boxed_type is agentree.AsyncioCancelled
            assert "aio_cancel_self" in info.value.message
            # The actor lives on.
            assert await portal.run(_aio_funcs.add_in_asyncio, x=2, y=2) == 4
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


async def test_no_first_value_is_boxed(capfd: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_aio_funcs.channel_without_first)
            assert info.value.boxed_type is agentree.AsyncioTaskExited
            assert "aio_no_first() returned 'nothing'" in info.value.message
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


async def test_bridge_in_plain_actor_is_a_typed_error() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("plain", enable_modules=[_aio_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_aio_funcs.run_task_anyway)
            assert info.value.boxed_type is agentree.NotInfectedAsyncio
            assert "actor 'plain'" in info.value.message
            await portal.cancel_actor()


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_parent_cancel_cancels_and_awaits_asyncio_task(
    start_method: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            async with trio.open_nursery() as tn:
                tn.start_soon(portal.run, _aio_funcs.sleep_in_asyncio)
                await portal.run(_aio_funcs.wait_aio_started)
                tn.cancel_scope.cancel()
            report = await portal.run(_aio_funcs.wait_aio_cleanup)
            assert report == {
                "log": ["asyncio task cancelled", "asyncio cleanup done"],
                "pending": [],
            }
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


async def test_context_cancel_cancels_channel_task(capfd: pytest.CaptureFixture[str]) -> None:
    """Cancelling a context whose task holds an asyncio channel ends the asyncio task."""
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            async with portal.open_context(_aio_funcs.hold_aio_channel) as (ctx, first):
                assert first == "up"
                await portal.run(_aio_funcs.wait_aio_started)
                await ctx.cancel()
            report = await portal.run(_aio_funcs.wait_aio_cleanup)
            assert report == {
                "log": ["asyncio task cancelled", "asyncio cleanup done"],
                "pending": [],
            }
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_echo_through_context(start_method: str, capfd: pytest.CaptureFixture[str]) -> None:
    """tractor's README example: root -> infected actor -> asyncio task and back."""
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor(
                "aio_server", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            async with portal.open_context(_aio_funcs.trio_to_aio_echo_server) as (ctx, first):
                assert first == "start"
                async with ctx.open_stream() as stream:
                    for i in range(200):
                        await stream.send(i)
                        assert await stream.receive() == i
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


async def _echo_until_failure(portal: agentree.Portal, got: list[int]) -> None:
    async with (
        portal.open_context(_aio_funcs.failing_aio_stream, count=3) as (ctx, _first),
        ctx.open_stream() as stream,
    ):
        for i in range(10):
            await stream.send(i)
            try:
                got.append(await stream.receive())
            except trio.EndOfChannel:
                # The child's stream ended as its task failed; the error itself
                # ends the context.
                break


async def test_asyncio_error_mid_stream(capfd: pytest.CaptureFixture[str]) -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor(
                "aio", enable_modules=[_aio_funcs.MODULE], infect_asyncio=True
            )
            got: list[int] = []
            with pytest.raises(agentree.RemoteActorError) as info:
                await _echo_until_failure(portal, got)
            assert info.value.boxed_type is ValueError
            assert info.value.message == "asyncio gave up after 3"
            assert got == [0, 1, 2]
            await portal.cancel_actor()
    assert_clean_stderr(capfd)


# -- an infected root ---------------------------------------------------------------------


async def test_infected_root_needs_an_asyncio_host() -> None:
    with pytest.raises(agentree.NotInfectedAsyncio, match="run_as_asyncio_guest"):
        async with agentree.open_root_actor(infect_asyncio=True, start_method="subprocess"):
            pytest.fail("a plain trio run cannot be an infected root")
    with pytest.raises(agentree.NotInfectedAsyncio):
        async with agentree.open_nursery(infect_asyncio=True, start_method="subprocess"):
            pytest.fail("a plain trio run cannot be an infected root")


async def _infected_root_main(start_method: str) -> dict[str, Any]:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(infect_asyncio=True, start_method=start_method) as an:
            root = agentree.current_actor()
            report: dict[str, Any] = {"root infected": root.is_infected_aio()}
            report["root asyncio"] = await to_asyncio.run_task(_aio_funcs.aio_add, x=1, y=1)
            plain = await an.run_in_actor(_funcs.add, x=2, y=3)
            infected = await an.run_in_actor(
                _aio_funcs.add_in_asyncio, infect_asyncio=True, x=3, y=4
            )
            report["plain child"] = await plain.wait_for_result()
            report["infected child"] = await infected.wait_for_result()
    return report


@pytest.mark.parametrize("start_method", START_METHODS)
def test_infected_root(start_method: str, capfd: pytest.CaptureFixture[str]) -> None:
    report = agentree.run_as_asyncio_guest(_infected_root_main, start_method)
    assert report == {
        "root infected": True,
        "root asyncio": 2,
        "plain child": 5,
        "infected child": 7,
    }
    assert_clean_stderr(capfd)


async def _root_error_main() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            assert agentree.current_actor().is_infected_aio()
            await an.run_in_actor(_aio_funcs.raise_in_asyncio, infect_asyncio=True, message="x")


def test_infected_root_gets_child_errors(capfd: pytest.CaptureFixture[str]) -> None:
    with raises_one(agentree.RemoteActorError) as info:
        agentree.run_as_asyncio_guest(_root_error_main)
    assert info.value.boxed_type is ValueError
    assert_clean_stderr(capfd)


AIO_TREE = Path(__file__).parent / "scripts" / "aio_tree.py"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _default_sigint() -> None:
    """Run in the new process before its exec: it takes Ctrl-C as a terminal's program does.

    A signal ignored by this test process would be ignored by the root too (its
    interpreter then installs no ``KeyboardInterrupt`` handler, nor does asyncio),
    and a background job of a non-interactive shell ignores SIGINT.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def _sigint_ignored(ignored: bool) -> Iterator[None]:
    """Ignore SIGINT in this process within the block (as a background job does)."""
    if not ignored:
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    "test_ignores_sigint", [False, True], ids=["sigint-default-here", "sigint-ignored-here"]
)
async def test_sigint_to_infected_root(tmp_path: Path, test_ignores_sigint: bool) -> None:
    """Ctrl-C in an asyncio-hosted root tears down its tree, infected children too.

    Also when the test run itself ignores SIGINT (started as a background job): the
    root is started the way a terminal starts a program, SIGINT at its default.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    stderr_path = tmp_path / "aio_tree.stderr"
    with trio.fail_after(TIMEOUT):
        with stderr_path.open("wb") as stderr, _sigint_ignored(test_ignores_sigint):
            proc = await trio.lowlevel.open_process(
                [sys.executable, str(AIO_TREE)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
                cwd=str(tmp_path),
                start_new_session=True,
                preexec_fn=_default_sigint,
            )
        tree: list[Any] = []
        try:
            assert proc.stdout is not None
            line = b""
            while not line.endswith(b"\n"):
                chunk = await proc.stdout.receive_some(4096)
                if not chunk:
                    pytest.fail(f"aio_tree.py ended early:\n{stderr_path.read_text()}")
                line += chunk
            report = json.loads(line)
            tree = _checks.processes([report["root"], *report["actors"]])
            assert len(tree) == 4
            os.kill(report["root"], signal.SIGINT)
            await proc.wait()
            assert proc.returncode != 0
            err = stderr_path.read_text()
            assert "KeyboardInterrupt" in err, err
            assert not [m for m in STDERR_MARKERS[:-1] if m in err], err
            await _checks.wait_gone(tree)
        finally:
            for leftover in _checks.alive(tree):
                # It may end between the two calls: that must not hide the test's error.
                with contextlib.suppress(psutil.NoSuchProcess):
                    leftover.kill()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


# -- aiohttp ------------------------------------------------------------------------------


def test_aiohttp_client_streams_through_context(capfd: pytest.CaptureFixture[str]) -> None:
    """An aiohttp client in an infected child fetches from an aiohttp server in the root.

    The root is itself infected, so the server runs natively on its asyncio loop;
    the child's fetches stream back through a context.
    """
    paths = [f"/item/{i}" for i in range(12)]
    got = agentree.run_as_asyncio_guest(_aiohttp_funcs.fetch_all_through_child, paths)
    assert got == [{"path": p, "status": 200, "body": f"hello from {p}"} for p in paths]
    assert_clean_stderr(capfd)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_aiohttp_between_infected_actors_under_trio_root(
    start_method: str, capfd: pytest.CaptureFixture[str]
) -> None:
    """A plain trio root: the aiohttp server runs in one infected actor, the client in
    another, and the client's results stream back to the root through a context."""
    paths = [f"/item/{i}" for i in range(6)]
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method=start_method) as an:
            assert not agentree.current_actor().is_infected_aio()
            server = await an.start_actor(
                "server", enable_modules=[_aiohttp_funcs.MODULE], infect_asyncio=True
            )
            fetcher = await an.start_actor(
                "fetcher", enable_modules=[_aiohttp_funcs.MODULE], infect_asyncio=True
            )
            async with server.open_context(_aiohttp_funcs.serve_http) as (ctx, address):
                host, port = address
                assert host == "127.0.0.1"
                got = await _aiohttp_funcs.collect(fetcher, f"http://{host}:{port}", paths)
                await ctx.cancel()
            await an.cancel()
    assert got == [{"path": p, "status": 200, "body": f"hello from {p}"} for p in paths]
    assert_clean_stderr(capfd)
