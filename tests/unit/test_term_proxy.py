"""The proxied terminal's parts, without processes: the REPL's side, a relay, the root's."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

import msgspec
import pytest
import trio
import trio.testing

from agentree import MsgTypeError, ProtocolError
from agentree.devx._proxy import LineReader, ProxyTerminal, TermRelay, TermServer, decode_term
from agentree.msg import encode
from agentree.msg._term import (
    MAX_TERM_TEXT,
    TermDown,
    TermInterrupt,
    TermLine,
    TermOut,
    TermRead,
    TermUp,
)


class FakeStream:
    """One side of a dialog's stream: what it sends is recorded, what it receives is fed."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.closed = False
        self._feed, self._items = trio.open_memory_channel[Any](100)
        self.sent_one = trio.Event()

    def feed(self, item: Any) -> None:
        self._feed.send_nowait(item)

    def end(self) -> None:
        self._feed.close()

    async def send(self, item: Any) -> None:
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError
        self.sent.append(item)
        self.sent_one.set()
        self.sent_one = trio.Event()

    async def receive(self) -> Any:
        return await self._items.receive()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._items

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()
        self.closed = True

    def decoded(self, spec: Any) -> list[Any]:
        return [msgspec.msgpack.decode(item, type=spec) for item in self.sent]


def as_stream(fake: FakeStream) -> Any:
    return cast(Any, fake)


# -- the messages ----------------------------------------------------------------------


def test_a_malformed_terminal_message_is_a_typed_error() -> None:
    assert decode_term(encode(TermOut(text="hi")), TermUp, "t") == TermOut(text="hi")
    with pytest.raises(MsgTypeError, match="expected a terminal message"):
        decode_term("not bytes", TermUp, "of actor 'x'")
    with pytest.raises(ProtocolError, match="of actor 'x'"):
        decode_term(b"\xc1", TermUp, "of actor 'x'")
    # An answer where a request belongs, and the reverse.
    with pytest.raises(MsgTypeError):
        decode_term(encode(TermLine(line="x\n")), TermUp, "t")
    with pytest.raises(MsgTypeError):
        decode_term(encode(TermRead(text="")), TermDown, "t")
    # Bounded: a text longer than MAX_TERM_TEXT is refused.
    with pytest.raises(MsgTypeError):
        decode_term(encode(TermOut(text="x" * (MAX_TERM_TEXT + 1))), TermUp, "t")


# -- the REPL's side -------------------------------------------------------------------


async def test_the_repl_output_goes_up_with_its_request_for_a_line() -> None:
    fake = FakeStream()
    term = ProxyTerminal(as_stream(fake), "kid")
    fake.feed(encode(TermLine(line="p x\n")))
    with trio.fail_after(5):

        def repl() -> str:
            term.write("Paused here\n")
            term.write("(Pdb) ")
            term.flush()
            return term.readline()

        assert await trio.to_thread.run_sync(repl) == "p x\n"
        assert fake.decoded(TermUp) == [TermRead(text="Paused here\n(Pdb) ")]
        term.write("42\n")
        await term.drain()
        assert fake.decoded(TermUp)[1:] == [TermOut(text="42\n")]
        await term.drain()  # nothing left: nothing sent
        assert len(fake.sent) == 2


async def test_a_ctrl_c_at_the_root_interrupts_the_read() -> None:
    fake = FakeStream()
    term = ProxyTerminal(as_stream(fake), "kid")
    fake.feed(encode(TermInterrupt()))
    with trio.fail_after(5), pytest.raises(KeyboardInterrupt):
        await trio.to_thread.run_sync(term.readline)


async def test_long_output_travels_in_bounded_pieces() -> None:
    fake = FakeStream()
    term = ProxyTerminal(as_stream(fake), "kid")
    fake.feed(encode(TermLine(line="c\n")))
    big = "y" * (2 * MAX_TERM_TEXT + 10)
    with trio.fail_after(5):

        def repl() -> str:
            term.write(big)
            term.write("(Pdb) ")
            return term.readline()

        assert await trio.to_thread.run_sync(repl) == "c\n"
    sent = fake.decoded(TermUp)
    assert all(len(msg.text) <= MAX_TERM_TEXT for msg in sent)
    assert "".join(msg.text for msg in sent) == big + "(Pdb) "
    assert isinstance(sent[-1], TermRead)


async def test_a_lost_dialog_reads_as_end_of_file() -> None:
    fake = FakeStream()
    term = ProxyTerminal(as_stream(fake), "kid")
    fake.end()
    with trio.fail_after(5):
        assert await trio.to_thread.run_sync(term.readline) == ""
        # And stays so, without asking again.
        assert await trio.to_thread.run_sync(term.readline) == ""
    assert len(fake.sent) == 1


async def test_a_malformed_answer_is_an_error_in_the_repl() -> None:
    fake = FakeStream()
    term = ProxyTerminal(as_stream(fake), "kid")
    fake.feed(encode(TermRead(text="wrong way")))
    with trio.fail_after(5), pytest.raises(MsgTypeError, match="answer from the root"):
        await trio.to_thread.run_sync(term.readline)


# -- the root's side -------------------------------------------------------------------


@contextmanager
def pipe_stdin() -> Iterator[tuple[TextIO, TextIO]]:
    """A text pipe standing in for the root's stdin: (what the reader reads, the keyboard)."""
    r, w = os.pipe()
    reader = os.fdopen(r, "r")
    keys = os.fdopen(w, "w")
    try:
        yield reader, keys
    finally:
        if not keys.closed:
            keys.close()
        reader.close()


def type_line(keys: TextIO, line: str) -> None:
    keys.write(line)
    keys.flush()


async def test_the_root_writes_the_text_and_answers_with_its_lines() -> None:
    out = io.StringIO()
    down = FakeStream()
    with pipe_stdin() as (stdin, keys), trio.fail_after(5):
        server = TermServer(LineReader(stdin), "kid", stdout=out)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run, as_stream(down))
            await server.on_item(encode(TermOut(text="Paused\n")))
            await server.on_item(encode(TermRead(text="(Pdb) ")))
            assert out.getvalue() == "Paused\n(Pdb) "
            type_line(keys, "p x\n")
            await down.sent_one.wait()
            assert down.decoded(TermDown) == [TermLine(line="p x\n")]
            # Asking twice before the answer is a protocol error, not a hang.
            await server.on_item(encode(TermRead(text="(Pdb) ")))
            with pytest.raises(MsgTypeError, match="before the previous one"):
                await server.on_item(encode(TermRead(text="(Pdb) ")))
            # End of file at the root: the REPL reads it as such.
            keys.close()
            await down.sent_one.wait()
            assert down.decoded(TermDown)[-1] == TermLine(line="")
            nursery.cancel_scope.cancel()


async def test_ctrl_c_at_the_root_answers_the_read_and_keeps_the_next_line() -> None:
    out = io.StringIO()
    down = FakeStream()
    with pipe_stdin() as (stdin, keys), trio.fail_after(5):
        server = TermServer(LineReader(stdin), "kid", stdout=out)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server.run, as_stream(down))
            await server.on_item(encode(TermRead(text="(Pdb) ")))
            await trio.testing.wait_all_tasks_blocked()
            server.interrupt()
            await down.sent_one.wait()
            assert down.decoded(TermDown) == [TermInterrupt()]
            # The read under way goes on: the line typed next is not lost.
            type_line(keys, "c\n")
            await server.on_item(encode(TermRead(text="(Pdb) ")))
            await down.sent_one.wait()
            assert down.decoded(TermDown)[-1] == TermLine(line="c\n")
            # A Ctrl-C while no line is asked for answers the next request.
            server.interrupt()
            await server.on_item(encode(TermRead(text="(Pdb) ")))
            await down.sent_one.wait()
            assert down.decoded(TermDown)[-1] == TermInterrupt()
            keys.close()
            nursery.cancel_scope.cancel()


async def test_the_root_refuses_a_malformed_request() -> None:
    with pipe_stdin() as (stdin, _), trio.fail_after(5):
        server = TermServer(LineReader(stdin), "kid", stdout=io.StringIO())
        with pytest.raises(MsgTypeError, match="of actor 'kid'"):
            await server.on_item(encode(TermLine(line="up the wrong way\n")))
        with pytest.raises(MsgTypeError, match="of actor 'kid'"):
            await server.on_item({"text": "not a terminal message"})


# -- a relay ---------------------------------------------------------------------------


async def test_a_relay_forwards_both_ways_and_checks_each_message() -> None:
    up, down = FakeStream(), FakeStream()
    relay = TermRelay(as_stream(up), "gkid")
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(relay.run, as_stream(down))
            request = encode(TermRead(text="(Pdb) "))
            await relay.on_item(request)
            assert up.sent == [request]
            answer = encode(TermLine(line="p y\n"))
            up.feed(answer)
            await down.sent_one.wait()
            assert down.sent == [answer]
            with pytest.raises(MsgTypeError):
                await relay.on_item(encode(TermLine(line="wrong way\n")))
            # The root's side ends: no answer can come, the REPL below reads EOF.
            up.end()
        assert down.closed


async def test_a_relay_ends_the_repl_below_on_a_malformed_answer() -> None:
    up, down = FakeStream(), FakeStream()
    relay = TermRelay(as_stream(up), "gkid")
    up.feed(b"\xc1")
    with trio.fail_after(5):
        await relay.run(as_stream(down))
    assert down.sent == []
    assert down.closed


async def test_without_greenback_a_proxied_repl_is_told_to_use_a_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentree.devx._proxy import greenback_portal

    assert await greenback_portal()
    monkeypatch.setitem(sys.modules, "greenback", None)
    assert not await greenback_portal()
