"""A three-level tree, root -> child -> grandchild, and an error that climbs it.

The root runs ``spawn_grandchild`` in a child actor; that child opens an actor
nursery of its own and runs ``grandchild_task`` in a grandchild actor, which hits a
``NameError``. The error is boxed in the grandchild, relayed by the child, and
raised in the root as a ``RemoteActorError``. It still knows the original type,
the actor that raised it, and every actor it passed through on the way up.

Run it from the repository root::

    python examples/nested_tree.py
"""

import os

import trio

import agentree


async def grandchild_task() -> None:
    """Fail with a ``NameError``, deep down in the tree."""
    print(f"grandchild: {agentree.current_actor().name!r} in pid {os.getpid()}", flush=True)
    return undefined_name  # type: ignore[name-defined] # noqa: F821


async def spawn_grandchild() -> None:
    """Run ``grandchild_task`` one level further down; its error becomes ours."""
    print(f"child: {agentree.current_actor().name!r} in pid {os.getpid()}", flush=True)
    # Any actor can open a nursery: this makes the child a parent in turn. The block
    # waits for every run_in_actor result on exit and raises a child's error, in an
    # exception group; collapse_eg() re-raises a lone error bare, so the root gets
    # the grandchild's own error (with its relay path) rather than a boxed group.
    async with agentree.trionics.collapse_eg(), agentree.open_nursery() as an:
        await an.run_in_actor(grandchild_task, name="grandchild")


async def main() -> None:
    """Build the tree, catch the grandchild's error in the root and describe it."""
    try:
        async with agentree.open_nursery() as an:
            print(f"root: {agentree.current_actor().name!r} in pid {os.getpid()}")
            await an.run_in_actor(spawn_grandchild, name="child")
    except* agentree.RemoteActorError as group:
        # An actor nursery raises an exception group, even for one failure.
        for err in group.exceptions:
            assert isinstance(err, agentree.RemoteActorError)
            boxed = err.boxed_type.__name__ if err.boxed_type else err.boxed_type_str
            relay = " -> ".join(name for name, _uuid in err.relay_path)
            print(f"root caught RemoteActorError boxing a {boxed}")
            print(f"  raised in actor: {err.src_uid[0]}")
            print(f"  relay path:      {relay} -> root")
            print(f"  remote message:  {err.message}")
    else:
        raise SystemExit("expected the grandchild's error to reach the root")


if __name__ == "__main__":
    trio.run(main)
