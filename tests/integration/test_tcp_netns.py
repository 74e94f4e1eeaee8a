"""A tree across two network namespaces joined by a veth pair: a cable to cut.

The test makes the namespaces and the veth pair itself (it needs root and
``ip netns``; skipped with the reason otherwise) and removes them after. A root
listens in one namespace (``scripts/tcp_root.py``), programs join it from the other
(``scripts/tcp_join.py``). Then the cable is cut (``ip link set ... down``) and
both sides must notice within the documented ``LOST_PEER_DEADLINE``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import trio

from agentree._ipc._heartbeat import LOST_PEER_DEADLINE

from ._tcp_helpers import ROOT as REPO
from ._tcp_helpers import start_program

SECRET = b"netns-test-secret-0123456789abcd"
ROOT_SCRIPT = os.path.join(REPO, "tests", "integration", "scripts", "tcp_root.py")
# What a loaded 2-core machine may add to the heartbeat's deadline: scheduling the
# two programs and their printing, never a second probe round.
SLACK = 2.0


class Netns:
    def __init__(self, a: str, b: str, link_b: str) -> None:
        self.a, self.b, self.link_b = a, b, link_b
        self.ip_a, self.ip_b = "10.231.7.1", "10.231.7.2"

    def exec_in(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[Netns]:
    tag = f"{os.getpid() % 100000}"
    a, b = f"agt-a{tag}", f"agt-b{tag}"
    link_a, link_b = f"agta{tag}", f"agtb{tag}"
    try:
        _ip("netns", "add", a)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(
            f"network namespaces unavailable (needs root and `ip netns`): {exc} {detail!r}"
        )
    try:
        _ip("netns", "add", b)
        _ip("link", "add", link_a, "type", "veth", "peer", "name", link_b)
        _ip("link", "set", link_a, "netns", a)
        _ip("link", "set", link_b, "netns", b)
        _ip("-n", a, "addr", "add", "10.231.7.1/24", "dev", link_a)
        _ip("-n", b, "addr", "add", "10.231.7.2/24", "dev", link_b)
        for ns, link in ((a, link_a), (b, link_b)):
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "link", "set", link, "up")
    except (OSError, subprocess.SubprocessError) as exc:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
        detail = getattr(exc, "stderr", b"") or b""
        pytest.skip(f"cannot build the veth pair between namespaces: {exc} {detail!r}")
    try:
        yield Netns(a, b, link_b)
    finally:
        # Deleting a namespace deletes the veth end in it, and so the pair.
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


async def test_a_tree_across_namespaces_refuses_a_wrong_secret_and_sees_a_cut_cable(
    netns: Netns,
) -> None:
    with trio.fail_after(60):
        root = await start_program(
            {"host": netns.ip_a, "secret": SECRET.hex()},
            prefix=netns.exec_in(netns.a),
            script=ROOT_SCRIPT,
        )
        port = int((await root.expect("listening"))[1])
        join = {"host": netns.ip_a, "port": port, "name": "joiner"}

        intruder = await start_program(
            {**join, "secret": (b"y" * 32).hex()}, prefix=netns.exec_in(netns.b)
        )
        assert (await intruder.expect("refused"))[1] == "AuthenticationError"
        assert await intruder.stop() == 2

        program = await start_program(
            {**join, "secret": SECRET.hex()}, prefix=netns.exec_in(netns.b)
        )
        await program.expect("joined")
        assert (await root.expect("called"))[1] == "joiner"

        cut = time.monotonic()
        _ip("-n", netns.b, "link", "set", netns.link_b, "down")
        root_saw = float((await root.expect("lost"))[1])
        program_saw = float((await program.expect("lost"))[1])
        assert root_saw - cut <= LOST_PEER_DEADLINE + SLACK, root_saw - cut
        assert program_saw - cut <= LOST_PEER_DEADLINE + SLACK, program_saw - cut
        print(
            f"cut seen by the root after {root_saw - cut:.2f} s, "
            f"by the joined program after {program_saw - cut:.2f} s"
        )
        assert await program.stop() == 3
        assert await root.stop() == 0
