"""Errors in children: boxing, one-cancels-all, several failures, nesting, cancellation."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
import trio

import agentree
from agentree.testing import raises_one

from . import _checks, _funcs

START_METHODS = ["forkserver", "subprocess"]

# Seconds a failing or cancelled tree gets to be torn down. Children that sleep
# answer the graceful cancel request at once, so this is far below the
# cancel -> SIGTERM -> SIGKILL escalation (1 s + 1 s by default).
PROMPT = 1.5


def _raise_line() -> str:
    """The source line in ``_funcs.raise_value_error`` that raises."""
    lines = inspect.getsource(_funcs.raise_value_error).splitlines()
    return next(line.strip() for line in lines if line.strip().startswith("raise "))


def _check_boxed_value_error(
    err: agentree.RemoteActorError, message: str, uid: tuple[str, str]
) -> None:
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type is ValueError
    assert err.boxed_type_str == "ValueError"
    assert err.message == message
    assert message in str(err)
    assert "raise_value_error" in err.tb_str
    assert _raise_line() in err.tb_str
    assert "ValueError" in err.tb_str
    assert err.src_uid == uid
    assert err.relay_path == [uid]


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_run_in_actor_error_is_boxed(start_method: str) -> None:
    with trio.fail_after(20):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery(start_method=start_method) as an:
                portal = await an.run_in_actor(
                    _funcs.raise_value_error, name="raiser", message="bad value 17"
                )
    uid = portal.actor_uid
    assert uid[0] == "raiser"
    _check_boxed_value_error(info.value, "bad value 17", uid)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_rpc_error_is_boxed_and_daemon_keeps_serving(start_method: str) -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery(start_method=start_method) as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_funcs.raise_value_error, message="rpc went wrong")
            _check_boxed_value_error(info.value, "rpc went wrong", portal.actor_uid)
            assert await portal.run(_funcs.add, x=1, y=2) == 3


async def test_custom_exception_type_is_boxed() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_funcs.raise_custom_error, message="mine")
    err = info.value
    assert err.boxed_type is _funcs.CustomError
    assert err.boxed_type_str == f"{_funcs.MODULE}.CustomError"
    assert err.message == "mine"
    assert "raise_custom_error" in err.tb_str


async def test_wait_for_result_raises_the_childs_error() -> None:
    async def body() -> None:
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(_funcs.raise_value_error, message="boom")
            with pytest.raises(agentree.RemoteActorError) as inner:
                await portal.wait_for_result()
            assert inner.value.boxed_type is ValueError

    with trio.fail_after(10), raises_one(agentree.RemoteActorError) as outer:
        await body()
    assert outer.value.boxed_type is ValueError


async def test_one_error_cancels_all_siblings() -> None:
    """One of 8 children fails: the 7 others, sleeping forever, are torn down."""
    seen: dict[str, Any] = {}

    async def body() -> None:
        async with agentree.open_nursery() as an:
            portals = [
                await an.run_in_actor(_funcs.sleep_forever, name=f"sleeper{i}") for i in range(7)
            ]
            raiser = await an.run_in_actor(
                _funcs.raise_when_released, name="raiser", message="one bad apple"
            )
            portals.append(raiser)
            seen["raiser"] = raiser.actor_uid
            seen["procs"] = _checks.processes([await p.run(_funcs.getpid) for p in portals])
            assert len(seen["procs"]) == 8
            seen["start"] = trio.current_time()
            await raiser.run(_funcs.release)
            await trio.sleep_forever()

    with trio.fail_after(20), raises_one(agentree.RemoteActorError) as info:
        await body()
    elapsed = trio.current_time() - seen["start"]
    err = info.value
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type is ValueError
    assert err.message == "one bad apple"
    assert err.src_uid == seen["raiser"]
    assert elapsed < PROMPT, f"teardown took {elapsed:.2f} s"
    assert not _checks.alive(seen["procs"])


async def test_several_errors_come_out_as_a_group() -> None:
    """Two children fail at the same moment: both errors are raised, as a group."""
    uids = []

    async def body() -> None:
        async with agentree.open_nursery() as an:
            first = await an.run_in_actor(
                _funcs.raise_when_released, name="first", message="first failed"
            )
            second = await an.run_in_actor(
                _funcs.raise_when_released, name="second", message="second failed"
            )
            uids.extend([first.actor_uid, second.actor_uid])
            # Both are up and waiting. The releases are shielded: the first failure
            # cancels this block, and must not stop the second release on its way
            # (the second child would then be cancelled instead of failing).
            with trio.CancelScope(shield=True):
                async with trio.open_nursery() as tn:
                    tn.start_soon(first.run, _funcs.release)
                    tn.start_soon(second.run, _funcs.release)
            await trio.sleep_forever()

    with trio.fail_after(20), pytest.raises(BaseExceptionGroup) as info:
        await body()
    errors = info.value.exceptions
    assert all(type(err) is agentree.RemoteActorError for err in errors), errors
    assert sorted(err.message for err in errors) == ["first failed", "second failed"]
    assert {err.src_uid for err in errors} == set(uids)
    assert all(err.boxed_type is ValueError for err in errors)


@pytest.mark.parametrize("start_method", START_METHODS)
async def test_nested_error_three_levels_deep(start_method: str) -> None:
    """root -> level2 -> level1 -> level0 raises: the error names its whole path.

    Each level's function collapses its nursery's group (``collapse_eg``), so the
    lone error is relayed up as it is.
    """
    with trio.fail_after(20):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery(start_method=start_method) as an:
                portal = await an.run_in_actor(
                    _funcs.nest_and_raise, name="level2", depth=2, message="too deep"
                )
    err = info.value
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type is NameError
    assert err.boxed_type_str == "NameError"
    assert err.message == "too deep"
    assert "nest_and_raise" in err.tb_str
    assert err.src_uid[0] == "level0"
    assert [uid[0] for uid in err.relay_path] == ["level0", "level1", "level2"]
    assert err.relay_path[0] == err.src_uid
    assert err.relay_path[-1] == portal.actor_uid
    assert len({uid[1] for uid in err.relay_path}) == 3


async def test_nested_error_without_collapse_is_a_boxed_group() -> None:
    """A sub-actor's nursery raises a group: its parent gets that group boxed."""
    with trio.fail_after(20):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery() as an:
                portal = await an.run_in_actor(
                    _funcs.nest_and_raise_grouped, name="middle", message="grouped"
                )
    err = info.value
    assert err.boxed_type is ExceptionGroup
    assert err.src_uid == portal.actor_uid
    assert "NameError" in err.tb_str
    assert "grouped" in err.tb_str


async def test_cancel_from_outside_tears_the_tree_down() -> None:
    with trio.fail_after(20):
        with trio.CancelScope() as scope:
            async with agentree.open_nursery() as an:
                portals = [
                    await an.start_actor(f"daemon{i}", enable_modules=[_funcs.MODULE])
                    for i in range(2)
                ]
                portals += [
                    await an.run_in_actor(_funcs.sleep_forever, name=f"sleeper{i}")
                    for i in range(2)
                ]
                portals.append(await an.run_in_actor(_funcs.hold_subtree, name="holder"))
                pids = [await p.run(_funcs.getpid) for p in portals]
                pids += await portals[-1].run(_funcs.subtree_pids)
                procs = _checks.processes(set(pids))
                assert len(procs) == 6
                start = trio.current_time()
                scope.cancel()
                await trio.sleep_forever()
        elapsed = trio.current_time() - start
    assert scope.cancelled_caught
    assert elapsed < PROMPT, f"teardown took {elapsed:.2f} s"
    assert not _checks.alive(procs)


async def test_move_on_after_around_nursery() -> None:
    with trio.fail_after(20):
        with trio.move_on_after(0.5) as scope:
            async with agentree.open_nursery() as an:
                for i in range(3):
                    await an.run_in_actor(_funcs.sleep_forever, name=f"sleeper{i}")
                await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
        assert scope.cancelled_caught
        # The teardown after the deadline is prompt.
        assert trio.current_time() - scope.deadline < PROMPT
    assert not _checks.descendants()


async def test_an_cancel_stops_every_child_and_the_block_goes_on() -> None:
    with trio.fail_after(20):
        async with agentree.open_nursery() as an:
            portals = [
                await an.run_in_actor(_funcs.sleep_forever, name=f"sleeper{i}") for i in range(2)
            ]
            daemon = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            portals.append(daemon)
            procs = _checks.processes([await p.run(_funcs.getpid) for p in portals])
            start = trio.current_time()
            await an.cancel()
            assert trio.current_time() - start < PROMPT
            # Every child is reaped by the time cancel() returns.
            assert not _checks.alive(procs)
            assert an.children == {}
            with pytest.raises(agentree.ContextCancelled):
                await portals[0].wait_for_result()
    assert not _checks.alive(procs)


async def _unwinder_and_failure() -> None:
    async with agentree.open_nursery() as an:
        await an.run_in_actor(
            _funcs.raise_when_cancelled, name="unwinder", message="failed unwinding"
        )
        await an.run_in_actor(_funcs.raise_value_error, name="first", message="boom")


async def test_error_raised_while_cancelled_joins_the_group() -> None:
    """A sibling that fails while being cancelled is a failure too, not lost."""
    with trio.fail_after(20), pytest.raises(BaseExceptionGroup) as info:
        await _unwinder_and_failure()
    messages = sorted(err.message for err in info.value.exceptions)
    assert messages == ["boom", "failed unwinding"]
    assert all(isinstance(err, agentree.RemoteActorError) for err in info.value.exceptions)


async def _await_failing_result() -> None:
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(_funcs.raise_value_error, name="failing", message="once")
        await portal.wait_for_result()


async def test_awaiting_a_failing_result_in_the_block_gives_the_error_once() -> None:
    """The block and the child's supervisor see the same error: it comes out once."""
    with (
        trio.fail_after(20),
        pytest.RaisesGroup(agentree.RemoteActorError, flatten_subgroups=False) as info,
    ):
        await _await_failing_result()
    (err,) = info.value.exceptions
    assert isinstance(err, agentree.RemoteActorError)
    assert err.message == "once"
    assert err.boxed_type is ValueError
