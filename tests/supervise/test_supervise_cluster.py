"""open_actor_cluster: tractor's cluster of daemon actors."""

from __future__ import annotations

import os

import pytest
import trio

import agentree

from . import _cluster_funcs

TIMEOUT = 60


async def test_cluster_starts_named_actors_and_stops_them() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_actor_cluster(
            modules=[_cluster_funcs.__name__], count=3
        ) as portals:
            assert list(portals) == ["worker_0", "worker_1", "worker_2"]
            pids = {await p.run(_cluster_funcs.whoami) for p in portals.values()}
            assert len(pids) == 3
            assert os.getpid() not in pids
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)


async def test_cluster_names_and_hard_kill() -> None:
    with trio.fail_after(TIMEOUT):
        async with agentree.open_actor_cluster(
            modules=[_cluster_funcs.__name__], names=["a", "b"], hard_kill=True
        ) as portals:
            assert sorted(portals) == ["a", "b"]
        with pytest.raises(ValueError, match="unique names"):
            async with agentree.open_actor_cluster(modules=[], count=2, names=["a"]):
                pass
