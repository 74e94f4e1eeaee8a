"""L2 transports: private dirs, UDS and TCP listeners, and the HMAC handshake.

Listener tests use real loopback sockets; handshake tests also run directly on
in-memory stream pairs. Every timeout is short, and every test is bounded.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import partial

import pytest
import trio
import trio.testing
from msgspec import Raw

import agentree
from agentree._ipc import (
    Channel,
    TcpAddress,
    UdsAddress,
    _transport,
    authenticate_client,
    authenticate_server,
    connect,
    make_private_dir,
    new_secret,
    open_listener,
    remove_private_dir,
    socketpair,
)
from agentree.msg import Stop, Yield, decode_payload, encode

TIMEOUT = 5
SHORT = 0.2
LOCALHOST = "127.0.0.1"
_HELLO = 5 + 32  # magic + server nonce
_REPLY = 32 + 32  # client nonce + client MAC


@contextmanager
def private_dir() -> Iterator[str]:
    """A private agentree temp dir, removed afterwards whatever happens.

    Yields:
        The directory's path.
    """
    path = make_private_dir()
    try:
        yield path
    finally:
        remove_private_dir(path)


@asynccontextmanager
async def accepting(listener: _transport.Listener) -> AsyncIterator[trio.MemoryReceiveChannel]:
    """Run ``listener.accept()`` in a loop in the background.

    Yields:
        A memory channel that receives each accepted :class:`Channel`. Accepted
        channels are closed on exit.
    """
    send, receive = trio.open_memory_channel[Channel](10)
    accepted: list[Channel] = []

    async def loop() -> None:
        while True:
            chan = await listener.accept()
            accepted.append(chan)
            await send.send(chan)

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(loop)
            yield receive
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            for chan in accepted:
                await chan.aclose()


async def exchange(client: Channel, server: Channel) -> None:
    """Check that messages flow both ways between two connected channels.

    Args:
        client: the connecting side.
        server: the accepted side.
    """
    await client.send(Yield(cid=client.next_cid(), pld=encode_raw({"hello": "server"})))
    msg = await server.recv()
    assert isinstance(msg, Yield)
    assert msg.cid % 2 == 1  # the connecting side is the initiator
    assert decode_payload(msg.pld) == {"hello": "server"}
    await server.send(Stop(cid=server.next_cid()))
    assert await client.recv() == Stop(cid=2)


def encode_raw(value: object) -> Raw:
    """Encode ``value`` as a lazily-decoded payload.

    Args:
        value: any msgspec-encodable value.

    Returns:
        ``msgspec.Raw`` of its msgpack encoding.
    """
    return Raw(encode(value))


# -- private dir -----------------------------------------------------------------------


def test_private_dir_is_0700_and_removed() -> None:
    """make_private_dir gives an agentree-* dir only we can enter; removal is total."""
    path = make_private_dir()
    try:
        assert os.path.basename(path).startswith("agentree-")
        mode = os.stat(path).st_mode
        assert stat.S_ISDIR(mode)
        assert stat.S_IMODE(mode) == 0o700
        # Contents go with it.
        os.mkdir(os.path.join(path, "sub"))
        with open(os.path.join(path, "sub", "f"), "w") as f:
            f.write("x")
    finally:
        remove_private_dir(path)
    assert not os.path.exists(path)
    remove_private_dir(path)  # idempotent


def test_private_dirs_are_unique() -> None:
    """Two private dirs never collide."""
    with private_dir() as first, private_dir() as second:
        assert first != second


# -- UDS -------------------------------------------------------------------------------


async def test_uds_listener_round_trip_and_cleanup() -> None:
    """A UDS listener in a private dir accepts a channel; closing it removes the socket."""
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        path = os.path.join(tmp, "listener.sock")
        async with open_listener(UdsAddress(path)) as listener:
            assert listener.address == UdsAddress(path)
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            async with accepting(listener) as accepted:
                client = await connect(UdsAddress(path))
                try:
                    server = await accepted.receive()
                    await exchange(client, server)
                finally:
                    await client.aclose()
        assert not await trio.Path(path).exists()
        assert os.listdir(tmp) == []
    assert not await trio.Path(tmp).exists()


async def test_uds_listener_aclose_removes_socket_file() -> None:
    """Listener.aclose removes the socket file, and a second aclose is harmless."""
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        path = os.path.join(tmp, "l.sock")
        async with open_listener(UdsAddress(path)) as listener:
            await listener.aclose()
            assert not await trio.Path(path).exists()
        assert not await trio.Path(path).exists()


async def test_uds_listener_serves_several_clients() -> None:
    """Clients connecting one after another are each accepted."""
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        path = os.path.join(tmp, "l.sock")
        async with open_listener(UdsAddress(path)) as listener, accepting(listener) as accepted:
            for _ in range(3):
                client = await connect(UdsAddress(path))
                try:
                    await exchange(client, await accepted.receive())
                finally:
                    await client.aclose()


async def test_connect_to_nothing_is_transport_closed() -> None:
    """Connecting where nothing listens raises TransportClosed, from the OSError."""
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        with pytest.raises(agentree.TransportClosed) as info:
            await connect(UdsAddress(os.path.join(tmp, "nobody.sock")))
        assert isinstance(info.value.__cause__, OSError)


def as_stream(end: socket.socket | trio.SocketStream) -> trio.SocketStream:
    """Wrap one end of :func:`socketpair` as a trio stream, if it is a plain socket.

    Args:
        end: a stdlib socket or an already-wrapped trio stream.

    Returns:
        A trio stream over ``end``.
    """
    if isinstance(end, trio.SocketStream):
        return end
    return trio.SocketStream(trio.socket.from_stdlib_socket(end))


async def test_socketpair_carries_a_channel() -> None:
    """The two ends of socketpair talk to each other (and are AF_UNIX)."""
    ours, theirs = socketpair()
    assert theirs.family == socket.AF_UNIX
    left = Channel(as_stream(ours), initiator=True)
    right = Channel(as_stream(theirs))
    try:
        with trio.fail_after(TIMEOUT):
            await exchange(left, right)
    finally:
        await left.aclose()
        await right.aclose()


# -- TCP -------------------------------------------------------------------------------


@asynccontextmanager
async def serving_tcp(
    secret: bytes,
) -> AsyncIterator[tuple[TcpAddress, trio.MemoryReceiveChannel[Channel]]]:
    """A TCP listener on a free loopback port, accepting in the background.

    Args:
        secret: the tree secret the listener requires.

    Yields:
        ``(bound address, channel of accepted Channels)``.
    """
    async with (
        open_listener(TcpAddress(LOCALHOST, 0), secret=secret) as listener,
        accepting(listener) as accepted,
    ):
        assert isinstance(listener.address, TcpAddress)
        yield listener.address, accepted
    # A socket the listener failed to close warns now, in the test that caused it,
    # rather than whenever the garbage collector next runs.
    gc.collect()


async def good_client_gets_through(
    address: TcpAddress, secret: bytes, accepted: trio.MemoryReceiveChannel[Channel]
) -> None:
    """Connect with the right secret, check messages flow, and hang up.

    Args:
        address: where the listener is.
        secret: the listener's secret.
        accepted: where the listener's accepted channels arrive.
    """
    client = await connect(address, secret=secret)
    try:
        await exchange(client, await accepted.receive())
    finally:
        await client.aclose()


async def test_tcp_listener_requires_a_secret() -> None:
    """A TCP listener without a secret (or with an empty one) raises ValueError."""
    for secret in (None, b""):
        cm = open_listener(TcpAddress(LOCALHOST, 0), secret=secret)
        with trio.fail_after(TIMEOUT), pytest.raises(ValueError, match="secret"):
            await cm.__aenter__()


async def test_tcp_round_trip_with_the_right_secret() -> None:
    """With the right secret the handshake passes and messages flow both ways."""
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            assert address.host == LOCALHOST
            assert address.port != 0
            await good_client_gets_through(address, secret, accepted)


async def test_tcp_wrong_secret_is_refused_and_listener_goes_on() -> None:
    """A wrong secret fails connect; the next good client is still accepted."""
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            for _ in range(2):
                with pytest.raises(agentree.AuthenticationError):
                    await connect(address, secret=new_secret())
            await good_client_gets_through(address, secret, accepted)
            # Only the good client came out of accept().
            with pytest.raises(trio.WouldBlock):
                accepted.receive_nowait()


async def test_tcp_connect_without_a_secret_is_a_value_error() -> None:
    """Connecting over TCP without a secret raises ValueError; the listener goes on."""
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            with pytest.raises(ValueError, match="secret"):
                await connect(address)
            await good_client_gets_through(address, secret, accepted)


async def _read_until_eof(stream: trio.abc.Stream) -> bytes:
    """Read from ``stream`` until the peer closes it (or resets it).

    A peer that closes with our unread bytes in its buffer resets the connection:
    that counts as closed too.

    Returns:
        Everything received.
    """
    data = bytearray()
    with contextlib.suppress(trio.BrokenResourceError):
        while chunk := await stream.receive_some():
            data += chunk
    return bytes(data)


@pytest.mark.parametrize(
    "garbage",
    [
        pytest.param(b"\x00" * _REPLY, id="zeros-reply"),
        pytest.param(os.urandom(_REPLY) + b"more", id="random-reply"),
        pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 4, id="http"),
        pytest.param(b"x", id="short-then-hangup"),
        pytest.param(b"", id="hangup"),
    ],
)
async def test_tcp_garbage_client_does_not_break_the_listener(garbage: bytes) -> None:
    """A raw client that sends garbage is dropped; the next good client gets through."""
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            raw = await trio.open_tcp_stream(address.host, address.port)
            try:
                if garbage:
                    await raw.send_all(garbage)
                if len(garbage) >= _REPLY:
                    # The listener drops the connection: hello, then end of file.
                    assert (await _read_until_eof(raw))[:5] == b"AGTR1"
            finally:
                await raw.aclose()
            await good_client_gets_through(address, secret, accepted)


async def test_tcp_stalled_client_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client that never answers is dropped after the handshake timeout.

    The listener takes no timeout argument, so the test shortens it by wrapping
    ``authenticate_server`` where the listener looks it up.
    """
    monkeypatch.setattr(
        _transport, "authenticate_server", partial(authenticate_server, timeout=SHORT)
    )
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            stalled = await trio.open_tcp_stream(address.host, address.port)
            try:
                await good_client_gets_through(address, secret, accepted)
                # The stalled peer got the hello, then was hung up on.
                assert len(await _read_until_eof(stalled)) == _HELLO
            finally:
                await stalled.aclose()


async def test_tcp_stalled_client_does_not_delay_other_clients() -> None:
    """A peer that connects and says nothing must not hold up the next good client.

    The handshake timeout is 5 s by default; a listener that runs one handshake at a
    time makes every other client wait that long behind a silent peer (and a peer
    that reconnects every 5 s locks everyone out). The good client must get through
    well within the default timeout.
    """
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with serving_tcp(secret) as (address, accepted):
            stalled = await trio.open_tcp_stream(address.host, address.port)
            try:
                with trio.fail_after(2):
                    await good_client_gets_through(address, secret, accepted)
            finally:
                await stalled.aclose()


async def test_tcp_pending_handshake_is_closed_with_the_listener() -> None:
    """Closing the listener mid-handshake closes that connection at once.

    The peer sees end of file right away (not whenever the garbage collector gets
    to the socket), and no unclosed socket is left behind to raise ResourceWarning.
    """
    secret = new_secret()
    with trio.fail_after(TIMEOUT):
        async with contextlib.AsyncExitStack() as stack:
            async with serving_tcp(secret) as (address, _accepted):
                stalled = await trio.open_tcp_stream(address.host, address.port)
                stack.push_async_callback(stalled.aclose)
                # Once the hello is here, the listener is inside the handshake.
                hello = await stalled.receive_some(_HELLO)
            with trio.fail_after(1):
                rest = await _read_until_eof(stalled)
    assert len(hello + rest) == _HELLO
    gc.collect()  # an unclosed server-side socket would warn (and fail the test) here


@pytest.mark.parametrize("transport", ["tcp", "uds"])
async def test_unaccepted_peer_is_closed_with_the_listener(transport: str) -> None:
    """A peer that connected but was never accepted is hung up on at listener close."""
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        if transport == "tcp":
            address: TcpAddress | UdsAddress = TcpAddress(LOCALHOST, 0)
            secret: bytes | None = new_secret()
        else:
            address, secret = UdsAddress(os.path.join(tmp, "l.sock")), None
        async with open_listener(address, secret=secret) as listener:
            client = await connect(listener.address, secret=secret)
        try:
            with trio.fail_after(1), pytest.raises(agentree.TransportClosed):
                await client.recv()
        finally:
            await client.aclose()
    gc.collect()


async def test_uds_with_a_secret_interoperates() -> None:
    """A UDS listener and a client given the same secret agree on the handshake.

    Either both run it or neither does; today the listener runs it for any
    transport when it has a secret, while connect runs it for TCP only.
    """
    secret = new_secret()
    with private_dir() as tmp, trio.fail_after(TIMEOUT):
        path = os.path.join(tmp, "l.sock")
        async with (
            open_listener(UdsAddress(path), secret=secret) as listener,
            accepting(listener) as accepted,
        ):
            client = await connect(UdsAddress(path), secret=secret)
            try:
                with trio.fail_after(2):
                    await exchange(client, await accepted.receive())
            finally:
                await client.aclose()


# -- the handshake on memory streams ---------------------------------------------------


class RecordingStream(trio.abc.Stream):
    """Wraps a stream and records every byte sent through it."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner
        self.sent = bytearray()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        """Record, then send."""
        self.sent += data
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        """Delegate."""
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        """Delegate."""
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:
        """Unused."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Delegate."""
        await self.inner.aclose()


async def test_handshake_succeeds_with_the_same_secret() -> None:
    """Both sides pass with the same secret; the secret itself never crosses the wire."""
    secret = new_secret()
    left, right = trio.testing.memory_stream_pair()
    client, server = RecordingStream(left), RecordingStream(right)
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(authenticate_server, server, secret, SHORT * 5)
            await authenticate_client(client, secret, SHORT * 5)
    assert len(server.sent) == _HELLO + 32
    assert len(client.sent) == _REPLY
    assert secret not in bytes(server.sent)
    assert secret not in bytes(client.sent)


async def test_handshake_wrong_secret_fails_on_both_sides() -> None:
    """The server refuses a client with another secret; the client sees the hang-up."""
    left, right = trio.testing.memory_stream_pair()
    errors: list[BaseException] = []

    async def server() -> None:
        try:
            await authenticate_server(right, b"server secret", SHORT * 5)
        except agentree.AuthenticationError as exc:
            errors.append(exc)
            await right.aclose()

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server)
            with pytest.raises(agentree.AuthenticationError, match="hung up"):
                await authenticate_client(left, b"client secret", SHORT * 5)
    assert len(errors) == 1
    assert "wrong secret" in str(errors[0])


async def test_handshake_client_rejects_an_impostor_server() -> None:
    """A server that cannot prove it holds the secret fails the client's check."""
    left, right = trio.testing.memory_stream_pair()

    async def impostor() -> None:
        await right.send_all(b"AGTR1" + os.urandom(32))
        received = 0
        while received < _REPLY:
            received += len(await right.receive_some())
        await right.send_all(os.urandom(32))

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(impostor)
            with pytest.raises(agentree.AuthenticationError, match="listener failed"):
                await authenticate_client(left, new_secret(), SHORT * 5)


async def test_handshake_client_rejects_a_non_agentree_server() -> None:
    """A peer that does not open with the magic is not an agentree listener."""
    left, right = trio.testing.memory_stream_pair()
    await right.send_all(b"SSH-2.0-OpenSSH_9.6\r\n" + b"\x00" * 32)
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.AuthenticationError, match="not an"):
        await authenticate_client(left, new_secret(), SHORT * 5)


@pytest.mark.parametrize("side", ["server", "client"])
async def test_handshake_stall_times_out(side: str) -> None:
    """A peer that never answers makes the handshake fail after ``timeout``."""
    left, _right = trio.testing.memory_stream_pair()
    run = authenticate_server if side == "server" else authenticate_client
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.AuthenticationError, match="within"):
        await run(left, new_secret(), SHORT)


@pytest.mark.parametrize("side", ["server", "client"])
async def test_handshake_hang_up_fails(side: str) -> None:
    """A peer that hangs up mid-handshake makes it fail at once, not at the timeout."""
    left, right = trio.testing.memory_stream_pair()
    if side == "server":
        await right.send_all(b"\x00" * 10)
    else:
        await right.send_all(b"AGTR1" + b"\x00" * 10)
    await right.aclose()
    run = authenticate_server if side == "server" else authenticate_client
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.AuthenticationError):
        await run(left, new_secret(), TIMEOUT * 2)


async def test_handshake_on_a_broken_stream_is_authentication_error() -> None:
    """A stream that fails while sending gives AuthenticationError, not a trio error."""
    left, right = trio.testing.lockstep_stream_pair()
    await right.aclose()
    with trio.fail_after(TIMEOUT), pytest.raises(agentree.AuthenticationError):
        await authenticate_server(left, new_secret(), SHORT)


def test_new_secret_is_fresh() -> None:
    """Secrets are 32 random bytes, different every time."""
    secrets_ = {new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    assert all(isinstance(s, bytes) and len(s) == 32 for s in secrets_)


async def test_socket_channel_reads_whole_split_and_glued_frames() -> None:
    """A channel over a plain socket (the runtime's fast path) frames every split.

    One read bringing exactly one frame is decoded from a view of the read; frames
    glued together or split across reads go through the buffer. Payloads decoded
    lazily must stay intact after later reads.
    """
    ours, theirs = socketpair()
    chan = Channel.from_socket(ours, name="peer")
    theirs.setblocking(True)
    bodies = [encode(Yield(cid=i, pld=Raw(encode({"n": i, "s": "x" * i})))) for i in range(6)]
    frames = [len(body).to_bytes(4, "big") + body for body in bodies]
    try:
        with trio.fail_after(TIMEOUT):
            kept = []
            # Whole frames, one per read.
            for data in frames[:2]:
                theirs.sendall(data)
                kept.append(await chan.recv())
            # Two frames glued in one write, then one split in three writes.
            theirs.sendall(frames[2] + frames[3])
            kept += [await chan.recv(), await chan.recv()]
            theirs.sendall(frames[4][:2])
            async with trio.open_nursery() as nursery:

                async def rest() -> None:
                    await trio.lowlevel.wait_writable(theirs)
                    theirs.sendall(frames[4][2:7])
                    theirs.sendall(frames[4][7:] + frames[5])

                nursery.start_soon(rest)
                kept.append(await chan.recv())
            kept.append(await chan.recv())
            assert [decode_payload(msg.pld) for msg in kept] == [
                {"n": i, "s": "x" * i} for i in range(6)
            ]
            theirs.close()
            with pytest.raises(agentree.TransportClosed):
                await chan.recv()
    finally:
        theirs.close()
        await chan.aclose()


async def test_socket_channel_frames_larger_and_smaller_than_one_read() -> None:
    """The read size follows the frames: large frames (one read each, once the channel
    has seen one), small frames after them, and a burst of large frames sent at once
    all arrive whole and in order."""
    ours, theirs = socketpair()
    chan = Channel.from_socket(ours, name="peer")
    sizes = [70_000, 70_000, 10, 200_000, 5, 70_000, 70_000, 70_000, 3]
    bodies = [encode(Yield(cid=i, pld=Raw(encode(bytes([i]) * n)))) for i, n in enumerate(sizes)]
    wire = b"".join(len(body).to_bytes(4, "big") + body for body in bodies)

    async def send_all() -> None:
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(theirs))
        await stream.send_all(wire)

    try:
        with trio.fail_after(TIMEOUT):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_all)
                got = [decode_payload((await chan.recv()).pld) for _ in sizes]
            assert got == [bytes([i]) * n for i, n in enumerate(sizes)]
    finally:
        theirs.close()
        await chan.aclose()
