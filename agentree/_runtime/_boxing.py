"""Errors across processes: box an exception into an ``Error`` message, and back.

Boxing keeps the original type's name, message and traceback text and appends this
actor to the relay path; re-boxing a :class:`RemoteActorError` keeps its origin. The
receiving side finds the real class only among modules it has already imported:
nothing is imported, and nothing is unpickled, to rebuild an error.
"""

from __future__ import annotations

import builtins
import sys
import traceback
from typing import TYPE_CHECKING, Any

from .. import _exceptions
from .._exceptions import ContextCancelled, RemoteActorError
from ..msg import CancelAck, Error

if TYPE_CHECKING:
    from ._conn import Conn
from ._lookup import wire_module_name

__all__ = [
    "box_error",
    "cancelled_before_answer",
    "cancelled_error",
    "type_name",
    "unbox_error",
]

Uid = tuple[str, str]


def type_name(cls: type[BaseException]) -> str:
    """``module.qualname`` of an exception type (bare name for builtins)."""
    module = wire_module_name(cls.__module__)
    if module == "builtins":
        return cls.__qualname__
    if cls.__module__ == _exceptions.__name__:
        return f"agentree.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


def box_error(
    exc: BaseException,
    *,
    cid: int | None,
    uid: Uid,
    call: str = "",
    canceller: Uid | None = None,
) -> Error:
    """Pack ``exc`` into an ``Error`` message for dialog ``cid``."""
    if isinstance(exc, RemoteActorError):
        return Error(
            cid=cid,
            type_str=exc.boxed_type_str,
            message=exc.message,
            tb_str=exc.tb_str,
            src_uid=exc.src_uid,
            relay_path=[*exc.relay_path, uid],
            call=exc.call,
            canceller=getattr(exc, "canceller", None) or canceller,
        )
    return Error(
        cid=cid,
        type_str=type_name(type(exc)),
        message=str(exc),
        tb_str="".join(traceback.format_exception(exc)),
        src_uid=uid,
        relay_path=[uid],
        call=call,
        canceller=canceller,
    )


def _find_type(type_str: str) -> type[BaseException] | None:
    module, _, qualname = type_str.rpartition(".")
    if not module:
        obj: object = getattr(builtins, qualname, None)
    elif module == "agentree":
        obj = getattr(_exceptions, qualname, None)
    else:
        # Exceptions from enclosing scopes have dots in their qualname: try each split.
        obj = None
        parts = type_str.split(".")
        for split in range(len(parts) - 1, 0, -1):
            mod = sys.modules.get(".".join(parts[:split]))
            if mod is None:
                continue
            obj = mod
            for part in parts[split:]:
                obj = getattr(obj, part, None)
            break
    if isinstance(obj, type) and issubclass(obj, BaseException):
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
