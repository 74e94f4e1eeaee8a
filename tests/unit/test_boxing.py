"""L3 boxing of remote errors, and function lookup against enable_modules."""

from __future__ import annotations

import copy
import functools
import json
import os
import pickle
import sys

import pytest

import agentree
from agentree._runtime._boxing import box_error, cancelled_error, type_name, unbox_error
from agentree._runtime._lookup import MAIN_ALIAS, ns_of, resolve
from agentree.msg import CancelAck, Error, decode_msg, encode

MODULE = __name__
ENABLED = {MODULE}
SRC = ("worker", "uuid-src")
RELAY = ("middle", "uuid-mid")
ROOT = ("root", "uuid-root")
NOT_CALLABLE = 42


class CustomError(Exception):
    """An exception type defined in an already-imported (test) module."""


class Outer:
    """A class holding a nested exception type and a method."""

    class InnerError(Exception):
        """An exception type nested in a class."""

    @staticmethod
    def method(x: int = 0) -> int:
        """A function reachable by a dotted qualname."""
        return x + 1


async def module_level(x: int = 1) -> int:
    """A module-level function: addressable."""
    return x


def raised(exc: BaseException) -> BaseException:
    """Raise and catch ``exc`` so it carries a real traceback.

    Args:
        exc: the exception to raise.

    Returns:
        The same exception, with ``__traceback__`` set.
    """
    try:
        raise exc
    except BaseException as caught:
        return caught


def over_the_wire(msg: Error) -> Error:
    """Send ``msg`` through the codec, as a peer would receive it.

    Args:
        msg: the boxed error.

    Returns:
        The decoded copy (lists and tuples as the wire gives them).
    """
    out = decode_msg(encode(msg))
    assert isinstance(out, Error)
    return out


def box_and_unbox(exc: BaseException, **kwargs: object) -> agentree.RemoteActorError:
    """Box ``exc`` in actor SRC, ship it, and unbox it on the other side.

    Args:
        exc: the exception raised in the source actor.
        **kwargs: extra arguments for :func:`box_error`.

    Returns:
        The rebuilt remote error.
    """
    return unbox_error(over_the_wire(box_error(exc, cid=3, uid=SRC, **kwargs)))  # type: ignore[arg-type]


# -- boxing ----------------------------------------------------------------------------


def test_box_builtin_error() -> None:
    """A builtin exception boxes to its bare name, message and traceback."""
    boxed = box_error(raised(ValueError("bad value")), cid=3, uid=SRC, call="pkg.mod:fn")
    assert boxed.cid == 3
    assert boxed.type_str == "ValueError"
    assert boxed.message == "bad value"
    assert "Traceback" in boxed.tb_str
    assert "ValueError: bad value" in boxed.tb_str
    assert "raised" in boxed.tb_str  # the frame that raised it
    assert boxed.src_uid == SRC
    assert boxed.relay_path == [SRC]
    assert boxed.call == "pkg.mod:fn"
    assert boxed.canceller is None


def test_round_trip_builtin() -> None:
    """Unboxing rebuilds a RemoteActorError that resolves the builtin type."""
    err = box_and_unbox(raised(KeyError("k")), call="pkg.mod:fn")
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type is KeyError
    assert err.boxed_type_str == "KeyError"
    assert err.message == str(KeyError("k"))
    assert err.src_uid == SRC
    assert isinstance(err.src_uid, tuple)
    assert err.relay_path == [SRC]
    assert all(isinstance(uid, tuple) for uid in err.relay_path)
    assert "KeyError" in err.tb_str
    assert err.call == "pkg.mod:fn"
    text = str(err)
    assert "KeyError" in text
    assert "'worker'" in text
    assert "pkg.mod:fn" in text
    assert "Remote traceback" in text


@pytest.mark.parametrize(
    "exc_type",
    [agentree.MsgTypeError, agentree.ModuleNotExposed, agentree.NoRuntime, agentree.AgentreeError],
)
def test_round_trip_agentree_error(exc_type: type[Exception]) -> None:
    """agentree's own exceptions box as agentree.Name and resolve back."""
    boxed = box_error(raised(exc_type("boom")), cid=1, uid=SRC)
    assert boxed.type_str == f"agentree.{exc_type.__name__}"
    err = unbox_error(over_the_wire(boxed))
    assert err.boxed_type is exc_type
    assert err.message == "boom"


@pytest.mark.parametrize(
    ("exc", "expected_str"),
    [
        pytest.param(CustomError("c"), f"{MODULE}.CustomError", id="module-level"),
        pytest.param(Outer.InnerError("i"), f"{MODULE}.Outer.InnerError", id="nested-class"),
        pytest.param(
            json.JSONDecodeError("m", "doc", 0), "json.decoder.JSONDecodeError", id="submodule"
        ),
    ],
)
def test_round_trip_imported_module_class(exc: BaseException, expected_str: str) -> None:
    """Exception classes from modules already imported here resolve to the class."""
    err = box_and_unbox(raised(exc))
    assert err.boxed_type_str == expected_str
    assert err.boxed_type is type(exc)


def test_type_name() -> None:
    """type_name: bare builtins, agentree.X for agentree, module.qualname otherwise."""
    assert type_name(OSError) == "OSError"
    assert type_name(agentree.TransportClosed) == "agentree.TransportClosed"
    assert type_name(CustomError) == f"{MODULE}.CustomError"
    assert type_name(Outer.InnerError) == f"{MODULE}.Outer.InnerError"


def test_type_name_maps_the_loaded_main_back_to_main() -> None:
    """A class from the root's script (loaded under an alias in children) is __main__.X."""
    cls = type("ScriptError", (Exception,), {"__module__": MAIN_ALIAS})
    assert type_name(cls) == "__main__.ScriptError"


def _error(type_str: str, **kwargs: object) -> Error:
    """An Error message as a peer might send it.

    Args:
        type_str: the remote exception's type name.
        **kwargs: fields to override.

    Returns:
        The message.
    """
    fields: dict[str, object] = {
        "cid": 1,
        "type_str": type_str,
        "message": "msg",
        "tb_str": "remote tb",
        "src_uid": SRC,
        "relay_path": [SRC],
    }
    fields.update(kwargs)
    return Error(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "type_str",
    [
        "no_such_pkg_for_agentree_tests.BoomError",
        "no_such_pkg_for_agentree_tests.sub.BoomError",
        "NoSuchBuiltinError",
        "agentree.NoSuchError",
        f"{MODULE}.NoSuchError",
        "len",  # a builtin, but not an exception type
        "os.getcwd",
        "collections.OrderedDict",  # a class, but not an exception
        f"{MODULE}.NOT_CALLABLE",
        "",
        ".",
    ],
)
def test_unknown_type_is_none_and_keeps_the_name(type_str: str) -> None:
    """An unknown or non-exception type gives boxed_type None, boxed_type_str kept."""
    err = unbox_error(over_the_wire(_error(type_str)))
    assert type(err) is agentree.RemoteActorError
    assert err.boxed_type is None
    assert err.boxed_type_str == type_str
    assert err.tb_str == "remote tb"
    assert err.message == "msg"


def test_unboxing_imports_nothing() -> None:
    """Resolving a type never imports a module that is not imported yet."""
    name = "this"  # importing it prints the Zen of Python: easy to notice
    assert name not in sys.modules
    err = unbox_error(_error(f"{name}.SomeError"))
    assert err.boxed_type is None
    assert name not in sys.modules


def test_reboxing_grows_the_relay_path() -> None:
    """Re-boxing a RemoteActorError appends the relay, keeping origin, type and tb."""
    first = box_and_unbox(raised(CustomError("deep")), call="pkg.mod:fn")
    boxed = box_error(first, cid=8, uid=RELAY)
    assert boxed.cid == 8
    assert boxed.type_str == f"{MODULE}.CustomError"
    assert boxed.message == "deep"
    assert boxed.src_uid == SRC
    assert boxed.tb_str == first.tb_str
    assert boxed.relay_path == [SRC, RELAY]
    assert boxed.call == "pkg.mod:fn"

    second = unbox_error(over_the_wire(boxed))
    assert type(second) is agentree.RemoteActorError
    assert second.relay_path == [SRC, RELAY]
    assert second.src_uid == SRC
    assert second.tb_str == first.tb_str
    assert second.boxed_type is CustomError
    assert second.message == "deep"

    third = unbox_error(over_the_wire(box_error(second, cid=1, uid=ROOT)))
    assert third.relay_path == [SRC, RELAY, ROOT]
    assert third.src_uid == SRC


def test_canceller_makes_a_context_cancelled() -> None:
    """An Error with a canceller unboxes as ContextCancelled carrying it."""
    err = box_and_unbox(raised(ValueError("x")), canceller=ROOT)
    assert isinstance(err, agentree.ContextCancelled)
    assert isinstance(err, agentree.RemoteActorError)
    assert err.canceller == ROOT
    assert isinstance(err.canceller, tuple)


def test_no_canceller_is_a_plain_remote_actor_error() -> None:
    """Without a canceller the error is a RemoteActorError, not ContextCancelled."""
    err = box_and_unbox(raised(ValueError("x")))
    assert not isinstance(err, agentree.ContextCancelled)


def test_reboxing_context_cancelled_keeps_the_canceller() -> None:
    """A ContextCancelled relayed through another actor keeps its canceller."""
    first = box_and_unbox(raised(ValueError("x")), canceller=ROOT)
    again = unbox_error(over_the_wire(box_error(first, cid=2, uid=RELAY)))
    assert isinstance(again, agentree.ContextCancelled)
    assert again.canceller == ROOT
    assert again.relay_path == [SRC, RELAY]


@pytest.mark.parametrize("canceller", [ROOT, None])
def test_cancelled_error(canceller: tuple[str, str] | None) -> None:
    """cancelled_error builds a ContextCancelled from a CancelAck."""
    ack = decode_msg(encode(CancelAck(cid=5, canceller=canceller)))
    assert isinstance(ack, CancelAck)
    err = cancelled_error(ack, SRC, "pkg.mod:fn")
    assert isinstance(err, agentree.ContextCancelled)
    assert err.canceller == canceller
    assert err.boxed_type is agentree.ContextCancelled
    assert err.src_uid == SRC
    assert err.relay_path == [SRC]
    assert err.call == "pkg.mod:fn"
    assert (canceller[0] if canceller else "unknown") in str(err)


def pickle_round_trip(obj: object) -> object:
    """Pickle and unpickle ``obj``."""
    return pickle.loads(pickle.dumps(obj))


@pytest.mark.parametrize("clone", [copy.copy, copy.deepcopy, pickle_round_trip])
def test_remote_errors_survive_copy_and_pickle(clone: object) -> None:
    """Copying or pickling a remote error keeps every field, the canceller included."""
    plain = box_and_unbox(raised(CustomError("p")), call="m:f")
    cancelled = box_and_unbox(raised(ValueError("c")), canceller=ROOT)
    for err in (plain, cancelled):
        out = clone(err)  # type: ignore[operator]
        assert type(out) is type(err)
        assert str(out) == str(err)
        for attr in (
            "message",
            "boxed_type",
            "boxed_type_str",
            "src_uid",
            "tb_str",
            "relay_path",
            "call",
        ):
            assert getattr(out, attr) == getattr(err, attr), attr
    assert clone(cancelled).canceller == ROOT  # type: ignore[operator]


# -- lookup ----------------------------------------------------------------------------


def test_ns_of_module_level_function() -> None:
    """A module-level function is named module:qualname."""
    assert ns_of(module_level) == f"{MODULE}:module_level"
    assert ns_of(raised) == f"{MODULE}:raised"


def test_ns_of_dotted_qualname_and_builtins() -> None:
    """Class attributes get a dotted qualname; builtins live in builtins."""
    assert ns_of(Outer.method) == f"{MODULE}:Outer.method"
    assert ns_of(len) == "builtins:len"
    assert ns_of(os.getcwd) == "posix:getcwd"


def test_ns_of_maps_the_loaded_main_back_to_main() -> None:
    """A function from the root's script (aliased in children) is named __main__:fn."""

    def fn() -> None:
        """Stand-in for a function defined in the user's script."""

    fn.__module__ = MAIN_ALIAS
    fn.__qualname__ = "fn"
    assert ns_of(fn) == "__main__:fn"


def _nested_factory() -> object:
    """Return a nested function (not addressable)."""

    def nested() -> None:
        """A closure."""

    return nested


@pytest.mark.parametrize(
    "fn",
    [
        pytest.param(lambda: None, id="lambda"),
        pytest.param(_nested_factory(), id="nested"),
        pytest.param(functools.partial(module_level, x=2), id="partial"),
        pytest.param(object(), id="no-module"),
    ],
)
def test_ns_of_refuses_unaddressable(fn: object) -> None:
    """Lambdas, nested functions and objects without module:qualname raise NotAddressable."""
    with pytest.raises(agentree.NotAddressable) as info:
        ns_of(fn)  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError)
    assert "module-level" in str(info.value)


def test_resolve_finds_an_enabled_function() -> None:
    """ns_of and resolve round-trip within enabled modules."""
    assert resolve(ns_of(module_level), ENABLED, "worker") is module_level
    assert resolve(ns_of(Outer.method), ENABLED, "worker") is Outer.method


def test_resolve_refuses_a_module_not_enabled() -> None:
    """A module outside enable_modules raises ModuleNotExposed naming actor and module."""
    with pytest.raises(agentree.ModuleNotExposed) as info:
        resolve("os:getcwd", ENABLED, "worker-7")
    text = str(info.value)
    assert "'os'" in text
    assert "'worker-7'" in text
    assert isinstance(info.value, ModuleNotFoundError)
    assert isinstance(info.value, agentree.AgentreeError)


def test_resolve_imports_nothing_for_a_module_not_enabled() -> None:
    """The allow-list check comes before any import."""
    name = "this"
    assert name not in sys.modules
    with pytest.raises(agentree.ModuleNotExposed):
        resolve(f"{name}:anything", ENABLED, "worker")
    assert name not in sys.modules


def test_resolve_refuses_main_when_not_loaded() -> None:
    """__main__ counts only once the root's script was loaded in this actor."""
    with pytest.raises(agentree.ModuleNotExposed):
        resolve("__main__:fn", {"__main__"}, "worker")


@pytest.mark.parametrize(
    "qualname", ["no_such_function", "Outer.no_such_method", "", "module_level.nope"]
)
def test_resolve_missing_name_is_function_not_found(qualname: str) -> None:
    """A name the enabled module does not define raises FunctionNotFound."""
    with pytest.raises(agentree.FunctionNotFound) as info:
        resolve(f"{MODULE}:{qualname}", ENABLED, "worker-7")
    assert "'worker-7'" in str(info.value)
    assert isinstance(info.value, AttributeError)
    assert isinstance(info.value, agentree.AgentreeError)


def test_resolve_not_callable_is_function_not_found() -> None:
    """A module attribute that is not callable raises FunctionNotFound."""
    with pytest.raises(agentree.FunctionNotFound, match="not callable"):
        resolve(f"{MODULE}:NOT_CALLABLE", ENABLED, "worker")


@pytest.mark.parametrize("target", ["os.system", "os.path.join", "json.loads"])
def test_resolve_does_not_escape_through_imported_modules(target: str) -> None:
    """A dotted qualname must not walk into a module the enabled one merely imports.

    This test module imports ``os`` and ``json``; neither is enabled, so neither
    ``os.system`` nor ``json.loads`` may be reached as ``<this module>:os.system``
    (DESIGN §4: functions resolve only within enable_modules).
    """
    with pytest.raises((agentree.ModuleNotExposed, agentree.FunctionNotFound)):
        resolve(f"{MODULE}:{target}", ENABLED, "worker")


def test_resolve_refuses_names_imported_from_other_modules() -> None:
    """A function imported into an enabled module is not callable through it.

    ``ns_of`` names a function by the module that defines it, so a name that the
    enabled module merely imports (here ``box_error``) must be refused.
    """
    with pytest.raises(agentree.FunctionNotFound):
        resolve(f"{MODULE}:box_error", ENABLED, "worker")
    with pytest.raises(agentree.ModuleNotExposed):
        resolve(ns_of(box_error), ENABLED, "worker")
