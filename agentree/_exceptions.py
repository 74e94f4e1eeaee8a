"""The whole agentree exception hierarchy.

Every error agentree raises on purpose derives from :class:`AgentreeError`::

    AgentreeError
    ├── RemoteActorError          an error boxed in another actor and shipped here
    │   └── ContextCancelled      a remote dialog ended because someone cancelled it
    ├── TransportClosed           the channel to a peer ended (EOF, reset, closed)
    │   └── ActorDied             ... because the peer's process ended (how: ``.exit``)
    ├── ProtocolError             a malformed frame or an unexpected message
    │   ├── FrameTooLarge         a frame over the channel's maximum size
    │   └── MsgTypeError          a message or payload that does not match its spec
    ├── MsgEncodeError            a value that msgspec cannot encode (also a TypeError)
    ├── NotAddressable            a function that cannot be named as module:qualname
    │                             (also a TypeError)
    ├── ModuleNotExposed          a module outside the actor's enable_modules
    │                             (also a ModuleNotFoundError)
    ├── FunctionNotFound          no such function in an exposed module
    │                             (also an AttributeError)
    ├── AuthenticationError       a peer failed the TCP handshake
    ├── SpawnError                a child process that failed to start or to handshake
    ├── InvalidOption             a spawn or runtime option refused at the call site,
    │                             before anything was spawned (also a ValueError)
    ├── StreamOverrun             a stream's receive buffer overflowed
    ├── ActorTooSlowError         a peer that did not answer within its deadline
    ├── NoRuntime                 an actor API used outside a running actor
    │                             (also a RuntimeError)
    ├── NotInfectedAsyncio        an asyncio bridge call where trio is not a guest
    │                             on an asyncio loop (also a RuntimeError)
    ├── AsyncioCancelled          an asyncio task cancelled from the asyncio side
    ├── AsyncioTaskExited         an asyncio task that ended before sending the
    │                             first value its trio side waits for
    ├── CallCancelled             the caller cancelled this agent call (raised in a
    │                             thread-mode method by ``check_cancelled()``)
    ├── AgentCrashed              an agent incarnation died while a call was in flight
    ├── AgentRestarting           an agent is restarting and the call asked to fail fast
    ├── AgentUnavailable          an agent that is stopped, given up on or temporary
    ├── AgentBusy                 too many calls wait for an agent (``max_pending``)
    ├── AgentExists               an agent name already taken under its parent
    ├── LimitExceeded             an agent went over one of its resource limits
    ├── FeedbackError             a feedback request failed or was refused
    ├── StoreError                a checkpoint store that cannot be used (corrupt,
    │                             newer schema) or a checkpoint that failed
    └── SupervisorGaveUp          too many restarts in a period, with the causes
                                  (also an ExceptionGroup)

This module imports nothing from agentree, so every layer may import it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._exit import ChildExit

__all__ = [
    "ActorDied",
    "ActorTooSlowError",
    "AgentBusy",
    "AgentCrashed",
    "AgentExists",
    "AgentRestarting",
    "AgentUnavailable",
    "AgentreeError",
    "AsyncioCancelled",
    "AsyncioTaskExited",
    "AuthenticationError",
    "CallCancelled",
    "ContextCancelled",
    "FeedbackError",
    "FrameTooLarge",
    "FunctionNotFound",
    "InvalidOption",
    "LimitExceeded",
    "ModuleNotExposed",
    "MsgEncodeError",
    "MsgTypeError",
    "NoRuntime",
    "NotAddressable",
    "NotInfectedAsyncio",
    "ProtocolError",
    "RemoteActorError",
    "SpawnError",
    "StoreError",
    "StreamOverrun",
    "SupervisorGaveUp",
    "TransportClosed",
]


class AgentreeError(Exception):
    """Root of every error agentree raises on purpose."""


class RemoteActorError(AgentreeError):
    """An error raised in another actor, boxed and shipped to this one.

    Attributes:
        boxed_type_str: ``module.qualname`` of the original exception type.
        boxed_type: the original class when it is already imported here and is an
            exception type; ``None`` otherwise (nothing is imported to find it).
        src_uid: ``(name, uuid)`` of the actor where the error was raised.
        tb_str: the remote traceback, as text.
        relay_path: uids of the actors the error passed through, first the source,
            last the actor that sent it here.
        call: the ``module:qualname`` of the remote call that failed, if known.
        message: the original exception's ``str()``.
    """

    def __init__(
        self,
        message: str,
        *,
        boxed_type_str: str,
        boxed_type: type[BaseException] | None,
        src_uid: tuple[str, str],
        tb_str: str,
        relay_path: list[tuple[str, str]],
        call: str = "",
    ) -> None:
        self.message = message
        self.boxed_type_str = boxed_type_str
        self.boxed_type = boxed_type
        self.src_uid = src_uid
        self.tb_str = tb_str
        self.relay_path = relay_path
        self.call = call
        where = f"actor {src_uid[0]!r}"
        if call:
            where += f" in {call}()"
        super().__init__(f"{boxed_type_str} raised in {where}: {message}")

    def __str__(self) -> str:
        head = str(self.args[0])
        if not self.tb_str:
            return head
        tb = "\n".join("  | " + line for line in self.tb_str.rstrip().splitlines())
        return f"{head}\n  Remote traceback:\n{tb}"

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_remote_error, (type(self), self.message, self._fields()))

    def _fields(self) -> dict[str, object]:
        return {
            "boxed_type_str": self.boxed_type_str,
            "boxed_type": self.boxed_type,
            "src_uid": self.src_uid,
            "tb_str": self.tb_str,
            "relay_path": self.relay_path,
            "call": self.call,
        }


def _rebuild_remote_error(
    cls: type[RemoteActorError], message: str, fields: dict[str, object]
) -> RemoteActorError:
    return cls(message, **fields)  # type: ignore[arg-type]


class ContextCancelled(RemoteActorError):
    """A remote dialog ended because it was cancelled.

    Attributes:
        canceller: uid of the actor that asked for the cancellation.
    """

    def __init__(
        self, message: str, *, canceller: tuple[str, str] | None = None, **fields: Any
    ) -> None:
        super().__init__(message, **fields)
        self.canceller = canceller

    def _fields(self) -> dict[str, object]:
        return {**super()._fields(), "canceller": self.canceller}


class TransportClosed(AgentreeError):
    """The channel to a peer is closed: the peer exited, died or hung up."""


class ActorDied(TransportClosed):
    """The channel to a child closed because the child's process ended.

    Raised instead of a bare :class:`TransportClosed` to whoever waited on that
    child (calls, contexts, streams, ``wait_for_result``) once its parent has
    reaped it, so the message says which actor died and how.

    Attributes:
        exit: how the process ended (:class:`agentree.ChildExit`).
    """

    def __init__(self, message: str, *, exit: ChildExit) -> None:
        super().__init__(message)
        self.exit = exit

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_died, (type(self), str(self.args[0]), self.exit))


def _rebuild_died(cls: type[ActorDied], message: str, exit: ChildExit) -> ActorDied:
    return cls(message, exit=exit)


class ProtocolError(AgentreeError):
    """A frame or message that breaks the wire protocol."""


class FrameTooLarge(ProtocolError):
    """A frame larger than the channel's configured maximum."""


class MsgTypeError(ProtocolError):
    """A message or payload that does not match its declared type."""


class MsgEncodeError(AgentreeError, TypeError):
    """A value that cannot be encoded for the wire (msgspec does not support it)."""


class NotAddressable(AgentreeError, TypeError):
    """A callable that another process cannot find by ``module:qualname``."""


class ModuleNotExposed(AgentreeError, ModuleNotFoundError):
    """A call into a module that is not in the actor's ``enable_modules``."""


class FunctionNotFound(AgentreeError, AttributeError):
    """A call to a name that an exposed module does not define."""


class AuthenticationError(AgentreeError):
    """A peer failed (or did not finish) the authenticated handshake."""


class SpawnError(AgentreeError):
    """A child actor failed to start or to complete its handshake."""


class InvalidOption(AgentreeError, ValueError):
    """An option of ``start_actor``, ``run_in_actor``, ``open_nursery`` or
    ``open_root_actor`` that the actor could not use (a wrong value or type).

    Raised by the call itself, before any process is started.
    """


class StreamOverrun(AgentreeError):
    """A stream's bounded receive buffer overflowed."""


class ActorTooSlowError(AgentreeError):
    """A peer did not answer within its deadline."""


class NoRuntime(AgentreeError, RuntimeError):
    """An actor API was used where no actor runtime is running."""


class NotInfectedAsyncio(AgentreeError, RuntimeError):
    """An ``agentree.to_asyncio`` call where trio is not running on an asyncio loop.

    Only an infected-asyncio actor (``infect_asyncio=True``) or a root started with
    ``run_as_asyncio_guest`` has an asyncio loop to run asyncio tasks on.
    """


class AsyncioCancelled(AgentreeError):
    """The asyncio task a trio task waits on was cancelled from the asyncio side.

    The asyncio ``CancelledError`` is the ``__cause__``. Cancelling the trio side
    also cancels the asyncio task, but then trio's own ``Cancelled`` propagates.
    """


class AsyncioTaskExited(AgentreeError):
    """An asyncio task ended before sending the first value its trio side waits for.

    ``open_channel_from`` waits for the asyncio function's first value; a function
    that returns without sending one gets this error on the trio side.
    """


class CallCancelled(AgentreeError):
    """The caller cancelled the agent call this thread runs.

    Raised by :func:`agentree.check_cancelled` in a thread-mode method (a ``def``),
    which cannot be interrupted otherwise. Let it propagate: the call then ends as
    cancelled.
    """


class AgentCrashed(AgentreeError):
    """An agent incarnation died (or crashed) while this call was in flight.

    The call was not re-run (unless its method is ``idempotent``).

    Attributes:
        path: the agent's path, e.g. ``"app/planner"``.
        incarnation: which incarnation died (1 for the first start).
        cause: how it died: a :class:`agentree.ChildExit` for a process that
            ended, or the exception that crashed it.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        incarnation: int,
        cause: ChildExit | BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.incarnation = incarnation
        self.cause = cause


class AgentRestarting(AgentreeError):
    """The agent is restarting and the call asked to fail fast instead of waiting."""


class AgentUnavailable(AgentreeError):
    """The agent is not running and will not be restarted (stopped, temporary or given up)."""


class AgentBusy(AgentreeError):
    """More calls wait for the agent than its ``max_pending`` allows."""


class AgentExists(AgentreeError):
    """An agent with this name already runs under the same parent."""


class LimitExceeded(AgentreeError):
    """An agent went over one of its resource limits (RSS, CPU seconds, open files)."""


class FeedbackError(AgentreeError):
    """A feedback request failed: a handler raised, or nobody could answer it."""


class StoreError(AgentreeError):
    """A checkpoint store cannot be used, or a checkpoint failed.

    Raised at open for a file that is not a SQLite database, a corrupt one, or
    one written by a newer schema (a store is never silently reset), and by
    ``Agent.checkpoint()`` when the state cannot be written.
    """


class SupervisorGaveUp(AgentreeError, ExceptionGroup):  # type: ignore[misc,unused-ignore]
    """A supervisor saw more restarts than its intensity allows and stopped.

    An exception group of the crashes that used up the intensity.
    """

    def derive(self, excs: Any) -> SupervisorGaveUp:  # type: ignore[override]
        """Keep the type when a group is split (``except*``, trio's nurseries)."""
        return SupervisorGaveUp(self.message, excs)
