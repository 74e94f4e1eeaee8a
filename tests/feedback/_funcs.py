"""Askers for the feedback tests (module-level: they travel by module:qualname)."""

from __future__ import annotations

import os
from typing import Any

import msgspec
import trio
import trio.testing

import agentree


class Approval(msgspec.Struct):
    """A structured answer."""

    ok: bool
    note: str


async def ask(question: Any, kind: str = "int", key: str | None = None) -> Any:
    """Ask from async code; ``kind`` names the answer type."""
    answer: Any = {"int": int, "str": str, "approval": Approval}[kind]
    value = await agentree.request_feedback(question, answer=answer, key=key)
    return msgspec.to_builtins(value)


async def ask_sync(question: Any) -> int:
    """Ask from a worker thread of this actor."""
    return await trio.to_thread.run_sync(
        lambda: agentree.request_feedback_sync(question, answer=int)
    )


async def ask_sync_on_loop(question: Any) -> str:
    """Ask synchronously on the trio thread itself: refused."""
    try:
        agentree.request_feedback_sync(question, answer=int)
    except agentree.FeedbackError as exc:
        return str(exc)
    return "not refused"


async def ask_error(question: Any) -> str:
    """Ask, return the FeedbackError's text."""
    try:
        await agentree.request_feedback(question, answer=int)
    except agentree.FeedbackError as exc:
        return str(exc)
    return "no error"


async def via_child(target: str, **kwargs: Any) -> Any:
    """Run ``target`` of this module in a child of this actor (a grandchild of the root)."""
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(globals()[target], name="grandchild", **kwargs)
        return await portal.wait_for_result()


async def ask_then_hang(question: Any, seconds: float) -> str:
    """Ask with a timeout that withdraws the question."""
    with trio.move_on_after(seconds):
        await agentree.request_feedback(question, answer=int)
        return "answered"
    return "withdrawn"


class Asker(agentree.Agent):
    """Asks once per incarnation, in the background, and records what it got."""

    async def on_start(self) -> None:
        self.got: list[int] = []
        self.done = trio.Event()
        self.start_soon(self._ask)

    async def _ask(self) -> None:
        self.got.append(await agentree.request_feedback("approve?", answer=int))
        self.done.set()

    async def result(self) -> list[int]:
        await self.done.wait()
        return self.got

    async def pid(self) -> int:
        return os.getpid()


async def pause_then_return() -> str:
    """Open a REPL (debug mode), then return."""
    await agentree.pause()
    return "resumed"


async def ask_sync_plain_thread(question: Any) -> int:
    """Ask from a ``threading.Thread`` that trio did not start."""
    import threading

    got: list[Any] = []
    finished = trio.Event()
    token = trio.lowlevel.current_trio_token()

    def work() -> None:
        try:
            got.append(agentree.request_feedback_sync(question, answer=int))
        except BaseException as exc:
            got.append(exc)
        finally:
            token.run_sync_soon(finished.set)

    threading.Thread(target=work).start()
    await finished.wait()
    if isinstance(got[0], BaseException):
        raise got[0]
    return int(got[0])


async def ask_from_asyncio(question: Any) -> list[Any]:
    """In an infected actor: refused on the asyncio loop's thread, then from an executor."""
    import asyncio

    from agentree import to_asyncio

    async def aio() -> list[Any]:
        out: list[Any] = []
        try:
            agentree.request_feedback_sync(question, answer=int)
        except agentree.FeedbackError as exc:
            out.append(str(exc))
        loop = asyncio.get_running_loop()
        out.append(
            await loop.run_in_executor(
                None, lambda: agentree.request_feedback_sync(question, answer=int)
            )
        )
        out.append(await agentree.request_feedback(question, answer=int, key="from-trio"))
        return out

    return await to_asyncio.run_task(aio)


async def ask_infected(question: Any) -> list[Any]:
    """Start an infected-asyncio child that asks."""
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(
            ask_from_asyncio, name="aio", infect_asyncio=True, question=question
        )
        return list(await portal.wait_for_result())


class ProcAsker(agentree.Agent):
    """Asks from a process-mode method (a worker child actor's thread)."""

    @agentree.method(mode="process", workers=1)
    def ask_in_worker(self, question: str) -> int:
        return agentree.request_feedback_sync(question, answer=int)


async def ask_with_pid() -> int:
    """Ask a question that names this process, so that a test can kill it."""
    return await agentree.request_feedback({"pid": os.getpid()}, answer=int, key="pid-q")


async def ask_concurrently(n: int) -> list[int]:
    """Ask ``n`` questions at once (keys ``k0``...), over this actor's one link."""
    got = [-1] * n

    async def one(i: int) -> None:
        got[i] = await agentree.request_feedback(i, answer=int, key=f"k{i}")

    async with trio.open_nursery() as tn:
        for i in range(n):
            tn.start_soon(one, i)
    return got


async def ask_twice_and_say_how() -> list[Any]:
    """Ask twice; say where this actor's asks go after the first one."""
    from agentree._runtime import current_actor
    from agentree.feedback._ask import _route_of

    first = await agentree.request_feedback("one", answer=int)
    second = await agentree.request_feedback("two", answer=int)
    route = _route_of(current_actor())
    conn = route.conn
    return [first, second, None if conn is None else conn.peer_name, route.level_id is not None]


async def warm_then(then: str, **kwargs: Any) -> Any:
    """Ask a first question (so later asks go direct), then run ``then``."""
    assert await agentree.request_feedback("warm-up", answer=int, key="warm") == 0
    return await globals()[then](**kwargs)


async def poke_link() -> list[Any]:
    """Open a feedback link to the parent by hand, send it junk, then a good ask."""
    from agentree._context import open_context
    from agentree._runtime import current_actor
    from agentree.feedback._link import LINK_WINDOW, feedback_link

    conn = current_actor().parent_conn
    assert conn is not None
    got: list[Any] = []
    async with (
        open_context(conn, feedback_link, {}) as (ctx, _),
        ctx.open_stream(msg_buffer_size=LINK_WINDOW) as stream,
    ):
        await stream.send(["not", "a", "batch"])
        await stream.send([["ok", "not an id"], 7, ["ok", 99]])
        await stream.send([["ask", 1, "not params", None]])
        got.append(await stream.receive())
        params = {"key": "poked", "question": 3, "asker": "poker", "answer": ["int", "int"]}
        await stream.send([["ask", 2, params, None]])
        got.append(await stream.receive())
        await stream.send([["ok", 2]])
    return got


async def ask_at_depth(depth: int) -> list[Any]:
    """``depth`` actors further down, ask twice (``ask_twice_and_say_how``)."""
    if depth == 0:
        return await ask_twice_and_say_how()
    async with agentree.open_nursery() as an:
        portal = await an.run_in_actor(ask_at_depth, name=f"depth-{depth - 1}", depth=depth - 1)
        return list(await portal.wait_for_result())


class _HeldGrants:
    """Hold back the credit grants this actor receives (its new link's first one)."""

    def __init__(self) -> None:
        from agentree._runtime import Dialog

        self.grant = Dialog.grant
        self.held: list[tuple[Any, int]] = []
        self.arrived = trio.Event()

    def __enter__(self) -> _HeldGrants:
        from agentree._runtime import Dialog

        def hold(dialog: Dialog, k: int) -> None:
            self.held.append((dialog, k))
            self.arrived.set()

        setattr(Dialog, "grant", hold)  # noqa: B010
        return self

    def __exit__(self, *exc: object) -> None:
        from agentree._runtime import Dialog

        setattr(Dialog, "grant", self.grant)  # noqa: B010

    async def wait_all_asks_wait(self) -> None:
        """Wait until the grant came and every task waits (the asks: for credit)."""
        await self.arrived.wait()
        await trio.testing.wait_all_tasks_blocked()


async def ask_concurrently_before_credit(n: int) -> list[int]:
    """``ask_concurrently``, with every ask waiting to send before the link has credit.

    The first credit grant this actor receives (the one of its new feedback link) is
    held back until all ``n`` asks wait for send credit, then given: the race that
    load produced at random (the parent's grant read after the asks had flushed).
    """
    got = [-1] * n

    async def one(i: int) -> None:
        got[i] = await agentree.request_feedback(i, answer=int, key=f"k{i}")

    async with trio.open_nursery() as tn:
        with _HeldGrants() as grants:
            for i in range(n):
                tn.start_soon(one, i)
            await grants.wait_all_asks_wait()
        for dialog, k in grants.held:
            dialog.grant(k)
    return got


async def ask_concurrently_then_lose_the_link(n: int) -> list[str]:
    """Ask ``n`` questions at once, all waiting for the new link's credit, then end
    the link (its dialog is cancelled); the text of each ask's ``FeedbackError``."""
    from agentree._runtime import current_actor
    from agentree.feedback._link import _uplinks

    texts = [""] * n

    async def one(i: int) -> None:
        try:
            await agentree.request_feedback(i, answer=int, key=f"k{i}")
        except agentree.FeedbackError as exc:
            texts[i] = str(exc)

    async with trio.open_nursery() as tn:
        with _HeldGrants() as grants:
            for i in range(n):
                tn.start_soon(one, i)
            await grants.wait_all_asks_wait()
        conn = current_actor().parent_conn
        assert conn is not None
        stream = _uplinks[conn]._stream
        await conn.cancel_dialog(stream.ctx.cid)
    return texts
