"""Fuzzing error boxing (issue 13 bug 2): boxing never fails, whatever the exception.

Exceptions with broken ``__str__``/``__repr__``/``__reduce__``, odd type names and
modules, huge messages, cyclic ``__cause__``/``__context__`` chains and exception groups
nested hundreds of levels deep must all box into a valid ``Error`` that encodes within
the channel's frame size, decodes, and unboxes into a printable ``RemoteActorError``.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import agentree
from agentree._runtime._boxing import box_error, error_text_limit, type_name, unbox_error
from agentree.msg import Error, decode_msg, encode

UID = ("fuzzed", "uuid-fuzzed")
CALL = "pkg.mod:fn"

# -- building nasty exceptions ----------------------------------------------------------


class _StrSubclass(str):
    """A ``str`` subclass whose own methods are broken (msgspec refuses subclasses)."""

    def __str__(self) -> str:
        raise RuntimeError("the str subclass's __str__ is broken")

    def encode(self, *args: Any, **kwargs: Any) -> bytes:  # type: ignore[override]
        raise RuntimeError("the str subclass's encode is broken")

    def isascii(self) -> bool:
        raise RuntimeError("the str subclass's isascii is broken")


class _Unrepresentable:
    """An argument whose ``repr()`` raises."""

    def __repr__(self) -> str:
        raise ValueError("this argument has no repr")


def _raise(exc: BaseException) -> Any:
    raise exc


def _text_result(mode: str, size: int) -> Any:
    """What a ``__str__``/``__repr__`` returns (or raises) in ``mode``."""
    if mode == "raise":
        return _raise(RuntimeError("broken on purpose"))
    if mode == "raise-unprintable":
        # An error whose own str() fails too.
        return _raise(_broken_class("str", "raise", "raise", False)("inner"))
    if mode == "non-str":
        return 42
    if mode == "subclass":
        return _StrSubclass("a str subclass")
    if mode == "surrogate":
        return "lone surrogates \ud800 and \udfff in the text"
    if mode == "huge":
        return "\n".join(f"line {i} " + "é" * 50 for i in range(size))
    if mode == "recursion":
        return _raise(RecursionError("maximum recursion depth exceeded"))
    if mode == "raise-base":
        # Not an Exception: still a failure of __str__, not a reason to stop boxing.
        return _raise(SystemExit("exit from __str__"))
    return "a fine message"


_TEXT_MODES = ["ok", "raise", "raise-unprintable", "non-str", "subclass", "surrogate", "huge"]
_TEXT_MODES += ["recursion", "raise-base"]
_MODULES: list[object] = [
    None,
    42,
    "",
    "builtins",
    "agentree._exceptions",
    "no.such.module",
    "bad \ud800 module",
    _StrSubclass("str.subclass.module"),
    __name__,
]


def _broken_class(
    name: str,
    str_mode: str,
    repr_mode: str,
    reduce_broken: bool,
    module: object = __name__,
    base: type[BaseException] = Exception,
    size: int = 10,
    qualname_broken: bool = False,
) -> type[BaseException]:
    namespace: dict[str, Any] = {}
    if str_mode != "default":
        namespace["__str__"] = lambda self: _text_result(str_mode, size)
    if repr_mode != "default":
        namespace["__repr__"] = lambda self: _text_result(repr_mode, size)
    if reduce_broken:
        namespace["__reduce__"] = lambda self: _raise(TypeError("cannot reduce"))
        namespace["__reduce_ex__"] = lambda self, proto: _raise(TypeError("cannot reduce"))
    meta: type = type
    if qualname_broken:
        meta = _BrokenMeta
    cls: type[BaseException] = meta(name, (base,), namespace)
    if not qualname_broken:
        cls.__module__ = module  # type: ignore[assignment]
    return cls


class _BrokenMeta(type):
    """A metaclass whose classes' names and modules cannot be read the usual way."""

    def __getattribute__(cls, name: str) -> Any:
        if name in ("__qualname__", "__module__"):
            raise RuntimeError(f"no {name} here")
        return super().__getattribute__(name)


_BASES: list[type[BaseException]] = [Exception, ValueError, KeyError, OSError, BaseException]

classes = st.builds(
    _broken_class,
    name=st.sampled_from(["Nasty", "Weird_Error", "E", "Ünïcode"]),
    str_mode=st.sampled_from(["default", *_TEXT_MODES]),
    repr_mode=st.sampled_from(["default", *_TEXT_MODES]),
    reduce_broken=st.booleans(),
    module=st.sampled_from(_MODULES),
    base=st.sampled_from(_BASES),
    size=st.integers(0, 30_000),
    qualname_broken=st.booleans(),
)

args = st.lists(
    st.one_of(
        st.text(max_size=50),
        st.integers(),
        st.just(_Unrepresentable()),
        st.binary(max_size=20),
    ),
    max_size=3,
)


def _with_traceback(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


@st.composite
def nasty_exceptions(draw: st.DrawFn) -> BaseException:
    """One exception, possibly chained (cycles included) to others, possibly a group."""
    count = draw(st.integers(1, 4))
    excs = []
    for _ in range(count):
        cls = draw(classes)
        exc = cls(*draw(args))
        if draw(st.booleans()):
            exc = _with_traceback(exc)
        excs.append(exc)
    # Arbitrary links, cycles included.
    for _ in range(draw(st.integers(0, 6))):
        source, target = draw(st.sampled_from(excs)), draw(st.sampled_from(excs))
        if draw(st.booleans()):
            source.__cause__ = target
        else:
            source.__context__ = target
    first = excs[0]
    shape = draw(st.sampled_from(["plain", "group", "deep-group"]))
    if shape == "plain":
        return first
    members = [e for e in excs if isinstance(e, Exception)] or [ValueError("member")]
    if shape == "group":
        return ExceptionGroup("a group", members)
    depth = draw(st.integers(1, 600))
    return _deep_group(members, depth)


def _deep_group(members: list[Exception], depth: int) -> ExceptionGroup[Any]:
    group = ExceptionGroup("level 0", members)
    for level in range(1, depth):
        group = ExceptionGroup(f"level {level}", [group])
    return group


# -- the property ------------------------------------------------------------------------


def _check_boxes(
    exc: BaseException, max_frame_size: int, *, relayed: bool = False
) -> agentree.RemoteActorError:
    """Box ``exc`` (as actor UID, or as a relay of it), ship it, unbox it, and relay it."""
    msg = box_error(exc, cid=7, uid=UID, call=CALL, max_frame_size=max_frame_size)
    assert isinstance(msg, Error)
    for text in (msg.type_str, msg.message, msg.tb_str):
        assert type(text) is str
        assert len(text.encode()) <= error_text_limit(max_frame_size) + 1024
    assert msg.type_str
    frame = encode(msg)
    assert len(frame) < max_frame_size
    decoded = decode_msg(frame)
    assert decoded == msg
    assert isinstance(decoded, Error)
    err = unbox_error(decoded)
    assert isinstance(err, agentree.RemoteActorError)
    assert err.relay_path[-1] == UID
    if not relayed:
        assert err.src_uid == UID
        assert err.call == CALL
    assert str(err)
    assert repr(err)
    # A relay re-boxes the unboxed error: that never fails either.
    again = box_error(err, cid=8, uid=("relay", "r"), max_frame_size=max_frame_size)
    path = unbox_error(decode_msg(encode(again))).relay_path  # type: ignore[arg-type]
    assert path == [*err.relay_path, ("relay", "r")]
    return err


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(exc=nasty_exceptions(), max_frame_size=st.sampled_from([4096, 64 * 1024, 64 * 1024**2]))
def test_boxing_never_fails(exc: BaseException, max_frame_size: int) -> None:
    _check_boxes(exc, max_frame_size)


@settings(max_examples=50, deadline=None)
@given(
    message=st.text(
        alphabet=st.characters(codec=None, categories=None),  # surrogates included
        min_size=0,
        max_size=2000,
    ),
    repeat=st.integers(1, 200),
)
def test_any_message_text_boxes(message: str, repeat: int) -> None:
    err = _check_boxes(ValueError(message * repeat), 16 * 1024)
    assert err.boxed_type is ValueError


# -- specific cases, named -------------------------------------------------------------


def test_broken_str_falls_back_to_repr_and_says_so() -> None:
    cls = _broken_class("Broken", "raise", "default", False)
    err = _check_boxes(cls("the message"), 64 * 1024)
    assert err.message.startswith("Broken('the message') [str() failed: RuntimeError")
    assert "broken on purpose" in err.message


def test_broken_str_and_repr_fall_back_to_type_name() -> None:
    cls = _broken_class("Broken", "raise", "raise", False)
    err = _check_boxes(cls(_Unrepresentable()), 64 * 1024)
    assert err.message.startswith(f"{__name__}.Broken [str() failed: RuntimeError")
    assert "repr() failed: RuntimeError: broken on purpose" in err.message
    assert err.boxed_type_str == f"{__name__}.Broken"


def test_broken_repr_still_uses_the_base_repr() -> None:
    cls = _broken_class("Broken", "raise", "raise", False)
    err = _check_boxes(cls("still readable"), 64 * 1024)
    assert err.message.startswith("Broken('still readable') [str() failed")


def test_str_raising_a_base_exception_is_boxed() -> None:
    cls = _broken_class("Exits", "raise-base", "default", False)
    err = _check_boxes(cls("m"), 64 * 1024)
    assert "str() failed: SystemExit: exit from __str__" in err.message


def test_ctrl_c_in_str_is_not_swallowed() -> None:
    cls = _broken_class("Interrupted", "default", "default", False)
    cls.__str__ = lambda self: _raise(KeyboardInterrupt())  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        box_error(cls("m"), cid=1, uid=UID)


def test_odd_module_and_qualname_are_named_safely() -> None:
    assert type_name(_broken_class("M", "ok", "ok", False, module=42)) == "<unknown module>.M"
    assert type_name(_broken_class("M", "ok", "ok", False, module=None)) == "<unknown module>.M"
    broken = _broken_class("Q", "ok", "ok", False, qualname_broken=True)
    assert type_name(broken) == "<unknown module>.Q"
    err = _check_boxes(broken("x"), 64 * 1024)
    assert err.boxed_type is None


def test_huge_message_is_cut_keeping_both_ends() -> None:
    body = "\n".join(f"line {i}: " + "x" * 100 for i in range(100_000))
    err = _check_boxes(ValueError(body), 1024 * 1024)
    assert err.message.startswith("line 0: ")
    assert err.message.endswith(f"line {99_999}: " + "x" * 100)
    assert "cut here: the error was too large to send" in err.message
    assert err.boxed_type is ValueError


def test_cyclic_chain() -> None:
    first, second = ValueError("first"), KeyError("second")
    first.__cause__ = second
    second.__context__ = first
    err = _check_boxes(_with_traceback(first), 64 * 1024)
    assert "second" in err.tb_str


def test_group_nested_past_the_recursion_limit() -> None:
    depth = sys.getrecursionlimit() + 100
    err = _check_boxes(_deep_group([ValueError("at the bottom")], depth), 64 * 1024)
    assert err.boxed_type is ExceptionGroup
    assert err.message.startswith(f"level {depth - 1}")


def test_group_with_broken_derive_and_exceptions() -> None:
    class BrokenGroup(ExceptionGroup):  # type: ignore[type-arg]
        def derive(self, excs: Any) -> Any:
            raise RuntimeError("derive is broken")

        @property
        def exceptions(self) -> Any:  # type: ignore[override]
            raise RuntimeError("exceptions is broken")

    group = BrokenGroup("broken", [ValueError("a")])
    err = _check_boxes(_with_traceback(group), 64 * 1024)
    assert "could not be formatted" in err.tb_str or "BrokenGroup" in err.tb_str


def test_unbox_survives_a_module_whose_getattr_raises() -> None:
    module = types.ModuleType("agentree_fuzz_hostile")
    module.__getattr__ = lambda name: _raise(RuntimeError("hostile"))  # type: ignore[method-assign]
    sys.modules[module.__name__] = module
    try:
        msg = Error(
            cid=1,
            type_str=f"{module.__name__}.Thing",
            message="m",
            tb_str="",
            src_uid=UID,
            relay_path=[UID],
        )
        err = unbox_error(msg)
    finally:
        del sys.modules[module.__name__]
    assert err.boxed_type is None
    assert err.boxed_type_str == f"{module.__name__}.Thing"


@pytest.mark.parametrize("max_frame_size", [4096, 16384])
def test_small_frames_still_fit(max_frame_size: int) -> None:
    exc = _with_traceback(ValueError("y" * 100_000))
    msg = box_error(exc, cid=1, uid=UID, call=CALL, max_frame_size=max_frame_size)
    assert len(encode(msg)) < max_frame_size


odd_values = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=20),
    st.just("\ud800"),
    st.just(_StrSubclass("sub")),
    st.tuples(st.text(max_size=5), st.text(max_size=5)),
    st.tuples(st.integers(), st.none()),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=200, deadline=None)
@given(
    message=odd_values,
    type_str=odd_values,
    src_uid=odd_values,
    tb_str=odd_values,
    relay_path=st.one_of(odd_values, st.lists(odd_values, max_size=3)),
    call=odd_values,
    canceller=odd_values,
)
def test_hand_built_remote_errors_box(
    message: Any,
    type_str: Any,
    src_uid: Any,
    tb_str: Any,
    relay_path: Any,
    call: Any,
    canceller: Any,
) -> None:
    # A RemoteActorError (or ContextCancelled) built by user code, with any fields.
    exc = agentree.RemoteActorError.__new__(agentree.ContextCancelled)
    exc.message, exc.boxed_type_str, exc.src_uid = message, type_str, src_uid
    exc.tb_str, exc.relay_path, exc.call = tb_str, relay_path, call
    exc.canceller = canceller  # type: ignore[attr-defined]
    _check_boxes(exc, 64 * 1024, relayed=True)


def test_hand_built_remote_error_with_good_fields_keeps_them() -> None:
    exc = agentree.RemoteActorError(
        "boom",
        boxed_type_str="ValueError",
        boxed_type=ValueError,
        src_uid=("origin", "o"),
        tb_str="tb",
        relay_path=[("origin", "o")],
        call="a:b",
    )
    err = _check_boxes(exc, 64 * 1024, relayed=True)
    assert err.src_uid == ("origin", "o")
    assert err.relay_path == [("origin", "o"), UID]
    assert err.message == "boom"
