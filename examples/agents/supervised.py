"""A flaky agent under a supervisor: it crashes at random and comes back, callers carry on.

- ``Flaky.work`` dies (``os._exit``) on about one call in ten. The supervisor sees
  the process end, counts the crash, waits the child's backoff (jittered, doubling
  while crashes follow each other) and starts the next incarnation.
- The ref is the agent's path: calls made while it restarts wait for the next
  incarnation, in order. ``work`` is declared ``idempotent=True``, so a call that
  was in flight when the agent died is re-sent once to the next incarnation; a call
  unlucky twice fails with ``AgentCrashed`` and its caller decides.
- ``steady`` is a sibling (one_for_one): its calls are answered throughout.
- Every supervisor event is printed as it happens.

Run it: ``python examples/agents/supervised.py``
"""

from __future__ import annotations

import os
import random

import trio

import agentree

CALLERS = 3
CALLS = 20


class Flaky(agentree.Agent):
    """Squares numbers, and sometimes dies doing it."""

    async def on_start(self) -> None:
        # A different (but reproducible) run of luck per incarnation.
        self.rng = random.Random(self.incarnation)

    @agentree.method(idempotent=True)
    async def work(self, x: int) -> int:
        await trio.sleep(0.005)
        if self.rng.random() < 1 / 10:
            os._exit(1)  # a crash: the process ends without a stop
        return x * x


class Steady(agentree.Agent):
    """Never fails."""

    async def echo(self, x: int) -> int:
        return x


def describe(event: agentree.SupervisorEvent) -> str:
    if isinstance(event, agentree.ChildStarted):
        return f"started    {event.path} #{event.incarnation} (pid {event.pid})"
    if isinstance(event, agentree.ChildCrashed):
        return f"crashed    {event.path} #{event.incarnation}: {event.cause}"
    if isinstance(event, agentree.ChildRestarting):
        return (
            f"restarting {event.path} #{event.incarnation} in {event.delay * 1000:.0f} ms "
            f"(attempt {event.attempt})"
        )
    if isinstance(event, agentree.ChildStopped):
        return f"stopped    {event.path} #{event.incarnation} ({event.reason})"
    return f"gave up    {event.supervisor}"


async def main() -> None:
    backoff = agentree.Backoff(min=0.02, max=0.2, jitter=0.2, reset_after=0.5)
    async with agentree.open_supervisor("app", intensity=50, period=10, backoff=backoff) as sup:
        events = sup.events()

        async def show() -> None:
            async for event in events:
                print(f"[event] {describe(event)}")

        answered = failed = 0
        async with trio.open_nursery() as printer:
            printer.start_soon(show)
            flaky = await sup.start_agent(Flaky, name="flaky")
            steady = await sup.start_agent(Steady, name="steady")

            async def caller(n: int) -> None:
                nonlocal answered, failed
                for i in range(CALLS):
                    x = n * CALLS + i
                    try:
                        assert await flaky.call(Flaky.work, x) == x * x
                        answered += 1
                    except agentree.AgentCrashed:
                        failed += 1  # crashed on the call and on its one re-send
                    assert await steady.call(Steady.echo, x) == x

            async with trio.open_nursery() as callers:
                for n in range(CALLERS):
                    callers.start_soon(caller, n)
            stats = sup.statistics()
            print(
                f"calls: {answered} answered, {failed} failed twice; "
                f"flaky restarted {stats.restarts_total} times; steady is incarnation "
                f"{steady.incarnation}"
            )
            events.close()
    print("supervisor closed")


if __name__ == "__main__":
    trio.run(main)
