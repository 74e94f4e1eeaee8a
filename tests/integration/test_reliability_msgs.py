"""Issue 13 bugs 2, 3, 7 and 8 with real actors: errors that resist boxing, huge errors,
cancelling an actor with calls in flight, and ``allow_overruns=False`` senders."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import agentree
from agentree._runtime import ns_of
from agentree._runtime._boxing import error_text_limit
from agentree._streaming import INITIAL_WINDOW
from agentree.testing import raises_one

from . import _rel_msgs_funcs as funcs

MIB = 1024 * 1024


# -- bug 2: an exception whose str() raises ----------------------------------------------


@pytest.mark.parametrize(
    ("kind", "type_name", "shown"),
    [
        ("str", "UnprintableError", "UnprintableError('the real message')"),
        ("hopeless", "HopelessError", "HopelessError"),
    ],
)
async def test_unprintable_error_keeps_daemon_serving(
    kind: str, type_name: str, shown: str
) -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("stubborn", enable_modules=[funcs.MODULE])
            results: dict[str, Any] = {}
            failed = trio.Event()

            async def run_failing() -> None:
                with pytest.raises(agentree.RemoteActorError) as info:
                    await portal.run(funcs.fail_when_released, kind=kind)
                results["error"] = info.value
                failed.set()

            async def run_other() -> None:
                results["other"] = await portal.run(funcs.never_returns_until_stop)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_other)
                nursery.start_soon(run_failing)
                await portal.run(funcs.wait_waiting)
                await portal.run(funcs.release)
                # The failing call ended while the other one is still in flight.
                await failed.wait()
                assert "other" not in results
                await portal.run(funcs.stop)
            assert results["other"] == "stopped"
            assert await portal.run(funcs.ping) == "pong"
            await portal.cancel_actor()

    err = results["error"]
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type_str == f"{funcs.MODULE}.{type_name}"
    assert err.boxed_type is getattr(funcs, type_name)
    assert err.src_uid == portal.actor_uid
    assert err.call == ns_of(funcs.fail_when_released)
    assert "stubborn" in str(err)
    assert "fail_when_released" in str(err)
    assert shown in err.message
    assert "str() failed" in err.message
    assert "__str__ is broken on purpose" in err.message
    assert "raise_unprintable" in err.tb_str


async def test_unencodable_return_value_keeps_daemon_serving() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("nested", enable_modules=[funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(funcs.return_deeply_nested, depth=100_000)
            assert await portal.run(funcs.ping) == "pong"
            await portal.cancel_actor()
    err = info.value
    assert err.boxed_type is agentree.MsgEncodeError
    assert "the return value of" in err.message
    assert "return_deeply_nested" in err.message
    assert "RecursionError" in err.message


# -- bug 8: a huge error ---------------------------------------------------------------


def _huge_body(lines: int, line_size: int) -> str:
    """The message ``funcs.raise_huge`` raises."""
    return "\n".join(f"line-{i}:" + "x" * line_size for i in range(lines))


def _check_truncated(text: str, head: str, tail: str, limit: int) -> None:
    """``text`` was cut to fit ``limit`` bytes, keeping its start and its end."""
    assert len(text.encode()) <= limit + 1024
    assert text.startswith(head)
    assert text.endswith(tail)
    assert "cut here: the error was too large to send" in text


async def test_huge_error_message_is_truncated() -> None:
    lines, line_size = 1600, 64 * 1024  # a 100 MiB message
    with trio.fail_after(60):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("verbose", enable_modules=[funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(funcs.raise_huge, lines=lines, line_size=line_size)
            # The actor is still there.
            assert await portal.run(funcs.ping) == "pong"
            limit = error_text_limit(agentree.current_actor().options.max_frame_size)
            await portal.cancel_actor()
    err = info.value
    assert err.boxed_type is ValueError
    assert err.call == ns_of(funcs.raise_huge)
    assert "return value" not in err.message
    body = _huge_body(lines, line_size)
    # The first and last lines, whole, and a note of how much was cut.
    first = "\n".join(body.split("\n", 10)[:10])
    last = body[body.rindex("\n", 0, len(body) - 10 * (line_size + 10)) + 1 :]
    _check_truncated(err.message, first, last, limit)
    note = f"cut here: the error was too large to send (its message was {len(body)} bytes"
    assert note in err.message
    assert "raise_huge" in err.tb_str
    _check_truncated(err.tb_str, "Traceback (most recent call last):", last + "\n", limit)


async def test_huge_traceback_is_truncated_under_small_frames() -> None:
    max_frame = MIB
    depth = 400  # 400 chained errors of 10 KB each: a 4 MB traceback
    with trio.fail_after(60):
        async with agentree.open_nursery(max_frame_size=max_frame) as an:
            portal = await an.start_actor("deep", enable_modules=[funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(funcs.raise_huge_traceback, depth=depth)
            assert await portal.run(funcs.ping) == "pong"
            await portal.cancel_actor()
    err = info.value
    assert err.boxed_type is ValueError
    # The message itself is small and whole.
    message = f"level {depth}: " + "q" * 10_000
    assert err.message == message
    # The traceback starts with the innermost error of the chain and ends with the last.
    limit = error_text_limit(max_frame)
    _check_truncated(err.tb_str, "Traceback (most recent call last):", message + "\n", limit)
    assert "KeyError: 'innermost 1'" in err.tb_str[: limit // 8]


async def test_huge_error_under_small_frames_via_run_in_actor() -> None:
    max_frame = 256 * 1024
    lines, line_size = 2000, 200
    with trio.fail_after(60):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery(max_frame_size=max_frame) as an:
                await an.run_in_actor(
                    funcs.raise_huge, name="one-shot", lines=lines, line_size=line_size
                )
    err = info.value
    assert err.boxed_type is ValueError
    body = _huge_body(lines, line_size)
    _check_truncated(err.message, body[:1000], body[-1000:], error_text_limit(max_frame))


# -- bug 3: cancel_actor() with calls in flight ---------------------------------------


async def _cancel_with_calls_in_flight(
    portal: agentree.Portal, kind: str, *, calls: int, delay: float, extra_cancels: int = 0
) -> list[BaseException]:
    """Start ``calls`` calls of ``unwind_slowly(kind)``, cancel the actor once all run
    (with ``extra_cancels`` more cancel requests at the same time), and return what
    each call raised."""
    errors: list[BaseException] = []
    key = f"{kind}-{calls}"

    async def one_call() -> None:
        try:
            await portal.run(funcs.unwind_slowly, kind=kind, key=key, delay=delay)
        except BaseException as exc:
            errors.append(exc)
            if not isinstance(exc, agentree.AgentreeError):
                raise

    async with trio.open_nursery() as nursery:
        for _ in range(calls):
            nursery.start_soon(one_call)
        assert await portal.run(funcs.wait_running, key=key, count=calls) == calls
        for _ in range(extra_cancels):
            # Answered True, or False once the actor's channel has closed: no harm.
            nursery.start_soon(portal.cancel_actor)
        assert await portal.cancel_actor() is True
    return errors


def _check_cancelled(errors: list[BaseException], portal: agentree.Portal, calls: int) -> None:
    assert len(errors) == calls
    me = agentree.current_actor().uid
    for err in errors:
        assert type(err) is agentree.ContextCancelled, repr(err)
        assert err.canceller == me
        assert err.src_uid == portal.actor_uid
        assert err.call == ns_of(funcs.unwind_slowly)


@pytest.mark.parametrize(
    ("kind", "start_method"),
    [
        ("instant", "forkserver"),
        ("shield", "forkserver"),
        ("thread", "forkserver"),
        ("asyncio", "forkserver"),
        ("shield", "subprocess"),
        ("asyncio", "subprocess"),
    ],
)
async def test_cancel_actor_answers_calls_that_unwind_slowly(kind: str, start_method: str) -> None:
    with trio.fail_after(30):
        # The cleanups take 0.5 s, well within the cancel timeout: the actor is not
        # terminated before its calls end.
        async with agentree.open_nursery(cancel_timeout=10, start_method=start_method) as an:
            portal = await an.start_actor(
                f"unwind-{kind}", enable_modules=[funcs.MODULE], infect_asyncio=kind == "asyncio"
            )
            errors = await _cancel_with_calls_in_flight(portal, kind, calls=3, delay=0.5)
            _check_cancelled(errors, portal, 3)


async def test_cancel_actor_answers_contexts_and_calls_in_flight() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(cancel_timeout=10) as an:
            portal = await an.start_actor("ctx-unwind", enable_modules=[funcs.MODULE])
            me = agentree.current_actor().uid
            call_errors: list[BaseException] = []

            async def slow_call() -> None:
                try:
                    await portal.run(funcs.unwind_slowly, kind="shield", key="c", delay=0.8)
                except agentree.AgentreeError as exc:
                    call_errors.append(exc)

            async def cancel_in_context() -> None:
                # The context unwinds faster than the call: the call's reply is
                # still owed when the actor's runtime (and service nursery) is over.
                async with portal.open_context(funcs.ctx_unwind_slowly, delay=0.1) as (_, first):
                    assert first == "running"
                    assert await portal.cancel_actor() is True
                    await trio.sleep_forever()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(slow_call)
                await portal.run(funcs.wait_running, key="c")
                with pytest.raises(agentree.ContextCancelled) as info:
                    await cancel_in_context()
            assert info.value.canceller == me
            assert info.value.call == ns_of(funcs.ctx_unwind_slowly)
            _check_cancelled(call_errors, portal, 1)


async def _open_context_quietly(portal: agentree.Portal) -> None:
    async with portal.open_context(funcs.never_open_stream):
        pass


async def test_call_started_after_cancel_request_gets_clear_error() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery(cancel_timeout=10) as an:
            portal = await an.start_actor("late", enable_modules=[funcs.MODULE])
            me = agentree.current_actor().uid
            errors: list[BaseException] = []

            async def slow_call() -> None:
                try:
                    await portal.run(funcs.unwind_slowly, kind="shield", key="slow", delay=1.0)
                except agentree.ContextCancelled as exc:
                    errors.append(exc)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(slow_call)
                await portal.run(funcs.wait_running, key="slow")
                assert await portal.cancel_actor() is True
                # The actor still unwinds the slow call: its channel is open. A new
                # call is refused at once, without running.
                with trio.fail_after(0.9):
                    with pytest.raises(agentree.ContextCancelled) as info:
                        await portal.run(funcs.ping)
                    # So is a new context.
                    with pytest.raises(agentree.ContextCancelled) as ctx_info:
                        await _open_context_quietly(portal)
                    # A repeated cancel request is answered too.
                    assert await portal.cancel_actor() is True
            assert len(errors) == 1
    assert ctx_info.value.canceller == me
    assert ctx_info.value.call == ns_of(funcs.never_open_stream)
    late = info.value
    assert late.canceller == me
    assert late.call == ns_of(funcs.ping)
    assert "late" in str(late)
    assert "cancel" in late.message


async def test_call_after_actor_cancelled_gets_clear_error() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("gone", enable_modules=[funcs.MODULE])
            assert await portal.cancel_actor() is True
            # Whether the channel is still open or already closed, no hang.
            for _ in range(3):
                with pytest.raises((agentree.ContextCancelled, agentree.TransportClosed)):
                    await portal.run(funcs.ping)


async def test_cancel_actor_stress_never_loses_a_reply() -> None:
    rounds, calls = 6, 30
    with trio.fail_after(90):
        for round_ in range(rounds):
            kind = ("instant", "shield")[round_ % 2]
            async with agentree.open_nursery(cancel_timeout=10) as an:
                portal = await an.start_actor(f"stress-{round_}", enable_modules=[funcs.MODULE])
                errors = await _cancel_with_calls_in_flight(
                    portal, kind, calls=calls, delay=0.05, extra_cancels=3
                )
                _check_cancelled(errors, portal, calls)


# -- bug 7: allow_overruns=False never hangs -----------------------------------------


async def test_no_overruns_sender_to_unopened_stream_raises() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("deaf", enable_modules=[funcs.MODULE])
            async with portal.open_context(funcs.never_open_stream) as (ctx, _):
                async with ctx.open_stream(allow_overruns=False) as stream:
                    # Sent ahead, into the initial window: no wait, no error.
                    for i in range(INITIAL_WINDOW):
                        await stream.send(i)
                    with pytest.raises(agentree.StreamOverrun) as info:
                        await stream.send(INITIAL_WINDOW)
                    await portal.run(funcs.stop)
                assert await ctx.wait_for_result() == "stopped"
            assert await portal.run(funcs.ping) == "pong"
            await portal.cancel_actor()
    assert "has not opened its stream" in str(info.value)
    assert "never_open_stream" in str(info.value)
    assert "deaf" in str(info.value)


async def test_no_overruns_sender_to_stalled_consumer_raises() -> None:
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("stalled", enable_modules=[funcs.MODULE])
            async with portal.open_context(funcs.open_but_never_consume) as (ctx, _):
                async with ctx.open_stream(allow_overruns=False) as stream:
                    # The peer's window (4 items) is known once its first item came.
                    assert await stream.receive() == "open"
                    for i in range(4):
                        await stream.send(i)
                    with pytest.raises(agentree.StreamOverrun) as info:
                        await stream.send(4)
                    await portal.run(funcs.stop)
                assert await ctx.wait_for_result() == "stopped"
            await portal.cancel_actor()
    assert "window" in str(info.value)
    assert "stalled" in str(info.value)


async def test_no_overruns_items_sent_ahead_count_against_the_window() -> None:
    ahead, window = 5, 8
    with trio.fail_after(30):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("late-opener", enable_modules=[funcs.MODULE])
            async with portal.open_context(funcs.open_late_and_collect, count=window) as (
                ctx,
                _,
            ):
                async with ctx.open_stream(allow_overruns=False) as stream:
                    for i in range(ahead):
                        await stream.send(i)
                    await portal.run(funcs.set_event, key="open")
                    # The peer's grant (its window of 8) came before its first item.
                    assert await stream.receive() == "open"
                    for i in range(ahead, window):
                        await stream.send(i)
                    with pytest.raises(agentree.StreamOverrun, match=r"window .* is full"):
                        await stream.send(window)
                    await portal.run(funcs.set_event, key="consume")
                assert await ctx.wait_for_result() == list(range(window))
            await portal.cancel_actor()
