"""Discovery reaches every actor of a tree from every host (issue 12's last gap).

A program on "another host" joins the tree and spawns a child ``C`` the default way
(its link to its parent is UDS, its socket file is on that host only). The root's
own default-way child ``X`` (its link to the root is UDS too) finds ``C`` by name
and calls it, and ``C`` finds the root's child ``Y`` and calls it: each over a TCP
connection between the two. ``C`` listens on TCP because it descends from an actor
reached over TCP (``SpawnSpec.tcp_interface``); ``Y`` is asked to by the root when
``C``'s question climbs the tree to it (``_runtime._tcp.locate``).

"Another host" is a network namespace (joined to this one by a veth pair) in a
mount namespace of its own with a private temp dir (a tmpfs over this session's
``TMPDIR``, where every actor's private dir is; not over ``/tmp``, which may hold
the checkout itself): its UDS socket files cannot be reached from here, as on
another machine; ``AGENTREE_HOST_ID`` gives it another host id. The test needs
root, ``ip netns`` and ``unshare`` (skipped otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import trio

import agentree

from . import _tcp_funcs
from ._tcp_helpers import ROOT as REPO
from ._tcp_helpers import Program, start_program

SECRET = b"reach-tcp-test-secret-0123456789"
SCRIPT = os.path.join(REPO, "tests", "integration", "scripts", "tcp_reach.py")
FUNCS = ["tests.integration._tcp_funcs"]
OTHER_HOST = "host-b"


@dataclass
class OtherHost:
    """A network namespace reached from here over a veth pair, with a private temp dir."""

    ns: str
    ip_here: str
    ip_there: str

    def prefix(self) -> list[str]:
        private_tmp = 'mount -t tmpfs tmpfs "$1" && shift && exec "$@"'
        return [
            *("ip", "netns", "exec", self.ns),
            *("unshare", "--mount", "--propagation", "private"),
            *("sh", "-c", private_tmp, "sh", tempfile.gettempdir()),
        ]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def other_host() -> Iterator[OtherHost]:
    tag = os.getpid() % 100000
    net = f"10.233.{tag % 250 + 1}"
    ns, here, there = f"agr-ns{tag}", f"agrh{tag}", f"agrt{tag}"
    try:
        _ip("netns", "add", ns)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        reason = f"network namespaces unavailable (needs root and `ip netns`): {exc} {detail!r}"
        pytest.skip(reason)
    try:
        probe = ["ip", "netns", "exec", ns, "unshare", "--mount", "true"]
        subprocess.run(probe, check=True, capture_output=True, timeout=10)
        _ip("link", "add", here, "type", "veth", "peer", "name", there)
        _ip("link", "set", there, "netns", ns)
        _ip("addr", "add", f"{net}.1/24", "dev", here)
        _ip("-n", ns, "addr", "add", f"{net}.2/24", "dev", there)
        _ip("link", "set", here, "up")
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "set", there, "up")
    except (OSError, subprocess.SubprocessError) as exc:
        subprocess.run(["ip", "link", "del", here], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot build the other host (veth pair, mount namespace): {exc} {detail!r}")
    try:
        yield OtherHost(ns, f"{net}.1", f"{net}.2")
    finally:
        # Deleting the namespace deletes the veth end in it, and so the pair.
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", here], capture_output=True, check=False)


def check_direct(
    found: dict[str, Any], callee: str, caller: str, caller_ip: str | None = None
) -> None:
    """``caller`` called ``callee`` over a TCP connection between the two of them.

    ``caller_ip``: the caller's end of it, if known.
    """
    seen_by_callee, seen_by_caller = found["callee"], found["caller"]
    assert seen_by_callee["me"] == callee
    assert seen_by_callee["peer"] == caller
    assert seen_by_callee["family"] == seen_by_caller["family"] == "AF_INET"
    # One socket, seen from both ends: no actor in between.
    assert seen_by_callee["remote"] == seen_by_caller["local"]
    if caller_ip is not None:
        assert seen_by_caller["local"][0] == caller_ip
    assert found["addr"] == "{}:{}".format(*seen_by_caller["remote"])


async def test_default_way_children_on_two_hosts_find_and_call_each_other(
    other_host: OtherHost,
) -> None:
    j: Program | None = None
    try:
        with trio.fail_after(90):
            async with (
                agentree.open_root_actor(
                    bind=(other_host.ip_here, 0), secret=SECRET, enable_modules=FUNCS
                ),
                agentree.open_nursery() as an,
            ):
                x = await an.start_actor("X", enable_modules=FUNCS)
                await an.start_actor("Y", enable_modules=FUNCS)
                assert (await agentree._discovery.lookup("Y")).tcp == ""  # type: ignore[union-attr]
                host, port = agentree.tree_address() or ("", 0)
                config = {
                    "host": host,
                    "port": port,
                    "secret": SECRET.hex(),
                    "name": "J",
                    "child": "C",
                    "host_id": OTHER_HOST,
                    "find": "Y",
                }
                j = await start_program(config, prefix=other_host.prefix(), script=SCRIPT)
                await j.expect("spawned")
                # X (UDS to the root) finds C (UDS to J, on the other host) by name.
                found = await x.run(_tcp_funcs.call_by_name, name="C")
                check_direct(found, "C", "X", other_host.ip_here)
                assert found["caller"]["remote"][0] == other_host.ip_there
                c = await agentree._discovery.lookup("C")
                assert c is not None
                assert c.host == OTHER_HOST
                assert c.tcp == found["addr"]
                # And C finds Y: its question climbs to the root, which asks Y to listen.
                assert j.proc.stdin is not None
                await j.proc.stdin.send_all(b"go\n")
                words = await j.expect("found")
                back = json.loads(" ".join(words[1:]))
                check_direct(back, "Y", "C", other_host.ip_there)
                assert back["caller"]["remote"][0] == other_host.ip_here
                await an.cancel()
            await j.expect("stopped")
            assert await j.stop() == 0
    finally:
        if j is not None:
            with trio.CancelScope(shield=True):
                await j.stop()


async def test_a_child_told_to_listen_registers_its_address_and_a_failure_only_warns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentree._ipc._hostid import host_id
    from agentree._spawn import _spawner

    from . import _reach_funcs

    with trio.fail_after(60):
        async with agentree.open_nursery() as an:
            # A local tree: its children do not listen on TCP.
            local = await an.start_actor("local", enable_modules=_reach_funcs.FUNCS)
            assert await local.run(_reach_funcs.tcp_state) == {"interface": "", "address": None}
            # As if this actor were reached over TCP: its children listen on its interface.
            monkeypatch.setattr(_spawner, "tcp_interface", lambda parent: "127.0.0.1")
            told = await an.start_actor("told", enable_modules=_reach_funcs.FUNCS)
            state = await told.run(_reach_funcs.tcp_state)
            assert state["interface"] == "127.0.0.1"
            registry = agentree.current_actor().registry
            assert registry is not None
            while not (entry := await agentree._discovery.wait_for("told")).tcp:
                await registry.changed("told")
            assert entry.tcp == "127.0.0.1:{}".format(state["address"][1])  # type: ignore[index]
            assert entry.host == host_id()
            # An interface it cannot listen on: a warning in its log, and it serves on.
            monkeypatch.setattr(_spawner, "tcp_interface", lambda parent: "192.0.2.77")
            stray = await an.start_actor("stray", enable_modules=_reach_funcs.FUNCS)
            state = await stray.run(_reach_funcs.tcp_state)
            assert state == {"interface": "192.0.2.77", "address": None}
            assert await stray.run(_tcp_funcs.whoami) == "stray"
            assert (await agentree._discovery.lookup("stray")).tcp == ""  # type: ignore[union-attr]
            await an.cancel()
