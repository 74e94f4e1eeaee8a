"""Wire message types: one msgspec tagged union.

Every frame on a channel carries exactly one of these. Structs are ``array_like``
(positional on the wire, so field names never travel) and tagged by a short string in
the first position. New fields must get defaults so that older peers still decode.

Dialogs (one RPC call, context or stream) are keyed by ``cid``. Each side of a
channel allocates its own cids with its own parity (see ``agentree._ipc``), so a cid
names one dialog for both sides.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from msgspec import Raw, Struct

__all__ = [
    "Aid",
    "Cancel",
    "CancelAck",
    "Credit",
    "Error",
    "Msg",
    "Return",
    "SpawnSpec",
    "Start",
    "StartAck",
    "Started",
    "Stop",
    "Yield",
]

Uid = tuple[str, str]


class _Base(Struct, array_like=True, tag_field="t", frozen=False):
    pass


class Aid(_Base, tag="aid"):
    """A child's identity, sent to its parent once the child is up."""

    name: str
    uuid: str
    pid: int

    @property
    def uid(self) -> tuple[str, str]:
        """``(name, uuid)``: the actor's uid (tractor's ``Aid.uid``)."""
        return (self.name, self.uuid)


class SpawnSpec(_Base, tag="spec"):
    """Everything a new child needs to become an actor, sent by its parent."""

    name: str
    uuid: str
    parent_uid: Uid
    enable_modules: list[str]
    sys_path: list[str]
    main_path: str | None = None
    main_name: str | None = None
    loglevel: str | None = None
    debug_mode: bool = False
    start_method: str = "forkserver"
    forkserver_path: str | None = None
    tmpdir: str | None = None
    transport: str = "uds"
    secret: bytes = b""
    max_frame_size: int = 64 * 1024 * 1024
    cancel_timeout: float = 0.5
    terminate_timeout: float = 0.5
    infect_asyncio: bool = False
    # The child's path in the tree: its ancestors' names and its own, joined by "/".
    path: str = ""
    # No access to the tree's terminal (Ray-hosted, or below such an actor): its
    # REPLs talk through the terminal-lock dialog (``agentree.devx._proxy``).
    proxy_tty: bool = False
    # Where the child listens on TCP once started ("": it does not), for a tree
    # that spans hosts below an actor reached over TCP (see ``_runtime._tcp``).
    tcp_interface: str = ""


FuncKind = Literal["func", "ctx", "gen"]


class Start(_Base, tag="start"):
    """Open a dialog: call ``ns`` (``module:qualname``) with ``kwargs``.

    ``kwargs`` is a msgpack map, decoded lazily by the callee.
    """

    cid: int
    ns: str
    kwargs: Raw
    kind: FuncKind = "func"


class StartAck(_Base, tag="ack"):
    """The callee found the function and started it (contexts and streams)."""

    cid: int


class Started(_Base, tag="started"):
    """A context's first value, from ``ctx.started()``."""

    cid: int
    pld: Raw


class Yield(_Base, tag="yield"):
    """One stream item."""

    cid: int
    pld: Raw


class Stop(_Base, tag="stop"):
    """The sender will send no more stream items in this dialog."""

    cid: int


class Return(_Base, tag="return"):
    """The dialog's function returned ``pld``; the dialog is over."""

    cid: int
    pld: Raw


class Error(_Base, tag="error"):
    """The dialog (or, with ``cid`` of ``None``, the channel) failed.

    Carries what a :class:`~agentree.RemoteActorError` needs on the other side.
    """

    cid: int | None
    type_str: str
    message: str
    tb_str: str
    src_uid: Uid
    relay_path: list[Uid] = msgspec.field(default_factory=list)
    call: str = ""
    canceller: Uid | None = None


class Cancel(_Base, tag="cancel"):
    """Ask the peer to cancel the task behind dialog ``cid``."""

    cid: int


class Credit(_Base, tag="credit"):
    """The sender of this may now receive ``n`` more stream items in dialog ``cid``.

    Flow control: a stream side grants its receive window when it opens its stream,
    then re-grants as its consumer takes items, so a sender never has more items in
    flight than the receiver agreed to buffer.
    """

    cid: int
    n: int


class CancelAck(_Base, tag="cancelack"):
    """The dialog's task was cancelled and has ended; the dialog is over."""

    cid: int
    canceller: Uid | None = None


Msg = (
    Aid
    | SpawnSpec
    | Start
    | StartAck
    | Started
    | Yield
    | Stop
    | Return
    | Error
    | Cancel
    | CancelAck
    | Credit
)
