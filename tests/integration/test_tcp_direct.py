"""Direct connections between actors that reach each other only over TCP.

A program that joins a tree over TCP has no UDS socket in the tree's private
directory (it may run on another host): it listens on TCP itself, the registry
records that address and its host id, and discovery hands it to askers, which
connect to it directly with the tree's handshake. These tests check that a call
found by name goes over a connection between the two programs themselves (both
ends of the socket are theirs, the root is not in between), on loopback and across
two network namespaces, and that the tree's secret still guards those listeners.
"""

from __future__ import annotations

import json
from typing import Any

import trio

import agentree
from agentree._ipc._hostid import host_id
from agentree._runtime._tcp import parse_tcp

from . import _tcp_funcs
from ._tcp_helpers import ROOT as REPO
from ._tcp_helpers import start_program
from .test_tcp_netns import Netns, netns  # noqa: F401  (the fixture)

SECRET = b"direct-tcp-test-secret-012345678"
HUB_SCRIPT = f"{REPO}/tests/integration/scripts/tcp_hub.py"


def _config(name: str, **extra: object) -> dict[str, object]:
    host, port = agentree.tree_address() or ("", 0)
    return {"host": host, "port": port, "secret": SECRET.hex(), "name": name, **extra}


def _check_direct(found: dict[str, Any], x_tcp: str) -> None:
    """``Y`` called ``X`` over a TCP connection of its own to ``X``'s listener."""
    callee, caller = found["callee"], found["caller"]
    assert callee["me"] == "X"
    # X served the call on a connection from Y, not from the root (no relay).
    assert callee["peer"] == "Y"
    assert callee["family"] == caller["family"] == "AF_INET"
    # One socket, seen from both ends: Y's end is X's peer, X's listener is Y's peer.
    assert callee["remote"] == caller["local"]
    where = parse_tcp(x_tcp)
    assert caller["remote"] == [where.host, where.port]
    assert found["addr"] == x_tcp


async def test_joined_programs_find_and_call_each_other_directly() -> None:
    with trio.fail_after(60):
        async with agentree.open_root_actor(
            bind=("127.0.0.1", 0), secret=SECRET, enable_modules=["tests.integration._tcp_funcs"]
        ):
            x = await start_program(_config("X"))
            await x.expect("joined")
            entry = await agentree._discovery.wait_for("X")
            assert entry.addr == ""
            assert entry.host == host_id()
            assert entry.tcp.startswith("127.0.0.1:")
            y = await start_program(_config("Y"))
            await y.expect("joined")
            async with agentree.wait_for_actor("Y") as portal:
                found = await portal.run(_tcp_funcs.call_by_name, name="X")
            _check_direct(found, entry.tcp)
            # A third program joins as X's child (redirected to X's own listener) and
            # the root, its grandparent, reaches it by name over TCP.
            z = await start_program(_config("Z", parent="X"))
            await z.expect("joined")
            async with agentree.find_actor("Z") as z_portal:
                assert z_portal is not None
                assert await z_portal.run(_tcp_funcs.whoami) == "Z"
                seen = await z_portal.run(_tcp_funcs.who_called)
                assert seen["peer"] == "root"
                assert seen["family"] == "AF_INET"
            # And a client reaches X by name through connect(actor=...).
            client = await start_program(_config("client", parent="X", mode="connect"))
            assert (await client.expect("hub"))[1] == "X"
            assert await client.stop() == 0
        for program in (z, y, x):
            await program.expect("stopped")
            assert await program.stop() == 0


async def test_a_program_on_another_host_reaches_an_actor_spawned_under_the_root() -> None:
    with trio.fail_after(60):
        async with agentree.open_nursery(bind=("127.0.0.1", 0), secret=SECRET) as an:
            await an.start_actor("hub", enable_modules=["tests.integration._tcp_funcs"])
            hub = await agentree._discovery.lookup("hub")
            assert hub is not None
            assert hub.tcp == ""
            assert hub.host == host_id()
            # Y says it runs on another host: hub's UDS socket is not for it.
            y = await start_program(_config("Y", host_id="another-host"))
            await y.expect("joined")
            assert (await agentree._discovery.lookup("Y")).host == "another-host"  # type: ignore[union-attr]
            async with agentree.wait_for_actor("Y") as portal:
                found = await portal.run(_tcp_funcs.call_by_name, name="hub")
            callee, caller = found["callee"], found["caller"]
            # hub was asked to listen on the root's interface and Y connected to it.
            assert callee["me"] == "hub"
            assert callee["peer"] == "Y"
            assert callee["family"] == caller["family"] == "AF_INET"
            assert callee["remote"] == caller["local"]
            hub = await agentree._discovery.lookup("hub")
            assert hub is not None
            assert hub.tcp == f"127.0.0.1:{caller['remote'][1]}"
        await y.expect("stopped")
        assert await y.stop() == 0


async def test_the_root_bound_on_every_interface_is_reached_through_locate() -> None:
    with trio.fail_after(60):
        async with agentree.open_root_actor(
            bind=("0.0.0.0", 0), secret=SECRET, enable_modules=["tests.integration._tcp_funcs"]
        ):
            root = await agentree._discovery.lookup("root")
            assert root is not None
            assert root.tcp == ""
            x = await start_program(_config("X"))
            await x.expect("joined")
            # Y, a child of X posing as another host, finds the root by name: X
            # locates it (listening on every interface) at the address X reaches it at.
            y = await start_program(_config("Y", parent="X", host_id="another-host", find="root"))
            words = await y.expect("found")
            found = json.loads(" ".join(words[1:]))
            callee, caller = found["callee"], found["caller"]
            assert callee["me"] == "root"
            assert callee["peer"] == "Y"
            assert callee["family"] == caller["family"] == "AF_INET"
            assert callee["remote"] == caller["local"]
            assert caller["remote"][1] == (agentree.tree_address() or ("", 0))[1]
        for program in (y, x):
            await program.expect("stopped")
            assert await program.stop() == 0


async def test_a_joined_programs_listener_refuses_a_wrong_secret() -> None:
    with trio.fail_after(60):
        async with agentree.open_root_actor(bind=("127.0.0.1", 0), secret=SECRET):
            x = await start_program(_config("X"))
            await x.expect("joined")
            where = parse_tcp((await agentree._discovery.wait_for("X")).tcp)
            config = _config("intruder", port=where.port, secret=(b"z" * 32).hex())
            intruder = await start_program(config)
            assert (await intruder.expect("refused"))[1] == "AuthenticationError"
            assert await intruder.stop() == 2
            assert await agentree._discovery.lookup("intruder") is None
            # X still serves: a program with the secret joins it directly.
            friend = await start_program(_config("friend", port=where.port))
            await friend.expect("joined")
            entry = await agentree._discovery.wait_for("friend")
            assert entry.tcp.startswith("127.0.0.1:")
        for program in (friend, x):
            await program.expect("stopped")
            assert await program.stop() == 0


async def test_programs_in_another_namespace_call_each_other_directly(
    netns: Netns,  # noqa: F811
) -> None:
    with trio.fail_after(90):
        root = await start_program(
            {"host": netns.ip_a, "secret": SECRET.hex()},
            prefix=netns.exec_in(netns.a),
            script=HUB_SCRIPT,
        )
        port = int((await root.expect("listening"))[1])
        join = {"host": netns.ip_a, "port": port, "secret": SECRET.hex()}
        x = await start_program({**join, "name": "X"}, prefix=netns.exec_in(netns.b))
        await x.expect("joined")
        words = await root.expect("entry")
        x_tcp, x_addr = words[1], words[2]
        # X has no UDS address in the tree, and is registered where the root saw it from.
        assert x_addr == "-"
        where = parse_tcp(x_tcp)
        assert where.host == netns.ip_b

        intruder = await start_program(
            {**join, "host": where.host, "port": where.port, "name": "bad", "secret": "7a" * 32},
            prefix=netns.exec_in(netns.b),
        )
        assert (await intruder.expect("refused"))[1] == "AuthenticationError"
        assert await intruder.stop() == 2

        y = await start_program({**join, "name": "Y"}, prefix=netns.exec_in(netns.b))
        await y.expect("joined")
        assert root.proc.stdin is not None
        await root.proc.stdin.send_all(b"go\n")
        words = await root.expect("direct")
        found = json.loads(" ".join(words[1:]))
        _check_direct(found, x_tcp)
        # Y called from its own address in namespace B, not through the root in A.
        assert found["callee"]["remote"][0] == netns.ip_b
        for program in (y, x):
            await program.expect("stopped")
            assert await program.stop() == 0
        assert await root.stop() == 0
