"""Policies without processes: backoff arithmetic and bad input refused at the call site."""

from __future__ import annotations

import pytest
import trio

import agentree


def test_backoff_doubles_up_to_max_within_jitter() -> None:
    backoff = agentree.Backoff(min=0.1, max=1.0, jitter=0.2)
    for attempt, base in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (50, 1.0)]:
        for _ in range(50):
            assert base * 0.8 <= backoff.delay(attempt) <= base * 1.2
    assert agentree.Backoff(min=0, max=0).delay(3) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"min": -1}, {"min": 2, "max": 1}, {"jitter": 1.5}, {"reset_after": float("inf")}],
)
def test_bad_backoff_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="Backoff"):
        agentree.Backoff(**kwargs)


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match=r"Limits\.rss"):
        agentree.Limits(rss=0)
    with pytest.raises(ValueError, match="check_every"):
        agentree.Limits(check_every=0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"strategy": "one_for_some"}, "strategy"),
        ({"intensity": -1}, "intensity"),
        ({"period": 0}, "period"),
        ({"backoff": 0.5}, "backoff"),
        ({"auto_shutdown": "sometimes"}, "auto_shutdown"),
    ],
)
async def test_bad_supervisor_policy_is_refused_before_anything_starts(
    kwargs: dict[str, object], match: str
) -> None:
    with trio.fail_after(10), pytest.raises((ValueError, TypeError), match=match):
        async with agentree.open_supervisor("app", **kwargs):  # type: ignore[arg-type]
            pass


async def test_bad_child_options_are_refused_at_the_call_site() -> None:
    from ._agents import Echo

    with trio.fail_after(30):
        async with agentree.open_supervisor("app") as sup:
            with pytest.raises(ValueError, match="restart"):
                await sup.start_agent(Echo, name="a", restart="sometimes")  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="shutdown"):
                await sup.start_agent(Echo, name="a", shutdown=-1)
            with pytest.raises(ValueError, match="watchdog"):
                await sup.start_agent(Echo, name="a", watchdog=0)
            with pytest.raises(TypeError, match="Limits"):
                await sup.start_agent(Echo, name="a", limits={"rss": 1})  # type: ignore[arg-type]
            with pytest.raises(ValueError, match="name"):
                await sup.start_agent(Echo, name="a/b")
            with pytest.raises(ValueError, match="size"):
                await sup.start_pool(Echo, name="p", size=0)
            with pytest.raises(KeyError, match="nobody"):
                await sup.terminate_child("nobody")
            assert sup.which_children() == ()
