"""A default-way child of a Ray-hosted actor on "another host" is reached over TCP.

The Ray-hosted actor ``R`` is told it runs on another host (``AGENTREE_HOST_ID``
through Ray's ``runtime_env``; its children inherit it) and spawns ``C`` the
default way. The root's default-way child ``X`` finds ``C`` by name and calls it
over a TCP connection of its own: ``C`` listens on the interface of ``R``'s TCP
link to the root (``SpawnSpec.tcp_interface``). One local Ray for the module, as
in ``test_ray_spawn`` (its fixtures); skipped without the ``ray`` extra.
"""

from __future__ import annotations

import trio

import agentree

from . import _reach_funcs, _tcp_funcs
from .test_ray_spawn import agentree_leak_check, ray_session  # noqa: F401  (fixtures)
from .test_tcp_reach import check_direct

TIMEOUT = 60


async def test_a_default_way_child_of_a_ray_hosted_actor_is_reached_from_another_host() -> None:
    far_env = {"env_vars": {"AGENTREE_HOST_ID": "ray-node-test"}}
    with trio.fail_after(TIMEOUT):
        async with agentree.open_nursery() as an:
            x = await an.start_actor("X", enable_modules=_reach_funcs.FUNCS)
            r = await an.start_actor(
                "R",
                enable_modules=_reach_funcs.FUNCS,
                start_method="ray",
                placement=agentree.RayPlacement(runtime_env=far_env),
            )
            async with r.open_context(_reach_funcs.hold_child, name="C") as (ctx, _):
                found = await x.run(_tcp_funcs.call_by_name, name="C")
                # Over TCP (C is on another host), on a connection of X's own.
                check_direct(found, "C", "X")
                entry = await agentree._discovery.lookup("C")
                assert entry is not None
                assert entry.host == "ray-node-test"
                assert entry.tcp == found["addr"]
                await ctx.cancel()
            await an.cancel()
