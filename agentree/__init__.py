"""agentree: a structured-concurrency tree of trio actors, one process each.

The public API; everything else lives in private modules.
"""

import sys as _sys
from typing import TYPE_CHECKING as _TYPE_CHECKING


def _command_line_only() -> bool:
    """Is this process the ``agentree`` command line (``python -m agentree``, the script)?

    That process needs none of the runtime to draw ``agentree tree``: the public API
    is then imported on first use (see ``__getattr__``), not here, so the command
    answers quickly. Any other program gets everything imported here, as always.
    """
    argv: list[str] = getattr(_sys, "orig_argv", [])
    if _sys.argv[:1] == ["-m"]:
        # ``python -m agentree``: the package is imported while ``-m`` is located.
        for i, arg in enumerate(argv[:-1]):
            if arg == "-m":
                return argv[i + 1] == __name__
        return f"-m{__name__}" in argv
    main = _sys.modules.get("__main__")
    script = str(getattr(main, "__file__", "") or "")
    return script.replace("\\", "/").rsplit("/", 1)[-1] in (__name__, f"{__name__}-script.py")


# Kept as it is on a reload by ``_import_api`` (which turns it off first).
_lean: bool = globals()["_lean"] if "_lean" in globals() else _command_line_only()

if _TYPE_CHECKING or not _lean:
    from . import log as log
    from . import trionics as trionics
    from ._context import Context as Context
    from ._context import context as context
    from ._context import current_ipc_ctx as current_ipc_ctx
    from ._discovery import find_actor as find_actor
    from ._discovery import get_registry as get_registry
    from ._discovery import query_actor as query_actor
    from ._discovery import wait_for_actor as wait_for_actor
    from ._exceptions import ActorDied as ActorDied
    from ._exceptions import ActorTooSlowError as ActorTooSlowError
    from ._exceptions import AgentBusy as AgentBusy
    from ._exceptions import AgentCrashed as AgentCrashed
    from ._exceptions import AgentExists as AgentExists
    from ._exceptions import AgentreeError as AgentreeError
    from ._exceptions import AgentRestarting as AgentRestarting
    from ._exceptions import AgentUnavailable as AgentUnavailable
    from ._exceptions import AsyncioCancelled as AsyncioCancelled
    from ._exceptions import AsyncioTaskExited as AsyncioTaskExited
    from ._exceptions import AuthenticationError as AuthenticationError
    from ._exceptions import CallCancelled as CallCancelled
    from ._exceptions import ContextCancelled as ContextCancelled
    from ._exceptions import FeedbackError as FeedbackError
    from ._exceptions import FrameTooLarge as FrameTooLarge
    from ._exceptions import FunctionNotFound as FunctionNotFound
    from ._exceptions import InvalidOption as InvalidOption
    from ._exceptions import LimitExceeded as LimitExceeded
    from ._exceptions import ModuleNotExposed as ModuleNotExposed
    from ._exceptions import MsgEncodeError as MsgEncodeError
    from ._exceptions import MsgTypeError as MsgTypeError
    from ._exceptions import NoRuntime as NoRuntime
    from ._exceptions import NotAddressable as NotAddressable
    from ._exceptions import NotInfectedAsyncio as NotInfectedAsyncio
    from ._exceptions import ProtocolError as ProtocolError
    from ._exceptions import RemoteActorError as RemoteActorError
    from ._exceptions import SpawnError as SpawnError
    from ._exceptions import StoreError as StoreError
    from ._exceptions import StreamOverrun as StreamOverrun
    from ._exceptions import SupervisorGaveUp as SupervisorGaveUp
    from ._exceptions import TransportClosed as TransportClosed
    from ._exit import ChildExit as ChildExit
    from ._join import connect as connect
    from ._join import join_tree as join_tree
    from ._join import tree_address as tree_address
    from ._join import tree_secret as tree_secret
    from ._nursery import ActorNursery as ActorNursery
    from ._nursery import open_nursery as open_nursery
    from ._portal import Portal as Portal
    from ._root import open_root_actor as open_root_actor
    from ._runtime import Actor as Actor
    from ._runtime import current_actor as current_actor
    from ._runtime import is_root_process as is_root_process
    from ._runtime._guest import run_as_asyncio_guest as run_as_asyncio_guest
    from ._spawn._placement import RayPlacement as RayPlacement
    from ._streaming import BroadcastReceiver as BroadcastReceiver
    from ._streaming import MsgStream as MsgStream
    from ._version import __version__ as __version__
    from .agents import Agent as Agent
    from .agents import AgentRef as AgentRef
    from .agents import check_cancelled as check_cancelled
    from .agents import find_agent as find_agent
    from .agents import method as method
    from .agents import wait_for_agent as wait_for_agent
    from .devx import breakpoint as breakpoint
    from .devx import debug_mode as debug_mode
    from .devx import maybe_enable_greenback as maybe_enable_greenback
    from .devx import pause as pause
    from .devx import pause_from_sync as pause_from_sync
    from .devx import post_mortem as post_mortem
    from .feedback import FeedbackQueue as FeedbackQueue
    from .feedback import FeedbackRequest as FeedbackRequest
    from .feedback import feedback_queue as feedback_queue
    from .feedback import request_feedback as request_feedback
    from .feedback import request_feedback_sync as request_feedback_sync
    from .feedback import terminal_feedback as terminal_feedback
    from .store import MemoryStore as MemoryStore
    from .store import SqliteStore as SqliteStore
    from .store import Store as Store
    from .supervise import Backoff as Backoff
    from .supervise import ChildCrashed as ChildCrashed
    from .supervise import ChildInfo as ChildInfo
    from .supervise import ChildRestarting as ChildRestarting
    from .supervise import ChildStarted as ChildStarted
    from .supervise import ChildStopped as ChildStopped
    from .supervise import GaveUp as GaveUp
    from .supervise import Limits as Limits
    from .supervise import Pool as Pool
    from .supervise import SupervisedRef as SupervisedRef
    from .supervise import Supervisor as Supervisor
    from .supervise import SupervisorEvent as SupervisorEvent
    from .supervise import SupervisorStats as SupervisorStats
    from .supervise import open_actor_cluster as open_actor_cluster
    from .supervise import open_supervisor as open_supervisor

__all__ = [
    "Actor",
    "ActorDied",
    "ActorNursery",
    "ActorTooSlowError",
    "Agent",
    "AgentBusy",
    "AgentCrashed",
    "AgentExists",
    "AgentRef",
    "AgentRestarting",
    "AgentUnavailable",
    "AgentreeError",
    "AsyncioCancelled",
    "AsyncioTaskExited",
    "AuthenticationError",
    "Backoff",
    "BroadcastReceiver",
    "CallCancelled",
    "ChildCrashed",
    "ChildExit",
    "ChildInfo",
    "ChildRestarting",
    "ChildStarted",
    "ChildStopped",
    "Context",
    "ContextCancelled",
    "FeedbackError",
    "FeedbackQueue",
    "FeedbackRequest",
    "FrameTooLarge",
    "FunctionNotFound",
    "GaveUp",
    "InvalidOption",
    "LimitExceeded",
    "Limits",
    "MemoryStore",
    "ModuleNotExposed",
    "MsgEncodeError",
    "MsgStream",
    "MsgTypeError",
    "NoRuntime",
    "NotAddressable",
    "NotInfectedAsyncio",
    "Pool",
    "Portal",
    "ProtocolError",
    "RayPlacement",
    "RemoteActorError",
    "SpawnError",
    "SqliteStore",
    "Store",
    "StoreError",
    "StreamOverrun",
    "SupervisedRef",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorGaveUp",
    "SupervisorStats",
    "TransportClosed",
    "breakpoint",
    "check_cancelled",
    "connect",
    "context",
    "current_actor",
    "current_ipc_ctx",
    "debug_mode",
    "feedback_queue",
    "find_actor",
    "find_agent",
    "get_registry",
    "is_root_process",
    "join_tree",
    "log",
    "maybe_enable_greenback",
    "method",
    "open_actor_cluster",
    "open_nursery",
    "open_root_actor",
    "open_supervisor",
    "pause",
    "pause_from_sync",
    "post_mortem",
    "query_actor",
    "request_feedback",
    "request_feedback_sync",
    "run_as_asyncio_guest",
    "terminal_feedback",
    "tree_address",
    "tree_secret",
    "trionics",
    "wait_for_actor",
    "wait_for_agent",
]


def _import_api() -> None:
    """Import the whole public API now, if the command line's lean start skipped it."""
    global _lean
    if _lean:
        import importlib

        _lean = False
        importlib.reload(_sys.modules[__name__])


def __getattr__(name: str) -> object:
    # ``agentree.to_asyncio`` imports asyncio, so it is imported on first use only.
    if name == "to_asyncio":
        import importlib

        return importlib.import_module(".to_asyncio", __name__)
    if _lean and name in __all__:
        _import_api()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
