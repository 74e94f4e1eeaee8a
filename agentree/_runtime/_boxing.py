"""Errors across processes: box an exception into an ``Error`` message, and back.

Boxing keeps the original type's name, message and traceback text and appends this
actor to the relay path; re-boxing a :class:`RemoteActorError` keeps its origin. The
receiving side finds the real class only among modules it has already imported:
nothing is imported, and nothing is unpickled, to rebuild an error.

Boxing never fails, whatever the exception does (only Ctrl-C gets through): its
``str()`` falls back to its ``repr()``, then to its type's name, and the message says
which failed; a traceback
that cannot be formatted is replaced by what can be. Text too large for the channel
(see :func:`error_text_limit`) is cut in the middle, keeping the first and last lines
and saying how much was cut, so the caller still learns what failed.
"""

from __future__ import annotations

import builtins
import sys
import traceback
from typing import TYPE_CHECKING, Any

from .. import _exceptions
from .._exceptions import ContextCancelled, RemoteActorError
from .._ipc import DEFAULT_MAX_FRAME_SIZE
from ..msg import CancelAck, Error

if TYPE_CHECKING:
    from ._conn import Conn
from ._lookup import wire_module_name

__all__ = [
    "box_error",
    "cancelled_before_answer",
    "cancelled_error",
    "error_text_limit",
    "type_name",
    "unbox_error",
]

Uid = tuple[str, str]

# The longest excerpt of a secondary failure (a __str__ that raised) quoted in a message.
_QUOTE_LIMIT = 300
_UNKNOWN_TYPE = "<unknown exception type>"


def error_text_limit(max_frame_size: int) -> int:
    """The most bytes of message, and as many of traceback, an ``Error`` carries.

    An eighth of the channel's maximum frame size each (8 MiB with the default
    64 MiB), so that a boxed error, re-boxed on its way up the tree with a longer
    relay path each time, always fits in a frame with room to spare.
    """
    return max(max_frame_size // 8, 512)


def _text(value: str) -> str:
    """``value`` as a plain ``str`` that encodes as UTF-8 (msgspec refuses ``str``
    subclasses and lone surrogates)."""
    if type(value) is str and str.isascii(value):
        return value
    # str.encode, not value.encode: a subclass may override the method.
    return str.encode(value, "utf-8", "backslashreplace").decode("utf-8")


def _qualname(cls: type) -> str:
    name: object = type.__dict__["__qualname__"].__get__(cls)
    return _text(name) if isinstance(name, str) else _UNKNOWN_TYPE


def type_name(cls: type[BaseException]) -> str:
    """``module.qualname`` of an exception type (bare name for builtins).

    Never raises: a type whose ``__module__`` or ``__qualname__`` is not a string (or
    raises) is named from what can be read of it.
    """
    try:
        qualname = _qualname(cls)
    except KeyboardInterrupt:
        raise
    except BaseException:
        return _UNKNOWN_TYPE
    try:
        raw_module: object = cls.__module__
        if not isinstance(raw_module, str):
            return f"<unknown module>.{qualname}"
        module = wire_module_name(_text(raw_module))
    except KeyboardInterrupt:
        raise
    except BaseException:
        return f"<unknown module>.{qualname}"
    if module == "builtins":
        return qualname
    if module == _exceptions.__name__:
        return f"agentree.{qualname}"
    return f"{module}.{qualname}"


def _uid(value: Any) -> Uid:
    """A ``(name, uuid)`` pair of plain strings, or ``TypeError``."""
    name, uuid = value
    if not isinstance(name, str) or not isinstance(uuid, str):
        raise TypeError(f"not an actor uid: {value!r}")
    return (_text(name), _text(uuid))


def _quote(exc: BaseException) -> str:
    """A short, safe description of ``exc``, an error raised while boxing another."""
    label = type_name(type(exc))
    try:
        text = _text(str(exc))
    except KeyboardInterrupt:
        raise
    except BaseException:
        return label
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "..."
    return f"{label}: {text}" if text else label


def _message(exc: BaseException) -> str:
    """``str(exc)``, or its ``repr()``, or its type's name, saying which failed."""
    try:
        return _text(str(exc))
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        why = f"str() failed: {_quote(err)}"
    for how in (repr, BaseException.__repr__):
        try:
            return f"{_text(how(exc))} [{why}]"
        except KeyboardInterrupt:
            raise
        except BaseException as err:
            if how is repr:
                why += f"; repr() failed: {_quote(err)}"
    return f"{type_name(type(exc))} [{why}]"


def _traceback(exc: BaseException) -> str:
    """The formatted traceback of ``exc`` (with its chain), or as much as can be."""
    try:
        return _text("".join(traceback.format_exception(exc)))
    except KeyboardInterrupt:
        raise
    except BaseException as err:
        why = _quote(err)
    # Formatting the chain or a group (a cycle a custom class builds, nesting deeper
    # than the recursion limit, a broken ``exceptions``) failed: this frame's own.
    try:
        frames = _text("".join(traceback.format_tb(exc.__traceback__)))
    except KeyboardInterrupt:
        raise
    except BaseException:
        frames = ""
    return (
        f"Traceback (most recent call last):\n{frames}{type_name(type(exc))}\n"
        f"[the full traceback could not be formatted: {why}]\n"
    )


def _clip(text: str, limit: int, what: str) -> str:
    """``text`` cut in the middle to at most about ``limit`` UTF-8 bytes.

    The first and last lines are kept (or the start and end of a very long line),
    and a note in between says how much was cut and why.
    """
    if len(text) * 4 <= limit:
        return text
    size = len(text) if str.isascii(text) else len(text.encode())
    if size <= limit:
        return text
    # A character is at most 4 bytes: head and tail fit in half the limit each.
    keep = max(limit // 8, 1)
    head, tail = text[:keep], text[-keep:]
    # Whole lines where lines are short enough.
    cut_at = head.rfind("\n")
    if cut_at >= keep // 2:
        head = head[: cut_at + 1]
    start = tail.find("\n")
    if 0 <= start < keep // 2:
        tail = tail[start + 1 :]
    cut = len(text) - len(head) - len(tail)
    lines = text.count("\n", len(head), len(text) - len(tail))
    note = (
        f"[... {cut} characters ({lines} line breaks) cut here: the error was too large "
        f"to send (its {what} was {size} bytes, the limit is {limit}) ...]"
    )
    sep_head = "" if head.endswith("\n") else "\n"
    return f"{head}{sep_head}{note}\n{tail}"


def box_error(
    exc: BaseException,
    *,
    cid: int | None,
    uid: Uid,
    call: str = "",
    canceller: Uid | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
) -> Error:
    """Pack ``exc`` into an ``Error`` message for dialog ``cid``. Never raises.

    Args:
        exc: the exception; whatever its methods do, boxing succeeds.
        cid: the dialog, or ``None`` for an error of the whole channel.
        uid: this actor's uid (the error's source, or the last relay).
        call: the ``module:qualname`` of the call that failed.
        canceller: who cancelled the dialog, for a ``ContextCancelled``.
        max_frame_size: the channel's maximum frame size, which bounds the message
            and the traceback (see :func:`error_text_limit`).
    """
    limit = error_text_limit(max_frame_size)
    if isinstance(exc, RemoteActorError):
        try:
            origin = getattr(exc, "canceller", None)
            return Error(
                cid=cid,
                type_str=_clip(_text(exc.boxed_type_str), limit, "type name"),
                message=_clip(_text(exc.message), limit, "message"),
                tb_str=_clip(_text(exc.tb_str), limit, "traceback"),
                src_uid=_uid(exc.src_uid),
                relay_path=[*map(_uid, exc.relay_path), uid],
                call=_text(exc.call),
                canceller=_uid(origin) if origin else canceller,
            )
        except Exception:
            # A RemoteActorError built by hand with odd fields: box it like any other.
            pass
    return Error(
        cid=cid,
        type_str=_clip(type_name(type(exc)), limit, "type name"),
        message=_clip(_message(exc), limit, "message"),
        tb_str=_clip(_traceback(exc), limit, "traceback"),
        src_uid=uid,
        relay_path=[uid],
        call=call,
        canceller=canceller,
    )


def _find_type(type_str: str) -> type[BaseException] | None:
    try:
        obj = _lookup_type(type_str)
    except Exception:
        # A module's ``__getattr__`` that raises something odd: no class, then.
        return None
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return obj
    return None


def _lookup_type(type_str: str) -> object:
    module, _, qualname = type_str.rpartition(".")
    if not module:
        return getattr(builtins, qualname, None)
    if module == "agentree":
        return getattr(_exceptions, qualname, None)
    # Exceptions from enclosing scopes have dots in their qualname: try each split.
    parts = type_str.split(".")
    for split in range(len(parts) - 1, 0, -1):
        mod = sys.modules.get(".".join(parts[:split]))
        if mod is None:
            continue
        obj: object = mod
        for part in parts[split:]:
            obj = getattr(obj, part, None)
        return obj
    return None


def unbox_error(msg: Error) -> RemoteActorError:
    """Rebuild the :class:`RemoteActorError` carried by an ``Error`` message."""
    fields: dict[str, Any] = {
        "boxed_type_str": msg.type_str,
        "boxed_type": _find_type(msg.type_str),
        "src_uid": (msg.src_uid[0], msg.src_uid[1]),
        "tb_str": msg.tb_str,
        "relay_path": [(uid[0], uid[1]) for uid in msg.relay_path],
        "call": msg.call,
    }
    if msg.canceller is not None:
        canceller = (msg.canceller[0], msg.canceller[1])
        return ContextCancelled(msg.message, canceller=canceller, **fields)
    return RemoteActorError(msg.message, **fields)


def cancelled_error(msg: CancelAck, src_uid: Uid, call: str) -> ContextCancelled:
    """The error for a remote call whose task was cancelled before it finished."""
    canceller = (msg.canceller[0], msg.canceller[1]) if msg.canceller else None
    return ContextCancelled(
        f"the remote task was cancelled (by {canceller[0] if canceller else 'unknown'!r})",
        canceller=canceller,
        boxed_type_str="agentree.ContextCancelled",
        boxed_type=ContextCancelled,
        src_uid=src_uid,
        tb_str="",
        relay_path=[src_uid],
        call=call,
    )


def cancelled_before_answer(conn: Conn, call: str) -> ContextCancelled:
    """The error for a call whose actor was stopped here before it answered."""
    return ContextCancelled(
        f"actor {conn.peer_name!r} was cancelled before {call}() returned",
        canceller=conn.actor.uid,
        boxed_type_str="agentree.ContextCancelled",
        boxed_type=ContextCancelled,
        src_uid=conn.peer_uid,
        tb_str="",
        relay_path=[conn.peer_uid],
        call=call,
    )
