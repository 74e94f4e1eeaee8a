"""``start_agent(..., on_start_failure="restart")``: a failed first start is a crash.

The default stays OTP's ``start_child`` (the error leaves ``start_agent`` and the
child is not added: ``test_supervise_basics``); issue 9's reading, where such an
``on_start`` counts as a crash, is an explicit option.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import trio

import agentree
from agentree.supervise import ChildCrashed, ChildStarted

from ._agents import StartFails
from .test_supervise_basics import FAST, next_of

TIMEOUT = 60
SLOW = agentree.Backoff(min=0.05, max=0.05, jitter=0)


async def test_a_failed_first_start_is_restarted_and_calls_wait_for_it(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    with trio.fail_after(TIMEOUT):
        # Retries every 50 ms, and a high intensity: the flag goes once the first
        # crash is seen, and every start fails until then.
        async with agentree.open_supervisor(
            "app", backoff=SLOW, intensity=10_000, period=60
        ) as sup:
            events = sup.events()
            ref = await sup.start_agent(
                StartFails, str(flag), name="s", on_start_failure="restart"
            )
            crashed = await next_of(events, ChildCrashed, "app/s")
            assert isinstance(crashed, ChildCrashed)
            assert crashed.kind == "start"
            assert "on purpose" in crashed.cause
            flag.unlink()
            # A call made meanwhile waits for the incarnation that starts.
            assert await ref.call(StartFails.echo, 7) == 7
            started = await next_of(events, ChildStarted, "app/s")
            assert isinstance(started, ChildStarted)
            assert sup.restarts_total >= 1
            (child,) = sup.which_children()
            assert child.phase == "running"
            assert child.incarnation >= 2


async def test_a_first_start_that_keeps_failing_makes_the_supervisor_give_up(
    tmp_path: Path,
) -> None:
    flag = tmp_path / "fail"
    flag.touch()

    async def body() -> None:
        async with agentree.open_supervisor("app", backoff=FAST, intensity=2) as sup:
            await sup.start_agent(StartFails, str(flag), name="s", on_start_failure="restart")
            await trio.sleep_forever()

    with trio.fail_after(TIMEOUT):
        # SupervisorGaveUp leaves the block as it is (a group of the crashes).
        with pytest.raises(agentree.SupervisorGaveUp) as info:
            await body()
    assert len(info.value.exceptions) == 3
    assert all("on purpose" in str(exc) for exc in info.value.exceptions)


async def test_a_temporary_child_raises_either_way(tmp_path: Path) -> None:
    flag = tmp_path / "fail"
    flag.touch()
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app", backoff=FAST) as sup:
            with pytest.raises(agentree.RemoteActorError, match="on purpose"):
                await sup.start_agent(
                    StartFails,
                    str(flag),
                    name="s",
                    restart="temporary",
                    on_start_failure="restart",
                )
            assert sup.which_children() == ()
            assert sup.restarts_total == 0


async def test_a_bad_on_start_failure_is_refused() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_supervisor("app") as sup:
            with pytest.raises(ValueError, match="on_start_failure must be"):
                await sup.start_agent(
                    StartFails,
                    os.devnull + ".absent",
                    name="s",
                    on_start_failure="retry",  # type: ignore[arg-type]
                )
            assert sup.which_children() == ()
