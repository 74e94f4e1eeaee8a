"""Trees over TCP on one machine (loopback): programs started separately join a tree.

The root listens with ``open_root_actor(bind=..., secret=...)``; ``scripts/tcp_join.py``
is a program started on its own that joins it (``agentree.join_tree``) or reaches one
of its actors (``agentree.connect``). The secret goes to it on stdin.
"""

from __future__ import annotations

import logging

import pytest
import trio

import agentree
from agentree._ipc import TcpAddress, authenticate_client
from agentree.testing import raises_one

from . import _tcp_funcs
from ._tcp_helpers import start_program

SECRET = b"loopback-test-secret-0123456789"
FUNCS = ["tests.integration._tcp_funcs"]


async def _read_until_closed(stream: trio.SocketStream) -> bytes:
    """What the peer sends until it closes (an end of file or a reset)."""
    data = b""
    try:
        while chunk := await stream.receive_some():
            data += chunk
    except trio.BrokenResourceError:
        pass
    await stream.aclose()
    return data


def _config(name: str, **extra: object) -> dict[str, object]:
    host, port = agentree.tree_address() or ("", 0)
    return {"host": host, "port": port, "secret": SECRET.hex(), "name": name, **extra}


async def test_a_program_joins_the_root_and_is_stopped_with_the_tree() -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(
            bind=("127.0.0.1", 0), secret=SECRET, enable_modules=FUNCS
        ):
            assert agentree.tree_secret() == SECRET
            program = await start_program(_config("joiner"))
            await program.expect("joined")
            async with agentree.wait_for_actor("joiner") as portal:
                assert await portal.run(_tcp_funcs.whoami) == "joiner"
                pid = await portal.run(_tcp_funcs.pid)
                assert pid == program.proc.pid
                # The joined program reaches the root through discovery.
                assert await portal.run(_tcp_funcs.call_root_whoami) == "root"
                with raises_one(agentree.RemoteActorError) as info:
                    await portal.run(_tcp_funcs.fail, msg="over tcp")
                assert info.value.boxed_type is ValueError
                async with portal.open_stream_from(_tcp_funcs.count, n=100) as stream:
                    assert [i async for i in stream] == list(range(100))
        # The tree's end stopped it: its block ended quietly.
        await program.expect("stopped")
        assert await program.stop() == 0


async def test_a_program_joins_a_named_actor_found_through_discovery() -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(bind=("127.0.0.1", 0), secret=SECRET) as an:
            hub = await an.start_actor("hub", enable_modules=FUNCS)
            program = await start_program(_config("leaf", parent="hub"))
            await program.expect("joined")
            # The leaf is the hub's child: the hub reaches it, and it is in the registry.
            entry = await agentree._discovery.wait_for("leaf")
            assert entry.uid[0] == "leaf"
            assert await hub.run(_tcp_funcs.call_leaf) == "leaf"
        await program.expect("stopped")
        assert await program.stop() == 0


async def test_connect_gives_a_portal_to_an_actor_by_name() -> None:
    with trio.fail_after(40):
        async with agentree.open_nursery(bind=("127.0.0.1", 0), secret=SECRET) as an:
            await an.start_actor("hub", enable_modules=FUNCS)
            program = await start_program(_config("client", parent="hub", mode="connect"))
            words = await program.expect("hub")
            assert words[1] == "hub"
            assert await program.stop() == 0


async def test_a_wrong_secret_is_refused_and_the_tree_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="agentree")
    with trio.fail_after(40):
        async with agentree.open_nursery(bind=("127.0.0.1", 0), secret=SECRET) as an:
            config = _config("intruder")
            config["secret"] = (b"x" * 32).hex()
            intruder = await start_program(config)
            words = await intruder.expect("refused")
            assert words[1] == "AuthenticationError"
            assert await intruder.stop() == 2
            assert await agentree._discovery.lookup("intruder") is None
            # The tree still serves, and a program with the secret still joins.
            portal = await an.start_actor("after", enable_modules=FUNCS)
            assert await portal.run(_tcp_funcs.whoami) == "after"
            program = await start_program(_config("friend"))
            await program.expect("joined")
        await program.expect("stopped")
        assert await program.stop() == 0
    # Nothing logged the secrets, right or wrong.
    assert caplog.records
    for secret in (SECRET, b"x" * 32):
        assert secret.hex() not in caplog.text
        assert secret.decode() not in caplog.text


async def test_an_unauthenticated_peer_is_dropped_before_anything_is_read() -> None:
    with trio.fail_after(30):
        async with agentree.open_root_actor(bind=("127.0.0.1", 0), secret=SECRET):
            host, port = agentree.tree_address() or ("", 0)
            stream = await trio.open_tcp_stream(host, port)
            hello = await stream.receive_some(64)
            assert hello.startswith(b"AGTR1")
            # A msgpack frame where the handshake's answer should be: refused.
            await stream.send_all(b"\x00\x00\x00\x10" + b"\x91\xa4spec" * 20)
            assert await _read_until_closed(stream) == b""


async def test_a_frame_over_the_limit_closes_the_peer_not_the_tree() -> None:
    with trio.fail_after(30):
        async with agentree.open_root_actor(
            bind=("127.0.0.1", 0), secret=SECRET, max_frame_size=64 * 1024
        ):
            host, port = agentree.tree_address() or ("", 0)
            stream = await trio.open_tcp_stream(host, port)
            await authenticate_client(stream, SECRET)
            # Authenticated, then a header announcing a 2 GiB frame: the channel
            # closes without reading (or allocating) it.
            await stream.send_all((2**31).to_bytes(4, "big"))
            assert await _read_until_closed(stream) == b""
            # The root goes on: another peer authenticates.
            again = await trio.open_tcp_stream(host, port)
            await authenticate_client(again, SECRET)
            await again.aclose()


async def test_a_joined_program_whose_connection_breaks_sees_it_lost() -> None:
    with trio.fail_after(40):
        async with agentree.open_root_actor(bind=("127.0.0.1", 0), secret=SECRET) as root:
            program = await start_program(_config("fragile"))
            await program.expect("joined")
            side = root.tcp
            assert side is not None
            (conn,) = side.joined
            # The channel ends without a cancel request: the program is lost.
            await conn.chan.aclose()
            words = await program.expect("lost")
            assert "lost its parent" in " ".join(words)
            assert await program.stop() == 3
            with trio.fail_after(5):
                while await agentree._discovery.lookup("fragile") is not None:
                    await agentree._runtime._registry.current_actor().registry.changed("fragile")


async def test_join_tree_refuses_an_address_nobody_listens_on() -> None:
    with trio.fail_after(30):
        async with agentree.open_root_actor(bind=("127.0.0.1", 0), secret=SECRET):
            host, port = agentree.tree_address() or ("", 0)
        config = {"host": host, "port": port, "secret": SECRET.hex(), "name": "late"}
        program = await start_program(config)
        await program.expect("lost")
        assert await program.stop() == 3


def test_tree_address_is_parsed_from_a_string() -> None:
    from agentree._join import _parse_address

    assert _parse_address("10.0.0.1:4000") == TcpAddress("10.0.0.1", 4000)
    assert _parse_address(("h", 1)) == TcpAddress("h", 1)
