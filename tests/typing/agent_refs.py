"""Checked by mypy (tests/agents/test_typing.py), never run: AgentRef's static types.

Each ``# type: ignore[code]`` marks a line mypy must reject with that code; with
``--warn-unused-ignores`` an ignore that is not needed (a call mypy accepted) fails
the check. ``assert_type`` pins the inferred return types.
"""

from __future__ import annotations

from typing import Any, assert_type

import agentree


class Planner(agentree.Agent):
    async def plan(self, goal: str, *, steps: int = 3) -> list[str]:
        return [goal] * steps

    def read(self, path: str) -> bytes:
        return path.encode()

    @agentree.method(mode="process", workers=2)
    def embed(self, text: str) -> list[float]:
        return [float(len(text))]

    @agentree.context
    async def talk(self, ctx: agentree.Context, topic: str) -> None:
        await ctx.started(topic)


class Other(agentree.Agent):
    async def run(self) -> int:
        return 1


async def calls(an: agentree.ActorNursery) -> None:
    ref = await an.start_agent(Planner, name="planner")
    assert_type(ref, agentree.AgentRef[Planner])

    assert_type(await ref.call(Planner.plan, "ship"), list[str])
    assert_type(await ref.call(Planner.plan, "ship", steps=2), list[str])
    assert_type(await ref.call(Planner.read, "/tmp/x"), bytes)
    assert_type(await ref.call(Planner.embed, "text"), list[float])

    await ref.call(Planner.plan, 42)  # type: ignore[call-overload]
    await ref.call(Planner.plan)  # type: ignore[call-overload]
    await ref.call(Planner.plan, "ship", stepz=2)  # type: ignore[call-arg]
    await ref.call(Planner.read, "a", "b")  # type: ignore[call-overload]
    await ref.call(Other.run)  # type: ignore[call-overload]
    wrong: str = await ref.call(Planner.read, "x")  # type: ignore[call-overload]

    async with ref.open_context(Planner.talk, "weather") as (ctx, first):
        assert_type(ctx, agentree.Context)
        assert_type(first, Any)
    async with ref.open_context(Planner.talk, 1):  # type: ignore[arg-type]
        pass

    found = await agentree.wait_for_agent("app/planner", Planner)
    assert_type(found, agentree.AgentRef[Planner])
    assert_type(await found.call(Planner.plan, "x"), list[str])
    anything = await agentree.wait_for_agent("app/planner")
    assert_type(anything, agentree.AgentRef[Any])
    maybe = await agentree.find_agent("app/planner", Planner)
    assert_type(maybe, agentree.AgentRef[Planner] | None)
    print(wrong)
