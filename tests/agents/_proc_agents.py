"""Agents with process-mode methods, for ``test_process_mode`` (imported by name)."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

import msgspec

from agentree import Agent, method


class Tally(msgspec.Struct):
    hits: int = 0
    notes: list[str] = []


class Embedder(Agent, state=Tally):
    """CPU-bound methods in worker processes, and async ones on the agent's loop."""

    def __init__(self, scale: int, *, label: str = "") -> None:
        self.scale = scale
        self.label = label

    async def note(self, text: str) -> int:
        self.state.hits += 1
        self.state.notes.append(text)
        return self.state.hits

    async def ping(self) -> int:
        return os.getpid()

    @method(mode="process", workers=2)
    def embed(self, text: str, *, times: int = 1) -> dict[str, Any]:
        seen = msgspec.to_builtins(self.state)
        # Stays in this worker: the agent's state is unchanged.
        self.state.hits += 1000
        return {
            "vector": [len(text) * self.scale] * times,
            "label": self.label,
            "state": seen,
            "state_type": type(self.state).__name__,
            "identity": [self.name, self.path, self.incarnation],
            "pid": os.getpid(),
            "ppid": os.getppid(),
        }

    @method(mode="process", workers=2)
    def fail(self, message: str) -> None:
        raise ValueError(message)

    @method(mode="process")
    def unsendable(self) -> object:
        return object()

    @method(mode="process", workers=2)
    def spin2(self, seconds: float) -> list[float]:
        return _spin(seconds)

    @method(mode="process", workers=2)
    def span(self, seconds: float) -> list[float]:
        start = time.monotonic()
        time.sleep(seconds)
        return [start, time.monotonic(), os.getpid()]

    @method(mode="process", workers=2)
    def block(self, address: str | None = None) -> int:
        """Return the worker's pid; with ``address``, announce it there and block."""
        if address is None:
            return os.getpid()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(address)
            sock.sendall(os.getpid().to_bytes(4, "big"))
            while True:
                time.sleep(60)


def _spin(seconds: float) -> list[float]:
    """Burn ``seconds`` of CPU; return [start, end, pid] (CLOCK_MONOTONIC, system-wide)."""
    start = time.monotonic()
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass
    return [start, time.monotonic(), os.getpid()]


class AioEmbedder(Agent, loop="asyncio"):
    """An infected-asyncio agent with a process-mode method."""

    @method(mode="process", workers=2)
    def embed(self, text: str) -> list[int]:
        return [len(text), os.getpid()]

    async def ping(self) -> int:
        return os.getpid()
