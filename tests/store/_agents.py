"""Agents for the checkpoint tests (importable by module:qualname)."""

from __future__ import annotations

import os

import msgspec
import trio

import agentree


class Tally(msgspec.Struct):
    count: int = 0
    notes: list[str] = []
    started: int = 0


class Counter(agentree.Agent, state=Tally):
    """Counts; ``add`` checkpoints when asked to. ``on_start`` records what it saw."""

    async def on_start(self) -> None:
        self.seen_at_start = self.state.count
        self.state.started += 1

    async def add(self, n: int, note: str = "", save: bool = True) -> int:
        self.state.count += n
        if note:
            self.state.notes.append(note)
        if save:
            await self.checkpoint()
        return self.state.count

    def add_in_thread(self, n: int) -> int:
        """A thread-mode method: checkpoints through ``trio.from_thread.run``."""
        self.state.count += n
        trio.from_thread.run(self.checkpoint)
        return self.state.count

    async def look(self) -> tuple[int, list[str], int, int, int]:
        """(count, notes, count seen by on_start, incarnation, pid)."""
        return (
            self.state.count,
            list(self.state.notes),
            self.seen_at_start,
            self.incarnation,
            os.getpid(),
        )

    async def ping(self) -> None:
        return None

    async def try_save(self) -> str:
        """Checkpoint; say which error the agent's own code saw, if any."""
        try:
            await self.checkpoint()
        except agentree.StoreError as exc:
            return f"StoreError: {exc}"
        return "saved"

    async def save_many(self, n: int, size: int) -> None:
        """``n`` checkpoints of a state carrying ``size`` bytes of notes."""
        self.state.notes = ["x" * size]
        for i in range(n):
            self.state.count = i
            await self.checkpoint()


class Stateless(agentree.Agent):
    async def save(self) -> None:
        await self.checkpoint()


class Unencodable(msgspec.Struct):
    value: object = None


class BadState(agentree.Agent, state=Unencodable):
    async def save(self) -> None:
        self.state.value = object()
        await self.checkpoint()


class AioCounter(agentree.Agent, state=Tally, loop="asyncio"):
    """An infected-asyncio agent that checkpoints from its asyncio tasks."""

    async def on_start(self) -> None:
        import asyncio

        await asyncio.sleep(0)
        self.seen_at_start = self.state.count

    async def add(self, n: int) -> int:
        import asyncio

        self.state.count += n
        await self.checkpoint()
        await asyncio.sleep(0)
        return self.state.count

    async def look(self) -> tuple[int, int, int]:
        """(count, count seen by on_start, incarnation)."""
        return self.state.count, self.seen_at_start, self.incarnation


class FullDisk(agentree.MemoryStore):
    """A store whose writes fail (it lives in the supervisor's process only)."""

    async def put_state(self, run_id: str, path: str, data: bytes) -> None:
        """Fail like a full disk."""
        raise agentree.StoreError("the disk is full")
