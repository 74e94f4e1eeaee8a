"""The registrar's bookkeeping, without processes."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from agentree import AgentreeError, MsgEncodeError
from agentree._runtime._registry import Registry, RegistryEntry, check_meta

ROOT = ("root", "r0")
A = ("a", "a1")
B = ("b", "b1")
A_CHILD = ("kid", "k1")
A_GRANDCHILD = ("grandkid", "g1")


def _tree() -> Registry:
    registry = Registry()
    registry.add_actor(ROOT, None, "/d/root.sock")
    registry.add_actor(A, ROOT, "/d/a.sock")
    registry.add_actor(B, ROOT, "/d/b.sock")
    registry.add_actor(A_CHILD, A, "/d/kid.sock")
    registry.add_actor(A_GRANDCHILD, A_CHILD, "/d/grandkid.sock")
    return registry


def test_actors_are_registered_under_their_names() -> None:
    registry = _tree()
    assert registry.lookup("a") == RegistryEntry("a", A, "/d/a.sock", {})
    assert registry.registrar() == RegistryEntry("root", ROOT, "/d/root.sock", {})
    assert registry.lookup("nobody") is None


def test_the_latest_holder_of_a_key_answers() -> None:
    registry = _tree()
    registry.register("agent:x", A, {"n": 1})
    registry.register("agent:x", B, {"n": 2})
    assert registry.lookup("agent:x") == RegistryEntry("agent:x", B, "/d/b.sock", {"n": 2})
    assert [e.uid for e in registry.lookup_all("agent:x")] == [A, B]
    # Registering again makes A the latest.
    registry.register("agent:x", A, {"n": 3})
    entry = registry.lookup("agent:x")
    assert entry is not None
    assert (entry.uid, entry.meta) == (A, {"n": 3})
    registry.unregister("agent:x", A)
    entry = registry.lookup("agent:x")
    assert entry is not None
    assert entry.uid == B
    registry.unregister("agent:x", B)
    registry.unregister("agent:x", B)
    assert registry.lookup("agent:x") is None


def test_dropping_an_actor_drops_its_keys_and_its_descendants() -> None:
    registry = _tree()
    registry.register("agent:deep", A_GRANDCHILD, {})
    registry.register("agent:b", B, {})
    registry.drop_actor(A)
    for key in ("a", "kid", "grandkid", "agent:deep"):
        assert registry.lookup(key) is None
    assert registry.lookup("b") is not None
    assert registry.lookup("agent:b") is not None
    # A late registration of a dropped actor, or of a child of one, is refused/ignored.
    with pytest.raises(AgentreeError, match="not running"):
        registry.register("agent:late", A_CHILD, {})
    registry.add_actor(("late", "l1"), A, "/d/late.sock")
    assert registry.lookup("late") is None
    registry.drop_actor(A)


async def test_wait_for_wakes_on_registration_only() -> None:
    registry = _tree()
    got: list[RegistryEntry] = []

    async def waiter() -> None:
        got.append(await registry.wait_for("agent:later"))

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            registry.register("agent:other", A, {})
            await trio.testing.wait_all_tasks_blocked()
            assert got == []
            registry.register("agent:later", B, {"v": 1})
    assert got == [RegistryEntry("agent:later", B, "/d/b.sock", {"v": 1})]


async def test_wait_for_is_cancellable() -> None:
    registry = _tree()
    with trio.move_on_after(0.05) as scope:
        await registry.wait_for("never")
    assert scope.cancelled_caught


def test_meta_is_checked() -> None:
    assert check_meta(None, "k") == {}
    meta = {"a": [1, 2]}
    assert check_meta(meta, "k") == meta
    assert check_meta(meta, "k") is not meta
    with pytest.raises(TypeError, match="dict"):
        check_meta([1], "k")  # type: ignore[arg-type]
    with pytest.raises(MsgEncodeError, match="'k'"):
        check_meta({"x": object()}, "k")
