"""What can be called where: addressable functions, exposed modules, encodable values."""

from __future__ import annotations

import socket

import pytest
import trio

import agentree
from agentree.testing import raises_one

from . import _checks, _funcs


async def not_exposed() -> str:
    """A module-level function of a module the daemons do not enable."""
    return "should not run"


def _spawned_actors() -> set[int]:
    """Pids of the test's descendants (the forkserver and the actors)."""
    return {proc.pid for proc in _checks.descendants()}


def test_not_addressable_is_a_type_error() -> None:
    assert issubclass(agentree.NotAddressable, TypeError)
    assert issubclass(agentree.MsgEncodeError, TypeError)
    assert issubclass(agentree.ModuleNotExposed, agentree.AgentreeError)
    assert issubclass(agentree.FunctionNotFound, agentree.AgentreeError)


async def test_run_in_actor_lambda_or_nested_function_is_refused() -> None:
    async def nested() -> int:
        return 1

    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            before = _spawned_actors()
            with pytest.raises(agentree.NotAddressable):
                await an.run_in_actor(lambda: 1)
            with pytest.raises(agentree.NotAddressable, match="nested"):
                await an.run_in_actor(nested)
            assert an.children == {}
            assert _spawned_actors() == before


async def test_portal_run_lambda_or_nested_function_is_refused() -> None:
    async def nested() -> int:
        return 1

    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.NotAddressable):
                await portal.run(lambda: 1)
            with pytest.raises(agentree.NotAddressable):
                await portal.run(nested)
            assert await portal.run(_funcs.add, x=1, y=1) == 2


async def test_module_not_exposed() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("guarded", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(not_exposed)
            err = info.value
            assert err.boxed_type is agentree.ModuleNotExposed
            assert err.boxed_type_str == "agentree.ModuleNotExposed"
            assert "guarded" in err.message
            assert __name__ in err.message
            assert err.src_uid == portal.actor_uid
            # By name too, and for a module that exists nowhere.
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run_from_ns(__name__, "not_exposed")
            assert info.value.boxed_type is agentree.ModuleNotExposed
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run_from_ns("os", "getpid")
            assert info.value.boxed_type is agentree.ModuleNotExposed
            assert "'os'" in info.value.message
            # The daemon keeps serving.
            assert await portal.run(_funcs.add, x=2, y=2) == 4


async def test_function_not_found() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run_from_ns(_funcs.MODULE, "no_such_function")
            err = info.value
            assert err.boxed_type is agentree.FunctionNotFound
            assert err.boxed_type_str == "agentree.FunctionNotFound"
            assert "no_such_function" in err.message
            # A name that exists but is not callable is refused as well.
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run_from_ns(_funcs.MODULE, "MODULE")
            assert info.value.boxed_type is agentree.FunctionNotFound
            assert await portal.run_from_ns(_funcs.MODULE, "add", x=3, y=4) == 7


@pytest.mark.parametrize("kind", ["object", "socket"])
async def test_unencodable_argument_to_portal_run(kind: str) -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with socket.socket() as sock:
                value = sock if kind == "socket" else object()
                with pytest.raises(agentree.MsgEncodeError, match="'value'") as info:
                    await portal.run(_funcs.echo, value=value)
            assert isinstance(info.value, TypeError)
            assert await portal.run(_funcs.echo, value="still here") == "still here"


async def test_unencodable_argument_to_run_in_actor() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            before = _spawned_actors()
            with (
                socket.socket() as sock,
                pytest.raises(agentree.MsgEncodeError, match="'value'") as info,
            ):
                await an.run_in_actor(_funcs.echo, value=sock)
            assert isinstance(info.value, TypeError)
            with pytest.raises(agentree.MsgEncodeError, match="'value'"):
                await an.run_in_actor(_funcs.echo, value=object())
            assert an.children == {}
            assert _spawned_actors() == before
            portal = await an.run_in_actor(_funcs.echo, value="fine")
            assert await portal.wait_for_result() == "fine"


async def test_unencodable_return_value_from_daemon() -> None:
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.start_actor("daemon", enable_modules=[_funcs.MODULE])
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(_funcs.return_unencodable)
            err = info.value
            assert err.boxed_type is agentree.MsgEncodeError
            assert "return_unencodable" in err.message
            assert err.src_uid == portal.actor_uid
            assert await portal.run(_funcs.add, x=5, y=5) == 10


async def test_unencodable_return_value_from_run_in_actor() -> None:
    with trio.fail_after(10):
        with raises_one(agentree.RemoteActorError) as info:
            async with agentree.open_nursery() as an:
                await an.run_in_actor(_funcs.return_unencodable)
    assert info.value.boxed_type is agentree.MsgEncodeError


async def test_run_in_actor_enables_only_the_functions_module() -> None:
    # run_in_actor(fn) enables fn's own module in the child, and nothing else: a call
    # into any other module is refused there, and the child keeps working.
    with trio.fail_after(10):
        async with agentree.open_nursery() as an:
            portal = await an.run_in_actor(_funcs.rendezvous, name="one-shot", count=2, index=0)
            with pytest.raises(agentree.RemoteActorError) as info:
                await portal.run(not_exposed)
            err = info.value
            assert err.boxed_type is agentree.ModuleNotExposed
            assert "one-shot" in err.message
            assert __name__ in err.message
            assert err.src_uid == portal.actor_uid
            # The function's own module is enabled: a second call releases the first.
            assert await portal.run(_funcs.rendezvous, count=2, index=1) == 1
            assert await portal.wait_for_result() == 0
