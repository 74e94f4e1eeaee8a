"""Checked by mypy (tests/supervise/test_supervise_typing.py), never run: supervised refs.

Each ``# type: ignore[code]`` marks a line mypy must reject with that code; with
``--warn-unused-ignores`` an ignore that is not needed fails the check.
"""

from __future__ import annotations

from typing import assert_type

import agentree


class Planner(agentree.Agent):
    async def plan(self, goal: str, *, steps: int = 3) -> list[str]:
        return [goal] * steps

    def read(self, path: str) -> bytes:
        return path.encode()


class Other(agentree.Agent):
    async def run(self) -> int:
        return 1


async def calls(sup: agentree.Supervisor) -> None:
    ref = await sup.start_agent(Planner, name="planner", restart="transient", watchdog=2.0)
    assert_type(ref, agentree.SupervisedRef[Planner])
    plain: agentree.AgentRef[Planner] = ref
    assert_type(await ref.call(Planner.plan, "ship"), list[str])
    assert_type(await ref.call(Planner.plan, "ship", steps=2), list[str])
    assert_type(await ref.call(Planner.read, "/tmp/x"), bytes)
    assert_type(await ref.with_options(fail_fast=True).call(Planner.read, "x"), bytes)
    await ref.call(Planner.plan, 42)  # type: ignore[call-overload]
    await ref.call(Other.run)  # type: ignore[call-overload]
    await sup.start_agent(Planner, name="p", restart="sometimes")  # type: ignore[arg-type]

    pool = await sup.start_pool(Planner, name="pool", size=2)
    assert_type(pool, agentree.Pool[Planner])
    assert_type(await pool.by_key("k").call(Planner.read, "x"), bytes)
    async with pool.map(Planner.plan, ["a", "b"]) as results:
        async for steps in results:
            assert_type(steps, list[str])

    team = await sup.start_supervisor("team", strategy="rest_for_one")
    assert_type(team, agentree.Supervisor)
    assert_type(sup.statistics(), agentree.SupervisorStats)
    assert_type(sup.which_children(), tuple[agentree.ChildInfo, ...])
    print(plain)
