"""L3 inline calls: ``drive`` runs a coroutine from the current task, step by step."""

from __future__ import annotations

import contextvars

import pytest
import trio

from agentree._runtime._inline import drive

VAR: contextvars.ContextVar[str] = contextvars.ContextVar("VAR", default="unset")


async def finish_at_once(x: int) -> int:
    VAR.set("inside")
    return x * 2


async def wait_then_return(event: trio.Event, x: int) -> tuple[int, str]:
    VAR.set("inside")
    await event.wait()
    return x, VAR.get()


async def wait_then_raise(event: trio.Event) -> None:
    await event.wait()
    raise KeyError("after waiting")


async def test_a_coroutine_that_never_waits_is_not_handed_off() -> None:
    hand_offs: list[int] = []

    def hand_off() -> None:
        hand_offs.append(1)

    context = contextvars.copy_context()
    assert await drive(finish_at_once(21), context, hand_off) == 42
    assert hand_offs == []
    # The call's context variable changes stay in its own context.
    assert VAR.get() == "unset"
    assert context[VAR] == "inside"


async def test_a_coroutine_that_waits_is_handed_off_once_and_keeps_its_context() -> None:
    hand_offs: list[int] = []
    handed = trio.Event()
    event = trio.Event()
    result: list[tuple[int, str]] = []

    def hand_off() -> None:
        hand_offs.append(1)
        handed.set()

    async def run() -> None:
        context = contextvars.copy_context()
        result.append(await drive(wait_then_return(event, 7), context, hand_off))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run)
            await handed.wait()
            assert hand_offs == [1]
            assert not result
            event.set()
    assert result == [(7, "inside")]
    assert hand_offs == [1]
    assert VAR.get() == "unset"


async def test_errors_propagate_before_and_after_waiting() -> None:
    async def fail_at_once() -> None:
        raise ValueError("at once")

    with pytest.raises(ValueError, match="at once"):
        await drive(fail_at_once(), contextvars.copy_context(), lambda: None)
    event = trio.Event()
    event.set()
    # A set event still checkpoints, so this one waits once before raising.
    with pytest.raises(KeyError, match="after waiting"):
        await drive(wait_then_raise(event), contextvars.copy_context(), lambda: None)


async def test_cancellation_reaches_the_driven_coroutine() -> None:
    cleaned_up = trio.Event()

    async def sleep_forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cleaned_up.set()

    with trio.fail_after(5):
        with trio.CancelScope() as scope:
            scope.cancel()
            await drive(sleep_forever(), contextvars.copy_context(), lambda: None)
        assert scope.cancelled_caught
        assert cleaned_up.is_set()
