"""start_method="ray" on a two-node Ray cluster on this machine (Ray's test utilities).

The head node has the custom resource ``head_node``, the second ``node_b``. A child
is placed on the node its :class:`~agentree.RayPlacement` asks for, which the test
checks from the process tree (the child's raylet ancestor names its node); and
when a root with Ray-hosted children is SIGKILLed, every child process and every
host actor goes (``/proc`` and Ray's GCS state). Skipped without the ``ray`` extra.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from typing import Any

import psutil
import pytest
import trio

import agentree

from . import _tcp_funcs
from ._checks import alive, processes, wait_gone
from ._ray_checks import live_hosts, reap_after_ray, reap_zombies, wait_all_gone
from ._tcp_helpers import ROOT, start_program

ray = pytest.importorskip("ray", reason="the ray extra is not installed", exc_type=ImportError)

TIMEOUT = 90
SCRIPT = os.path.join(ROOT, "tests", "integration", "scripts", "ray_root.py")
_NODE_ARGS = {"object_store_memory": 80 * 1024 * 1024}


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from ray.cluster_utils import Cluster

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {"head_node": 1},
            "include_dashboard": False,
            **_NODE_ARGS,
        },
    )
    try:
        cluster.add_node(num_cpus=1, resources={"node_b": 1}, **_NODE_ARGS)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        try:
            yield cluster
        finally:
            ray.shutdown()
    finally:
        cluster.shutdown()
        reap_after_ray(before)


@pytest.fixture(autouse=True)
def agentree_leak_check(cluster: Any) -> Iterator[None]:
    """Nothing of agentree left: processes and host actors (Ray's own stay)."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    left = wait_all_gone(ray, before)
    reap_zombies(before)
    assert not left, f"left behind: {left}"


def _node_of(resource: str) -> str:
    for node in ray.nodes():
        if node["Alive"] and resource in node["Resources"]:
            return str(node["NodeID"])
    raise AssertionError(f"no live node has {resource!r}")


def _raylet_node_id(pid: int) -> str:
    """The node id of the raylet above process ``pid`` (which node runs it)."""
    proc: psutil.Process | None = psutil.Process(pid)
    while proc is not None:
        match = re.search(r"--node_id=([0-9a-f]+)", " ".join(proc.cmdline()))
        if match and "raylet" in proc.name():
            return match.group(1)
        proc = proc.parent()
    raise AssertionError(f"pid {pid} does not run under a raylet")


async def test_children_run_on_the_nodes_their_placement_names() -> None:
    head, node_b = _node_of("head_node"), _node_of("node_b")
    assert head != node_b
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method="ray") as an:
            on_b = await an.start_actor(
                "on-b", placement=agentree.RayPlacement(resources={"node_b": 1})
            )
            pinned = await an.start_actor(
                "pinned", placement=agentree.RayPlacement(node_id=head, num_cpus=1)
            )
            for portal, node in ((on_b, node_b), (pinned, head)):
                child = portal._child
                assert child is not None
                assert child.proc.node_id == node  # type: ignore[attr-defined]
                assert _raylet_node_id(child.pid) == node
                assert await portal.ping(timeout=10) >= 0


async def test_sigkill_of_the_root_takes_its_ray_hosted_children() -> None:
    env_address = ray.get_runtime_context().gcs_address
    with trio.fail_after(TIMEOUT):
        os.environ["RAY_ADDRESS"] = env_address
        try:
            root = await start_program(["node_b", "head_node"], script=SCRIPT)
        finally:
            del os.environ["RAY_ADDRESS"]
        children = []
        while (words := await root.expect_one_of("child", "ready"))[0] == "child":
            children.append((int(words[1]), words[2]))
        assert len(children) == 2
        procs = processes(pid for pid, _ in children)
        assert len(alive(procs)) == 2
        assert len(live_hosts(ray)) == 2
        root.proc.send_signal(signal.SIGKILL)
        await root.stop()
        # The children see end of file on their TCP channel; Ray ends the hosts of
        # a dead driver.
        await wait_gone(procs)
        left = await trio.to_thread.run_sync(lambda: wait_all_gone(ray, set(), timeout=60))
        assert not left, left
        assert not live_hosts(ray)


async def test_a_sibling_finds_a_ray_hosted_actor_on_another_node_over_tcp() -> None:
    # Both nodes run on this machine: the far child is told it runs on another
    # host (AGENTREE_HOST_ID through Ray's runtime_env), which forces the TCP path.
    funcs = ["tests.integration._tcp_funcs"]
    far_env = {"env_vars": {"AGENTREE_HOST_ID": "node-b-test"}}
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery(start_method="ray") as an:
            await an.start_actor(
                "far",
                enable_modules=funcs,
                placement=agentree.RayPlacement(resources={"node_b": 1}, runtime_env=far_env),
            )
            near = await an.start_actor(
                "near",
                enable_modules=funcs,
                placement=agentree.RayPlacement(resources={"head_node": 1}),
            )
            # far registers its TCP address once it listens (just after its start).
            registry = agentree.current_actor().registry
            assert registry is not None
            while (entry := await agentree._discovery.lookup("far")) is None or not entry.tcp:
                await registry.changed("far")
            assert entry.host == "node-b-test"
            assert entry.tcp
            found = await near.run(_tcp_funcs.call_by_name, name="far")
            callee, caller = found["callee"], found["caller"]
            assert callee["me"] == "far"
            # far served the call on a connection from near itself, over TCP, to
            # the address far registered: a direct connection, not via the root.
            assert callee["peer"] == "near"
            assert callee["family"] == caller["family"] == "AF_INET"
            assert callee["remote"] == caller["local"]
            assert f"{caller['remote'][0]}:{caller['remote'][1]}" == entry.tcp
            assert found["addr"] == entry.tcp
