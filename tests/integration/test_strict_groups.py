"""Strict exception groups: nurseries, the root and supervisors raise a flat group.

One failure and several failures give the same catchable shape (``except*``), as
trio's strict nurseries do; ``collapse_eg()`` gives back a lone error bare.
"""

from __future__ import annotations

import pytest
import trio

import agentree
from agentree.trionics import collapse_eg

from ..supervise._agents import Echo
from . import _funcs

TIMEOUT = 30


async def _failing_children(count: int) -> None:
    """``count`` children fail at the same moment (all released together)."""
    async with agentree.open_nursery() as an:
        portals = [
            await an.run_in_actor(
                _funcs.raise_when_released, name=f"failing{i}", message=f"failure {i}"
            )
            for i in range(count)
        ]
        # Shielded: the first failure cancels this block, and must not stop the
        # other releases on their way.
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as tn:
                for portal in portals:
                    tn.start_soon(portal.run, _funcs.release)
        await trio.sleep_forever()


async def _caught(count: int) -> list[agentree.RemoteActorError]:
    """Run the failing tree and catch its errors the way user code would."""
    caught: list[agentree.RemoteActorError] = []
    kinds: list[type] = []
    try:
        await _failing_children(count)
    except* agentree.RemoteActorError as group:
        kinds.append(type(group))
        for err in group.exceptions:
            assert isinstance(err, agentree.RemoteActorError)
            caught.append(err)
    assert kinds == [ExceptionGroup]
    return caught


@pytest.mark.parametrize("count", [1, 2])
async def test_one_or_two_failures_are_caught_the_same_way(count: int) -> None:
    with trio.fail_after(TIMEOUT):
        caught = await _caught(count)
    assert sorted(err.message for err in caught) == [f"failure {i}" for i in range(count)]
    assert all(err.boxed_type is ValueError for err in caught)


async def test_lone_failure_is_a_flat_group_without_cancelled() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        await _failing_children(1)
    group = info.value
    # Flat: the one error directly inside, no group of agentree's inner nurseries
    # and no trio.Cancelled riding along.
    assert len(group.exceptions) == 1
    assert type(group.exceptions[0]) is agentree.RemoteActorError


async def test_two_failures_are_one_flat_group() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        await _failing_children(2)
    kinds = [type(err) for err in info.value.exceptions]
    assert kinds == [agentree.RemoteActorError] * 2


async def test_an_error_of_the_block_is_grouped_too() -> None:
    async def body() -> None:
        async with agentree.open_nursery() as an:
            await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            raise KeyError("mine")

    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        await body()
    (err,) = info.value.exceptions
    assert type(err) is KeyError


async def test_nested_actor_nursery_in_the_root_gives_one_level() -> None:
    """open_root_actor() around open_nursery(): still one flat group, not two."""
    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        async with agentree.open_root_actor(), agentree.open_nursery() as an:
            await an.run_in_actor(_funcs.raise_value_error, name="raiser", message="x")
    (err,) = info.value.exceptions
    assert type(err) is agentree.RemoteActorError


def test_trio_run_sees_a_group() -> None:
    async def main() -> None:
        async with agentree.open_nursery() as an:
            await an.run_in_actor(_funcs.raise_value_error, name="raiser", message="y")

    with pytest.raises(ExceptionGroup) as info:
        trio.run(main)
    (err,) = info.value.exceptions
    assert type(err) is agentree.RemoteActorError
    assert err.message == "y"


async def test_collapse_eg_gives_the_lone_error_bare() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.RemoteActorError) as info:
        async with collapse_eg(), agentree.open_nursery() as an:
            await an.run_in_actor(_funcs.raise_value_error, name="raiser", message="z")
    assert info.value.message == "z"


async def test_collapse_eg_keeps_several_errors_grouped() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        async with collapse_eg():
            await _failing_children(2)
    assert len(info.value.exceptions) == 2


async def test_cancel_from_outside_is_not_a_group() -> None:
    with trio.fail_after(TIMEOUT):
        with trio.CancelScope() as scope:
            async with agentree.open_nursery() as an:
                await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
                scope.cancel()
                await trio.sleep_forever()
    assert scope.cancelled_caught


async def test_cancel_called_after_a_child_error() -> None:
    """The block has ended; a child's error then makes the nursery cancel the rest."""
    nurseries: list[agentree.ActorNursery] = []

    async def body() -> None:
        async with agentree.open_nursery() as an:
            nurseries.append(an)
            await an.run_in_actor(_funcs.sleep_forever, name="bystander")
            portal = await an.run_in_actor(_funcs.raise_when_released, message="go")
            await portal.run(_funcs.release)
            assert not an.cancel_called

    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup):
        await body()
    assert nurseries[0].cancel_called


async def test_supervisor_block_error_is_grouped() -> None:
    async def body() -> None:
        async with agentree.open_supervisor("app") as sup:
            await sup.start_agent(Echo, name="echo")
            raise KeyError("in the supervisor's block")

    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        await body()
    (err,) = info.value.exceptions
    assert type(err) is KeyError


async def test_supervisor_opened_inside_a_root_gives_one_level() -> None:
    with trio.fail_after(TIMEOUT), pytest.raises(ExceptionGroup) as info:
        async with agentree.open_root_actor(), agentree.open_supervisor("app"):
            raise KeyError("deep")
    (err,) = info.value.exceptions
    assert type(err) is KeyError


async def test_a_bad_root_option_stays_bare() -> None:
    """An error that kept the root from opening is the call's own, not a failure."""
    with pytest.raises(agentree.InvalidOption):
        async with agentree.open_root_actor(loglevel="chatty"):
            raise AssertionError("the root must not open")
