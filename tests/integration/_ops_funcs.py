"""Functions and an agent for the operability tests (``agentree tree``, titles, logs)."""

from __future__ import annotations

import logging
import os

import trio

import agentree

MODULE = __name__


class Napper(agentree.Agent):
    """An agent that answers and can die on demand."""

    async def whoami(self) -> int:
        return os.getpid()

    async def die(self) -> None:
        os._exit(3)

    async def ask(self) -> bool:
        """Ask a question that stays open (the test's handler never answers)."""
        return await agentree.request_feedback("may I?", answer=bool)


@agentree.context
async def hold_nested(ctx: agentree.Context, depth: int) -> None:
    """Start ``lvlN`` and ``deepN`` below this actor, recursively; hold them.

    Started with ``{name: pid}`` of this actor and everything below it.
    """
    pids = {agentree.current_actor().name: os.getpid()}
    if depth <= 0:
        await ctx.started(pids)
        await trio.sleep_forever()
    async with agentree.open_nursery() as an:
        lvl = await an.start_actor(f"lvl{depth}", enable_modules=[MODULE])
        deep = await an.start_actor(f"deep{depth}", enable_modules=[MODULE])
        pids[f"lvl{depth}"] = await lvl.run(own_pid)
        async with deep.open_context(hold_nested, depth=depth - 1) as (_, below):
            pids.update(below)
            await ctx.started(pids)
            await trio.sleep_forever()


def own_pid() -> int:
    """This actor's pid."""
    return os.getpid()


def log_and_die(count: int, message: str) -> None:
    """Log ``count`` records through agentree's logger, then end the process at once."""
    log = logging.getLogger("agentree.user")
    for i in range(count):
        log.warning("%s %d", message, i)
    os._exit(0)


def log_lines(count: int, message: str) -> int:
    """Log ``count`` records through agentree's logger; return this actor's pid."""
    log = logging.getLogger("agentree.user")
    for i in range(count):
        log.warning("%s %d", message, i)
    return os.getpid()


async def sleep_forever() -> None:
    """Wait until cancelled."""
    await trio.sleep_forever()


def log_info(message: str) -> None:
    """Log ``message`` at INFO through agentree's logger."""
    logging.getLogger("agentree.user").info(message)


async def pause_here() -> None:
    """Stop in the debugger's REPL."""
    await agentree.pause()


class Gate(agentree.Agent):
    """An agent with caps of one: a second call waits (queued) for the first."""

    max_concurrency = 1
    groups = {"llm": 1}  # noqa: RUF012  (the class attribute agents declare)

    async def hold(self) -> None:
        await trio.sleep_forever()

    @agentree.method(group="llm")
    async def think(self) -> None:
        await trio.sleep_forever()


@agentree.context
async def hold_agent(ctx: agentree.Context) -> None:
    """Start the agent ``helper`` from this (plain) actor; started with its pid."""
    async with agentree.open_nursery() as an:
        ref = await an.start_agent(Napper, name="helper")
        await ctx.started(ref.pid)
        await trio.sleep_forever()
