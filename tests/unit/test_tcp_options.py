"""TCP trees and the Ray start method: options, the heartbeat, the blocking handshake."""

from __future__ import annotations

import socket
import types

import pytest
import trio

import agentree
from agentree._ipc import authenticate_server
from agentree._ipc._auth_blocking import authenticate_client_blocking
from agentree._ipc._heartbeat import HEARTBEAT_IDLE, HEARTBEAT_TIMEOUT, set_heartbeat
from agentree._options import check_root_options
from agentree._runtime import RuntimeOptions
from agentree._spawn._placement import check_placement

SECRET = b"unit-test-secret-0123456789abcdef"


def test_heartbeat_turns_on_keepalive_probes_and_the_user_timeout() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        set_heartbeat(sock)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == HEARTBEAT_IDLE
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == HEARTBEAT_IDLE
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == int(
            HEARTBEAT_TIMEOUT * 1000
        )


def test_heartbeat_leaves_unix_sockets_alone() -> None:
    one, two = socket.socketpair(socket.AF_UNIX)
    with one, two:
        set_heartbeat(one)
        assert one.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


@pytest.mark.parametrize("bind", [("h",), ("h", -1), ("h", 70000), (1, 2), "h:1", ("h", True)])
def test_a_bad_bind_is_refused(bind: object) -> None:
    with pytest.raises(agentree.InvalidOption, match="bind"):
        check_root_options("open_root_actor()", {"bind": bind})


def test_a_short_secret_is_refused_without_being_shown() -> None:
    with pytest.raises(agentree.InvalidOption, match="secret") as info:
        check_root_options("open_root_actor()", {"secret": "hunter2"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(agentree.InvalidOption, match="secret"):
        check_root_options("open_root_actor()", {"secret": 12345678901234567890})


def test_the_secret_never_shows_in_the_options_repr() -> None:
    assert SECRET.hex() not in repr(RuntimeOptions(secret=SECRET))
    assert repr(SECRET) not in repr(RuntimeOptions(secret=SECRET))


def test_placement_and_start_method_are_checked() -> None:
    with pytest.raises(agentree.InvalidOption, match="start_method"):
        check_placement("start_actor('x')", "rey", None)
    with pytest.raises(agentree.InvalidOption, match="RayPlacement"):
        check_placement("start_actor('x')", "ray", {"num_cpus": 1})
    with pytest.raises(agentree.InvalidOption, match="num_cpus"):
        check_placement("start_actor('x')", "ray", agentree.RayPlacement(num_cpus=-1))
    check_placement("start_actor('x')", "ray", agentree.RayPlacement(num_gpus=1))
    with pytest.raises(agentree.InvalidOption, match="for start_method='ray'"):
        check_placement("start_actor('x')", None, agentree.RayPlacement(), effective="forkserver")


def _fake_ray() -> types.SimpleNamespace:
    def strategy(kind: str):  # type: ignore[no-untyped-def]
        return lambda **kw: (kind, kw)

    strategies = types.SimpleNamespace(
        NodeAffinitySchedulingStrategy=strategy("node"),
        PlacementGroupSchedulingStrategy=strategy("pg"),
    )
    return types.SimpleNamespace(util=types.SimpleNamespace(scheduling_strategies=strategies))


def test_a_placement_becomes_ray_options() -> None:
    ray = _fake_ray()
    placement = agentree.RayPlacement(
        num_cpus=1, memory=2**20, resources={"ssd": 1}, runtime_env={"pip": ["x"]}
    )
    assert placement.ray_options(ray) == {
        "num_cpus": 1,
        "memory": 2**20,
        "resources": {"ssd": 1},
        "runtime_env": {"pip": ["x"]},
    }
    pinned = agentree.RayPlacement(node_id="ab12", soft=True).ray_options(ray)
    assert pinned == {"scheduling_strategy": ("node", {"node_id": "ab12", "soft": True})}
    group = agentree.RayPlacement(placement_group="pg", bundle_index=1).ray_options(ray)
    assert group["scheduling_strategy"] == (
        "pg",
        {"placement_group": "pg", "placement_group_bundle_index": 1},
    )
    with pytest.raises(ValueError, match="not both"):
        agentree.RayPlacement(node_id="a", placement_group="pg").ray_options(ray)


@pytest.mark.parametrize("right", [True, False])
async def test_the_blocking_handshake_speaks_the_tree_protocol(right: bool) -> None:
    ours, theirs = socket.socketpair()
    theirs.setblocking(True)
    stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
    key = SECRET if right else b"wrong-secret-0123456789abcdef012"
    outcome: list[BaseException | None] = []

    def client() -> None:
        try:
            authenticate_client_blocking(theirs, key)
            outcome.append(None)
        except agentree.AuthenticationError as exc:
            outcome.append(exc)
        finally:
            theirs.close()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.to_thread.run_sync, client)
            if right:
                await authenticate_server(stream, SECRET)
            else:
                with pytest.raises(agentree.AuthenticationError, match="wrong secret"):
                    await authenticate_server(stream, SECRET)
                await stream.aclose()
    await stream.aclose()
    assert (outcome[0] is None) is right
