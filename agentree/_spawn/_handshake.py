"""A new child's handshake, the same for every start method: ``SpawnSpec`` out, ``Aid`` back.

:func:`child_spec` makes the child's :class:`~agentree.msg.SpawnSpec` from the
parent's options. The parent sends it to the child and waits (at most
``HANDSHAKE_TIMEOUT``) for its :class:`~agentree.msg.Aid`, or for the ``Error`` the
child answers when it cannot start. Any failure stops the child (the caller says
how), tells the registry that it failed, and comes out as a ``SpawnError``.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from .._exceptions import SpawnError, TransportClosed
from .._ipc import Channel
from .._runtime import Actor
from .._runtime._boxing import unbox_error
from .._runtime._lookup import wire_module_name
from .._runtime._registry import child_failed
from .._runtime._serve import HANDSHAKE_TIMEOUT
from ..msg import Aid, Error, SpawnSpec

__all__ = ["child_spec", "handshake"]


def child_spec(
    parent: Actor,
    name: str,
    uuid: str,
    *,
    enable_modules: list[str],
    debug_mode: bool | None,
    loglevel: str | None,
    infect_asyncio: bool,
    **where: Any,
) -> SpawnSpec:
    """The ``SpawnSpec`` of child ``name`` of ``parent``, from the parent's options.

    Args:
        parent: the actor starting the child.
        name: the child's name.
        uuid: the child's uuid.
        enable_modules: the modules the child may run functions of.
        debug_mode: the child's debug mode (``None``: the parent's).
        loglevel: the child's log level (``None``: the parent's).
        infect_asyncio: whether the child runs trio as a guest of asyncio.
        **where: the fields that depend on how it is started (``start_method``,
            ``forkserver_path``, ``transport``, ``proxy_tty``, ``tcp_interface``).
    """
    opts = parent.options
    return SpawnSpec(
        name=name,
        uuid=uuid,
        parent_uid=parent.uid,
        enable_modules=[wire_module_name(m) for m in enable_modules],
        sys_path=list(sys.path),
        main_path=opts.main_path,
        main_name=opts.main_name,
        loglevel=loglevel or opts.loglevel,
        debug_mode=opts.debug_mode if debug_mode is None else debug_mode,
        tmpdir=opts.tmpdir,
        max_frame_size=opts.max_frame_size,
        cancel_timeout=opts.cancel_timeout,
        terminate_timeout=opts.terminate_timeout,
        infect_asyncio=infect_asyncio,
        secret=opts.secret,
        path=parent.child_path(name),
        **where,
    )


async def handshake(
    parent: Actor,
    chan: Channel,
    spec: SpawnSpec,
    *,
    stop: Callable[[], Awaitable[None]],
    describe: Callable[[], str],
) -> None:
    """Send ``spec`` to the new child on ``chan`` and wait for its ``Aid``.

    Args:
        parent: the actor starting the child.
        chan: the channel to the child.
        spec: what the child is to be (its ``name`` and ``uuid`` name it in errors).
        stop: kills the child and closes ``chan`` (run shielded, on any failure).
        describe: called after ``stop`` when the child exited during the
            handshake: the error's text after the actor's name, e.g.
            ``"(pid 12) exited during its handshake with code 1"``.

    Raises:
        SpawnError: the child could not start, exited or did not answer in time.
    """
    name, uuid = spec.name, spec.uuid
    try:
        await chan.send(spec)
        with trio.fail_after(HANDSHAKE_TIMEOUT):
            reply = await chan.recv()
        if isinstance(reply, Error):
            cause = unbox_error(reply)
            raise SpawnError(f"actor {name!r} failed to start: {cause.args[0]}") from cause
        if not isinstance(reply, Aid) or reply.uuid != uuid:
            raise SpawnError(f"actor {name!r} answered the handshake with {type(reply).__name__}")
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await stop()
        child_failed(parent, uuid)
        if isinstance(exc, TransportClosed):
            raise SpawnError(f"actor {name!r} {describe()}") from exc
        if isinstance(exc, trio.TooSlowError):
            raise SpawnError(f"actor {name!r} did not finish its handshake in time") from exc
        raise
