"""Functions the TCP tree tests call in actors (root, joined programs)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import agentree


def whoami() -> str:
    return agentree.current_actor().name


def pid() -> int:
    return os.getpid()


def fail(msg: str) -> None:
    raise ValueError(msg)


async def call_root_whoami() -> str:
    async with agentree.find_actor("root") as portal:
        assert portal is not None
        return await portal.run(whoami)


async def count(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


async def call_leaf() -> str:
    async with agentree.find_actor("leaf") as portal:
        assert portal is not None
        return await portal.run(whoami)
