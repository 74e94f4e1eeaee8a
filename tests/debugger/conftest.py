"""Every debugger test gets a terminal session that is checked for leftovers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ._term import Session


@pytest.fixture
def session() -> Iterator[Callable[..., Session]]:
    """Start examples in a pty; at the end, fail if any process of theirs is left."""
    started: list[Session] = []

    def start(script: str, *args: str, debugger: str | None = None) -> Session:
        sess = Session(script, *args, debugger=debugger)
        started.append(sess)
        return sess

    yield start
    leftovers = [line for sess in started for line in sess.close()]
    assert not leftovers, "processes left behind:\n" + "\n".join(leftovers)
