"""When the root may be forked into its forkserver (issue 14): ``fork_refusal``."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from agentree._spawn import _forkcopy


@pytest.fixture
def other_thread() -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_another_thread_refuses_the_fork(other_thread: None) -> None:
    assert _forkcopy.fork_refusal() == "other threads are running"


def test_a_thread_of_another_library_counts_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Threads that Python's threading module does not know (a C library's).
    monkeypatch.setattr(_forkcopy.threading, "active_count", lambda: 1)
    real = os.listdir
    monkeypatch.setattr(
        os, "listdir", lambda path: ["1", "2"] if path == "/proc/self/task" else real(path)
    )
    assert _forkcopy.fork_refusal() == "other threads are running"


def test_not_the_main_thread_refuses_the_fork() -> None:
    seen: list[str | None] = []
    thread = threading.Thread(target=lambda: seen.append(_forkcopy.fork_refusal()))
    thread.start()
    thread.join()
    assert seen == ["not the main thread"]


def test_the_environment_switch_refuses_the_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_forkcopy.ENV_SWITCH, "fresh")
    assert _forkcopy.fork_refusal() == f"{_forkcopy.ENV_SWITCH}=fresh"


def test_an_unknown_trio_refuses_the_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_forkcopy, "_trio_run_context", lambda: None)
    monkeypatch.setattr(_forkcopy, "_thread_count", lambda: 1)
    assert _forkcopy.fork_refusal() == "trio's run state is not where it was expected"


def test_a_single_threaded_root_may_be_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under pytest an idle worker thread of trio's may linger: count only this one.
    monkeypatch.setattr(_forkcopy, "_thread_count", lambda: 1)
    monkeypatch.delenv(_forkcopy.ENV_SWITCH, raising=False)
    assert _forkcopy.fork_refusal() is None
