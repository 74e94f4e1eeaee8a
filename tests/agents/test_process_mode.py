"""mode="process": the pool of worker processes behind an agent method (real processes).

The WorkerPool tests run the pool inside a daemon actor (the agent's stand-in) with a
plain class; see ``_proc_funcs``.
"""

from __future__ import annotations

import itertools
import os
import signal
import tempfile
from typing import Any

import psutil
import pytest
import trio

import agentree

from ..integration import _checks
from . import _proc_funcs
from ._proc_agents import AioEmbedder, Embedder

MODULE = _proc_funcs.MODULE
PATH = _proc_funcs.PATH


async def _start_host(an: agentree.ActorNursery) -> agentree.Portal:
    return await an.start_actor("host", enable_modules=[MODULE])


async def _pid_of(portal: agentree.Portal) -> int:
    pid: int = await portal.run(_proc_funcs.host_pid)
    return pid


async def _run_in_host(fn: Any, **kwargs: Any) -> Any:
    async with agentree.open_nursery() as an:
        host = await _start_host(an)
        return await host.run(fn, **kwargs)


async def test_pool_results_errors_and_state() -> None:
    with trio.fail_after(30):
        out = await _run_in_host(_proc_funcs.results_and_errors)
    first = out["first"]
    assert first["sum"] == 13
    assert first["label"] == "L"
    assert first["pid"] != out["host_pid"]
    # The state arrives as its own type, set before each call; what a method does to
    # self stays in its worker.
    assert out["state1"]["type"] == "Counter"
    assert out["state2"]["state"] == {"hits": 2, "tags": ["b", "c"]}
    assert out["state2"]["pid"] == out["state1"]["pid"]
    # The method's error, named by the agent's path and method.
    fail = out["fail"]["error"]
    assert fail["type"] == "RemoteActorError"
    assert fail["boxed_type_str"] == "ValueError"
    assert fail["message"] == "boom"
    assert f"{PATH}.fail()" in fail["str"]
    # An unsendable result: a typed error naming the path and method.
    unsendable = out["unsendable"]["error"]
    assert unsendable["boxed_type_str"] == "agentree.MsgEncodeError"
    assert f"{PATH}.unsendable()" in unsendable["message"]
    assert "object" in unsendable["message"]
    # An unencodable argument never leaves the agent.
    bad_arg = out["bad_arg"]["error"]
    assert bad_arg["type"] == "MsgEncodeError"
    assert f"{PATH}.add()" in bad_arg["str"]
    assert "'#0'" in bad_arg["str"]
    # The workers serve on after errors.
    assert out["second"]["pid"] == first["pid"]
    assert out["fail_again"]["error"]["message"] == "again"
    assert out["async"] == 17
    # Closed: no worker left, and calls are refused.
    assert out["pids_after_close"] == []
    assert out["after_close"]["error"]["type"] == "AgentUnavailable"
    assert PATH in out["after_close"]["error"]["str"]
    assert not _checks.alive(_checks.processes(out["pids"]))


async def test_pool_workers_are_forked_by_the_forkserver() -> None:
    """With the forkserver, a worker's OS parent is the forkserver, like the agent's."""
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            host = await _start_host(an)
            host_ppid = psutil.Process(await _pid_of(host)).ppid()
            out = await host.run(_proc_funcs.results_and_errors)
    assert out["state1"]["ppid"] == host_ppid
    assert host_ppid != os.getpid()


async def test_pool_fifo_one_worker() -> None:
    with trio.fail_after(30):
        spans = await _run_in_host(_proc_funcs.fifo, workers=1, calls=5, seconds=0.02)
    starts = [span[0] for span in spans]
    assert starts == sorted(starts), spans
    assert len({span[2] for span in spans}) == 1
    for before, after in itertools.pairwise(spans):
        assert before[1] <= after[0]


async def test_pool_cap_beyond_workers() -> None:
    with trio.fail_after(30):
        spans = await _run_in_host(_proc_funcs.fifo, workers=2, calls=8, seconds=0.05)
    assert len({span[2] for span in spans}) == 2
    # Never more than two at once.
    events = sorted([(s[0], 1) for s in spans] + [(s[1], -1) for s in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2, spans
    # FIFO: call i+2 waits for a worker that call i or i+1 freed.
    for i in range(len(spans) - 2):
        assert spans[i][0] < spans[i + 2][0], spans


async def test_pool_runs_in_parallel_and_host_stays_responsive() -> None:
    with trio.fail_after(60):
        out = await _run_in_host(_proc_funcs.spin_pair, workers=2, calls=2, seconds=0.15)
    (a_start, a_end, a_pid), (b_start, b_end, b_pid) = out["spans"]
    assert a_pid != b_pid
    # Both computed at the same time (in two processes: the GIL is not shared).
    assert max(a_start, b_start) < min(a_end, b_end), out
    # The host's loop kept running; generous under a shared machine's load.
    assert out["max_lag"] < 0.1, out


async def test_pool_worker_killed_mid_call() -> None:
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        out = await _run_in_host(_proc_funcs.kill_mid_call, tmpdir=tmpdir)
    crash = out["crash"]["error"]
    assert crash["type"] == "AgentCrashed"
    assert crash["path"] == PATH
    assert crash["incarnation"] == 3
    assert crash["cause"]["pid"] == out["killed_pid"]
    assert crash["cause"]["signal_name"] == "SIGKILL"
    assert crash["cause"]["reason"] == "signaled"
    assert "work()" in crash["str"]
    assert PATH in crash["str"]
    pids = {out["killed_pid"], out["replacement"], out["second_replacement"]}
    assert len(pids) == 3, out
    assert not _checks.alive(_checks.processes(pids))


async def test_pool_worker_killed_with_calls_queued() -> None:
    """The queued calls get the dead worker's slot: a new worker serves them in turn."""
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        out = await _run_in_host(_proc_funcs.kill_with_queue, tmpdir=tmpdir)
    assert out["crash"]["error"]["type"] == "AgentCrashed"
    first, second = out["queued"]
    assert first == second
    assert first != out["killed_pid"]


async def test_pool_cancelled_caller_kills_and_replaces_worker() -> None:
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        async with agentree.open_nursery() as an:
            host = await _start_host(an)
            out = await host.run(_proc_funcs.cancel_mid_call, tmpdir=tmpdir)
            # Checked while the host lives: the pool killed the worker, not the teardown.
            assert not _checks.alive(_checks.processes([out["old_pid"]]))
    assert out["cancelled_caught"]
    assert out["new_pid"] != out["old_pid"]
    # The cancel reached the caller promptly though the method never checks for it.
    assert out["cancel_latency"] < 0.5, out


async def test_pool_call_cancelled_while_queued() -> None:
    with trio.fail_after(30):
        out = await _run_in_host(_proc_funcs.cancel_queued)
    assert out["queued_cancelled"]
    # The worker that was busy meanwhile finished its call and serves on.
    assert out["busy"][2] == out["first_pid"][2] == out["after"][2]
    assert out["waiters"] == 0


async def test_pool_workers_die_with_a_sigkilled_host() -> None:
    procs: list[psutil.Process] = []
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        async with agentree.open_nursery() as an:
            host = await _start_host(an)
            host_pid = await _pid_of(host)
            ctx = host.open_context(_proc_funcs.busy_pool, tmpdir=tmpdir, workers=2)
            with pytest.raises(agentree.TransportClosed):  # noqa: PT012
                async with ctx as (_ctx, pids):
                    procs = _checks.processes(pids)
                    os.kill(host_pid, signal.SIGKILL)
                    await trio.sleep_forever()
        assert len({proc.pid for proc in procs}) == 2
        await _checks.wait_gone(procs)


# -- through the Agent API ---------------------------------------------------------------


async def test_agent_process_method_results_state_and_errors() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Embedder, 3, name="embedder", label="L")
            assert await ref.call(Embedder.note, "first") == 1
            out = await ref.call(Embedder.embed, "abcd", times=2)
            assert out["vector"] == [12, 12]
            assert out["label"] == "L"
            # The agent's state, as its type, set before the call; the worker's change
            # to it does not come back.
            assert out["state"] == {"hits": 1, "notes": ["first"]}
            assert out["state_type"] == "Tally"
            assert out["identity"] == ["embedder", "embedder", 1]
            assert out["pid"] != ref.pid
            assert await ref.call(Embedder.note, "second") == 2
            again = await ref.call(Embedder.embed, "x")
            assert again["state"] == {"hits": 2, "notes": ["first", "second"]}
            with pytest.raises(agentree.RemoteActorError) as failed:
                await ref.call(Embedder.fail, "boom")
            assert failed.value.boxed_type is ValueError
            assert failed.value.message == "boom"
            assert "embedder.fail()" in str(failed.value)
            with pytest.raises(agentree.RemoteActorError) as unsendable:
                await ref.call(Embedder.unsendable)
            assert unsendable.value.boxed_type is agentree.MsgEncodeError
            assert "embedder.unsendable()" in unsendable.value.message
            # The agent and its workers serve on.
            assert await ref.call(Embedder.ping) == ref.pid
            assert (await ref.call(Embedder.embed, "x"))["pid"] in {out["pid"], again["pid"]}
            worker_procs = _checks.processes([out["pid"], again["pid"]])
        # The agent stopped: none of its workers is left.
        assert not _checks.alive(worker_procs)


async def test_agent_process_workers_are_forked_like_the_agent() -> None:
    """Forkserver: a worker's OS parent is the forkserver (the agent's parent too)."""
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Embedder, 1, name="embedder")
            out = await ref.call(Embedder.embed, "x")
            assert out["ppid"] == psutil.Process(ref.pid).ppid()
            assert out["ppid"] != os.getpid()


async def test_agent_process_method_in_an_asyncio_agent() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(AioEmbedder, name="aio")
            async with trio.open_nursery() as callers:
                results: list[list[int]] = []
                for text in ("a", "bb", "ccc"):
                    callers.start_soon(_append, results, ref, text)
            assert sorted(r[0] for r in results) == [1, 2, 3]
            assert ref.pid not in {r[1] for r in results}
            assert await ref.call(AioEmbedder.ping) == ref.pid


async def _append(results: list[list[int]], ref: Any, text: str) -> None:
    results.append(await ref.call(AioEmbedder.embed, text))


async def test_agent_process_fifo_beyond_workers() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Embedder, 1, name="embedder")
            spans: list[list[float]] = [[] for _ in range(6)]

            async def one(i: int) -> None:
                spans[i] = await ref.call(Embedder.span, 0.05)

            async with trio.open_nursery() as callers:
                for i in range(6):
                    callers.start_soon(one, i)
                    # Each call reaches the agent before the next one is made.
                    await ref.call(Embedder.ping)
    assert len({span[2] for span in spans}) == 2
    events = sorted([(s[0], 1) for s in spans] + [(s[1], -1) for s in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak == 2, spans
    for i in range(len(spans) - 2):
        assert spans[i][0] < spans[i + 2][0], spans


async def test_agent_process_parallel_and_responsive() -> None:
    """Two workers compute at once, and the agent answers async calls meanwhile."""
    with trio.fail_after(60):
        async with agentree.open_nursery() as an:
            ref = await an.start_agent(Embedder, 1, name="embedder")
            # Warm both workers.
            async with trio.open_nursery() as warm:
                warm.start_soon(ref.call, Embedder.spin2, 0.0)
                warm.start_soon(ref.call, Embedder.spin2, 0.0)
            spans: list[list[float]] = []
            pings: list[float] = []

            async def spin() -> None:
                spans.append(await ref.call(Embedder.spin2, 0.2))

            async with trio.open_nursery() as callers:
                callers.start_soon(spin)
                callers.start_soon(spin)
                while len(spans) < 2:
                    start = trio.current_time()
                    await ref.call(Embedder.ping)
                    pings.append(trio.current_time() - start)
    (a_start, a_end, a_pid), (b_start, b_end, b_pid) = spans
    assert a_pid != b_pid
    assert max(a_start, b_start) < min(a_end, b_end), spans
    assert len(pings) > 5
    # The bench holds the 5 ms figure; this box is shared, so the test is generous.
    assert sorted(pings)[len(pings) // 2] < 0.05, pings


async def test_agent_process_worker_killed_mid_call() -> None:
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        async with (
            agentree.open_nursery() as an,
            _proc_funcs._Announcements(tmpdir) as ann,
            trio.open_nursery() as helpers,
        ):
            ref = await an.start_agent(Embedder, 1, name="embedder")
            killed: list[int] = []

            async def kill_when_announced() -> None:
                killed.append(await ann.next_pid())
                os.kill(killed[0], signal.SIGKILL)

            helpers.start_soon(kill_when_announced)
            with pytest.raises(agentree.AgentCrashed) as crashed:
                await ref.call(Embedder.block, ann.address)
            assert crashed.value.path == "embedder"
            assert crashed.value.incarnation == 1
            assert "SIGKILL" in str(crashed.value)
            assert "block()" in str(crashed.value)
            # The agent lives on, and the next call gets a new worker.
            assert await ref.call(Embedder.ping) == ref.pid
            replacement = await ref.call(Embedder.block)
            assert replacement != killed[0]
            assert not _checks.alive(_checks.processes(killed))


async def test_agent_process_cancelled_caller_kills_and_replaces_worker() -> None:
    old: list[int] = []
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        async with (
            agentree.open_nursery() as an,
            _proc_funcs._Announcements(tmpdir) as ann,
            trio.open_nursery() as helpers,
        ):
            ref = await an.start_agent(Embedder, 1, name="embedder")
            with trio.CancelScope() as scope:

                async def cancel_when_announced() -> None:
                    old.append(await ann.next_pid())
                    scope.cancel()

                helpers.start_soon(cancel_when_announced)
                await ref.call(Embedder.block, ann.address)
            assert scope.cancelled_caught
            # The agent killed that worker (its method never looks at cancellation)...
            with trio.fail_after(5):
                await _checks.wait_gone(_checks.processes(old))
            # ... and a new one serves the next call.
            new_pid = await ref.call(Embedder.block)
            assert new_pid != old[0]
            assert psutil.Process(new_pid).ppid() == psutil.Process(ref.pid).ppid()


@pytest.mark.parametrize("start_method", ["forkserver", "subprocess"])
async def test_agent_process_workers_die_with_a_sigkilled_agent(start_method: str) -> None:
    """Workers are the forkserver's children, or the agent's: they die with it either way."""
    errors: list[BaseException] = []
    with trio.fail_after(30), tempfile.TemporaryDirectory(prefix="proc-") as tmpdir:
        async with (
            agentree.open_nursery(start_method=start_method) as an,
            _proc_funcs._Announcements(tmpdir) as ann,
        ):
            ref = await an.start_agent(Embedder, 1, name="embedder")

            async def blocked() -> None:
                try:
                    await ref.call(Embedder.block, ann.address)
                except agentree.AgentCrashed as exc:
                    errors.append(exc)

            async with trio.open_nursery() as callers:
                callers.start_soon(blocked)
                callers.start_soon(blocked)
                procs = _checks.processes([await ann.next_pid(), await ann.next_pid()])
                assert len(procs) == 2
                agent = psutil.Process(ref.pid)
                expected_parent = agent.pid if start_method == "subprocess" else agent.ppid()
                assert {proc.ppid() for proc in procs} == {expected_parent}
                os.kill(ref.pid, signal.SIGKILL)
            # Both calls failed with the agent's crash, and its workers died with it.
            assert len(errors) == 2
            await _checks.wait_gone(procs)
