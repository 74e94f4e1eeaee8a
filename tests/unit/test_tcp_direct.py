"""Which registered actors are reached over TCP, and the registry's TCP addresses."""

from __future__ import annotations

from agentree._ipc._hostid import HOST_ID_ENV, host_id
from agentree._runtime._registry import Registry, RegistryEntry
from agentree._runtime._tcp import format_tcp, parse_tcp, wants_tcp


def test_which_entries_are_reached_over_tcp() -> None:
    here = host_id()
    assert not wants_tcp("/tmp/t/a.sock", "", "elsewhere")
    assert not wants_tcp("/tmp/t/a.sock", "10.0.0.2:4000", here)
    assert not wants_tcp("/tmp/t/a.sock", "10.0.0.2:4000", "")
    assert wants_tcp("/tmp/t/a.sock", "10.0.0.2:4000", "elsewhere")
    assert wants_tcp("", "10.0.0.2:4000", here)
    assert format_tcp("::1", 5) == "[::1]:5"
    assert parse_tcp("[::1]:5").host == "::1"
    assert HOST_ID_ENV == "AGENTREE_HOST_ID"


def test_the_registry_hands_out_a_tcp_address_set_later() -> None:
    registry = Registry()
    registry.add_actor(("root", "r"), None, "/t/r.sock", host="h1")
    registry.add_actor(("a", "1"), ("root", "r"), "/t/a.sock")
    registry.register("agent:a", ("a", "1"), {"k": 1})
    registry.set_tcp(("a", "1"), "10.0.0.3:7000", "h2")
    for key in ("a", "agent:a"):
        entry = registry.lookup(key)
        assert entry is not None
        assert (entry.tcp, entry.host) == ("10.0.0.3:7000", "h2")
    assert registry.lookup("agent:a").meta == {"k": 1}  # type: ignore[union-attr]
    registry.add_actor(("b", "2"), ("root", "r"), "", "10.0.0.4:1", "h3")
    assert registry.lookup("b") == RegistryEntry(
        "b", ("b", "2"), "", {}, tcp="10.0.0.4:1", host="h3"
    )
    registrar = registry.registrar()
    assert registrar is not None
    assert registrar.host == "h1"
