"""Infected-asyncio echo: root -> infected actor -> asyncio task -> root.

tractor's README example as a workload: the root streams integers through a
context to an actor started with ``infect_asyncio=True``, whose trio task relays
each one to an asyncio task (``to_asyncio.open_channel_from``) and streams the
echo back. The reference row is the same context echo served by a plain trio
actor, measured in the same run with repetitions interleaved, so that machine
load hits both alike. Children import this module by name (the bench directory
is on their ``sys.path``).
"""

from __future__ import annotations

import asyncio
import time

import trio
from _common import Config, Measurement, format_error

import agentree
from agentree import to_asyncio

KEY = "aioecho"


def labels(method: str) -> tuple[str, str]:
    """Return the (plain trio actor, infected actor) row labels for ``method``."""
    return f"agentree {method} trio actor", f"agentree {method} infected"


@agentree.context
async def trio_echo(ctx: agentree.Context) -> None:
    """A plain trio actor's echo: stream in, stream out."""
    await ctx.started("start")
    async with ctx.open_stream() as stream:
        async for msg in stream:
            await stream.send(msg)


async def aio_echo(to_trio: to_asyncio.ToTrio, from_trio: to_asyncio.FromTrio) -> None:
    """The asyncio task: echo what trio sends."""
    to_trio.send_nowait("start")
    async for msg in from_trio:
        to_trio.send_nowait(msg)
        await asyncio.sleep(0)


@agentree.context
async def aio_relay_echo(ctx: agentree.Context) -> None:
    """The infected actor's trio task: relay each item to asyncio and back."""
    async with to_asyncio.open_channel_from(aio_echo) as (first, chan):
        await ctx.started(first)
        async with ctx.open_stream() as stream:
            async for msg in stream:
                await chan.send(msg)
                await stream.send(await chan.receive())


# Round trips per slice: the two rows alternate slice by slice, so that a change in
# machine load during a repetition hits both alike.
SLICE = 50


async def _echo_time(stream: agentree.MsgStream, start: int, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(start, start + n):
        await stream.send(i)
        if await stream.receive() != i:
            raise RuntimeError("bad echo reply")
    return time.perf_counter() - t0


async def _measure(cfg: Config, plain: Measurement, infected: Measurement) -> None:
    async with agentree.open_nursery() as an:
        p_trio = await an.start_actor("trio-echo", enable_modules=[__name__])
        p_aio = await an.start_actor("aio-echo", enable_modules=[__name__], infect_asyncio=True)
        async with (
            p_trio.open_context(trio_echo) as (ctx_trio, _),
            p_aio.open_context(aio_relay_echo) as (ctx_aio, _),
            ctx_trio.open_stream() as s_trio,
            ctx_aio.open_stream() as s_aio,
        ):
            for rep in range(cfg.repeat + 1):
                spent_trio = spent_aio = 0.0
                for start in range(0, cfg.seq_calls, SLICE):
                    n = min(SLICE, cfg.seq_calls - start)
                    spent_trio += await _echo_time(s_trio, start, n)
                    spent_aio += await _echo_time(s_aio, start, n)
                if rep:
                    plain.samples.append(cfg.seq_calls / spent_trio)
                    infected.samples.append(cfg.seq_calls / spent_aio)
        await an.cancel()


async def _main(cfg: Config, method: str, plain: Measurement, infected: Measurement) -> None:
    async with agentree.open_root_actor(name="bench", start_method=method):
        with trio.fail_after(cfg.case_timeout):
            await _measure(cfg, plain, infected)


def run_aio(cfg: Config, methods: list[str]) -> list[Measurement]:
    """Measure both echo rows for each start method; failures go in ``.error``."""
    out: list[Measurement] = []
    for method in methods:
        plain_label, infected_label = labels(method)
        plain, infected = Measurement(KEY, plain_label), Measurement(KEY, infected_label)

        try:
            trio.run(_main, cfg, method, plain, infected)
        except Exception as exc:
            plain.error = infected.error = f"error: {format_error(exc)}"
            plain.samples.clear()
            infected.samples.clear()
        out += [plain, infected]
    return out
