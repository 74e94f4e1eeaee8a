"""Imported (through ``enable_modules``) only by a child: breaks that child's start.

Importing it registers a runtime hook that raises when the child's runtime starts,
after the child has a channel to its parent and its modules are imported.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agentree._runtime import Actor
from agentree._runtime._hooks import register_runtime_hook


class BrokenStartError(RuntimeError):
    """Raised by the hook below."""


@asynccontextmanager
async def _broken_hook(actor: Actor) -> AsyncIterator[None]:
    raise BrokenStartError(f"runtime hook broken in {actor.name!r}")
    yield


register_runtime_hook("tests-broken-start", _broken_hook)
