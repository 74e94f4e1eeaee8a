"""The journal of a feedback level: answers kept for askers that were gone."""

from __future__ import annotations

from typing import Protocol

__all__ = ["Journal", "MemoryJournal"]


class Journal(Protocol):
    """Where a level keeps answers that could not be delivered, by request key.

    Bytes in, bytes out, so that a durable store can back it.
    """

    def get(self, key: str) -> bytes | None:
        """The answer kept for ``key``, left in place."""
        ...

    def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` as the undelivered answer for ``key``."""
        ...

    def take(self, key: str) -> bytes | None:
        """Remove and return the answer kept for ``key`` (each is taken once)."""
        ...


class MemoryJournal:
    """The default journal: a dict, for the level's lifetime."""

    def __init__(self) -> None:
        self._kept: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        """The answer kept for ``key``, left in place."""
        return self._kept.get(key)

    def put(self, key: str, value: bytes) -> None:
        """Keep ``value`` as the undelivered answer for ``key``."""
        self._kept[key] = value

    def take(self, key: str) -> bytes | None:
        """Remove and return the answer kept for ``key``."""
        return self._kept.pop(key, None)
