"""The root actor: the user's ``trio.run(main)`` becomes the top of the tree.

The root also owns the ways to stop the whole tree from outside: Ctrl-C (trio's
``KeyboardInterrupt``) and SIGTERM (``agentree._sigterm``: a graceful stop, then exit
status 143).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import trio

from . import log as agentree_log
from ._exceptions import AgentreeError, InvalidOption, NotInfectedAsyncio
from ._groups import strict
from ._ipc import make_private_dir, new_secret, remove_private_dir
from ._ipc._janitor import Janitor, start_janitor
from ._options import check_root_options, tree_secret_of
from ._runtime import Actor, RuntimeOptions, actor_runtime, current_actor_or_none, main_origin
from ._runtime._guest import host_loop
from ._runtime._hooks import open_feedback_level
from ._runtime._reaper import become_subreaper, stop_being_subreaper
from ._runtime._tcp import listen_tcp
from ._sigterm import SigtermGuard
from ._spawn import Forkserver, start_forkserver

__all__ = ["open_root_actor"]


@asynccontextmanager
async def open_root_actor(
    *,
    name: str = "root",
    start_method: str = "forkserver",
    debug_mode: bool = False,
    loglevel: str | None = None,
    enable_modules: list[str] | None = None,
    max_frame_size: int | None = None,
    cancel_timeout: float | None = None,
    terminate_timeout: float | None = None,
    infect_asyncio: bool = False,
    registry_addrs: list[Any] | None = None,
    feedback: list[Any] | None = None,
    enable_transports: list[str] | None = None,
    hide_tb: bool = True,
    bind: tuple[str, int] | None = None,
    secret: bytes | str | None = None,
    store: Any = None,
    run_id: str | None = None,
) -> AsyncIterator[Actor]:
    """Run this trio program as the root actor of a new tree.

    Makes the tree's private 0700 directory and, with the default ``forkserver``
    start method, starts the forkserver; both are gone when the block exits.

    Args:
        name: the root actor's name.
        start_method: ``"forkserver"`` (default, fast) or ``"subprocess"``
            (``python -m agentree._child``, a fresh interpreter per child).
        debug_mode: turn on the multi-process debugger for the whole tree.
        loglevel: log agentree's records at this level to stderr, in every actor.
        enable_modules: modules whose functions children may call in the root.
        max_frame_size: the largest message in bytes (default 64 MiB).
        cancel_timeout: seconds a child gets to exit after a cancel request before
            SIGTERM (default 1.0).
        terminate_timeout: seconds a child gets after SIGTERM before SIGKILL
            (default 1.0).
        infect_asyncio: require this trio run to be a guest on an asyncio loop
            (started with :func:`agentree.run_as_asyncio_guest`). A root running as
            such a guest is infected even without it.
        registry_addrs: accepted for tractor compatibility and ignored: the root
            is always its tree's registrar.
        feedback: feedback handlers (``async (FeedbackRequest) -> answer | None``)
            answering ``agentree.request_feedback`` from anywhere in the tree that
            no supervisor's handlers answer (see the README section "Feedback").
        enable_transports: tractor's choice of transports: ``["uds"]`` (the
            default, and what the tree uses inside one machine); with ``"tcp"``
            the root also listens on TCP as with ``bind`` (at the first
            ``(host, port)`` of ``registry_addrs``, else on loopback, a free port).
        hide_tb: accepted for tractor compatibility; tracebacks are never trimmed.
        bind: ``(host, port)`` to listen on TCP, so that programs started
            separately (another terminal, another host) join this tree with
            :func:`agentree.join_tree` or :func:`agentree.connect` (port 0 picks a
            free port: read it from ``agentree.tree_address()``). See the README
            section "Beyond one machine".
        secret: the tree's secret (bytes, or a str encoded as UTF-8), which every
            TCP peer must prove it holds before anything it sends is read. Random
            when not given (``agentree.tree_secret()`` returns it). Never logged.
        store: an ``agentree.Store`` (``agentree.SqliteStore(path)``) where the
            root's feedback level records the answers its ``feedback`` handlers
            give, so that a rerun with the same ``run_id`` does not ask them again;
            without it they are kept in memory. It is opened here (a corrupt file
            or a newer schema raises ``StoreError``) and closed at the end. It is
            also the store of every supervisor opened in this process that names
            none (see the README section "Feedback and checkpoints").
        run_id: the run the answers belong to (default: a new random id); also
            the run id of every supervisor opened in this process that names none.

    While the root is open, SIGTERM to its process cancels it (the tree stops the
    way Ctrl-C stops it) and, once it has closed, raises ``SystemExit(143)``; a
    SIGTERM handler set before is restored then (and called, if it is a Python
    one, instead of the ``SystemExit``). See ``agentree._sigterm``.

    Raises:
        BaseExceptionGroup: the block failed (an error of its own, or of an actor
            nursery in it): a flat group of the failures, even for one, as trio's
            strict nurseries raise; catch with ``except*``. A lone
            ``KeyboardInterrupt`` or ``SystemExit`` comes out bare, and so does an
            error that stopped the root from opening.
        InvalidOption: an option the tree could not use; nothing was started.
        TypeError / ValueError: ``store`` is not an ``agentree.Store``, or
            ``run_id`` is not a non-empty str (as ``open_supervisor``).
        StoreError: ``store`` cannot be opened.
        AgentreeError: an actor runtime is already running here.
        SystemExit: status 143, after the tree was stopped because of SIGTERM.
        NotInfectedAsyncio: ``infect_asyncio`` is set but trio is not running as a
            guest on an asyncio loop.
    """
    check_root_options(
        "open_root_actor()",
        {
            "name": name,
            "start_method": start_method,
            "debug_mode": debug_mode,
            "loglevel": loglevel,
            "enable_modules": enable_modules,
            "max_frame_size": max_frame_size,
            "cancel_timeout": cancel_timeout,
            "terminate_timeout": terminate_timeout,
            "infect_asyncio": infect_asyncio,
            "bind": bind,
            "secret": secret,
        },
    )
    _check_transports(enable_transports)
    if enable_transports is not None and "tcp" in enable_transports and bind is None:
        bind = _tcp_bind_from(registry_addrs)
    if current_actor_or_none() is not None:
        raise AgentreeError("an agentree actor is already running in this task tree")
    infected = host_loop() is not None
    if infect_asyncio and not infected:
        raise NotInfectedAsyncio(
            f"open_root_actor(name={name!r}, infect_asyncio=True) needs trio to run as a "
            "guest on an asyncio loop: start the program with "
            "agentree.run_as_asyncio_guest(main) instead of trio.run(main)"
        )
    main_path, main_name = main_origin()
    options = RuntimeOptions(start_method=start_method).evolve(
        debug_mode=debug_mode,
        loglevel=loglevel,
        max_frame_size=max_frame_size,
        cancel_timeout=cancel_timeout,
        terminate_timeout=terminate_timeout,
        main_path=main_path,
        main_name=main_name,
        secret=tree_secret_of(secret) or new_secret(),
    )
    guard = SigtermGuard()
    entered = False
    try:
        with guard.installed():
            async with (
                _root_runtime(name, options, enable_modules, infected, guard) as actor,
                open_feedback_level(actor, feedback, store, run_id),
            ):
                if bind is not None:
                    await listen_tcp(actor, bind[0], bind[1])
                entered = True
                yield actor
    except BaseException as exc:
        guard.after_close(exc)
        if not entered:
            raise  # the root did not open: a bad option, as at the call site
        # Strict, as trio's nurseries: a failure comes out in a flat group, even alone.
        shaped = strict(exc, f"errors in the root actor {name!r}")
        if shaped is exc:
            raise
        raise shaped from None
    guard.after_close(None)


TRANSPORTS = ("uds", "tcp")


def _tcp_bind_from(registry_addrs: list[Any] | None) -> tuple[str, int]:
    """The TCP address of a root asked for ``enable_transports=["tcp"]``.

    tractor's form: the first of ``registry_addrs`` when it is a ``(host, port)``,
    else loopback on a free port (read it from ``agentree.tree_address()``).
    """
    for addr in registry_addrs or ():
        if (
            isinstance(addr, list | tuple)
            and len(addr) == 2
            and isinstance(addr[0], str)
            and isinstance(addr[1], int)
        ):
            return (addr[0], addr[1])
    return ("127.0.0.1", 0)


def _check_transports(value: Any) -> None:
    """Check ``open_root_actor(enable_transports=...)``."""
    if value is None:
        return
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(t, str) and t in TRANSPORTS for t in value)
    ):
        raise InvalidOption(
            f"open_root_actor(): enable_transports={value!r} is invalid: expected a "
            f"non-empty list of {', '.join(map(repr, TRANSPORTS))}"
        )


@asynccontextmanager
async def _root_runtime(
    name: str,
    options: RuntimeOptions,
    enable_modules: list[str] | None,
    infected: bool,
    guard: SigtermGuard,
) -> AsyncIterator[Actor]:
    # The private dir holds the actors' sockets (and the forkserver's); the
    # forkserver, or else a janitor, removes it even when the root dies.
    tmpdir = make_private_dir()
    options = options.evolve(tmpdir=tmpdir)
    forkserver: Forkserver | None = None
    janitor: Janitor | None = None
    # Subprocess children are this process's own: their orphans must come here to be
    # killed (see _runtime._reaper; the forkserver does it for forked children).
    was_subreaper = options.start_method != "subprocess" or become_subreaper()
    try:
        if options.start_method == "forkserver":
            forkserver = await start_forkserver(tmpdir)
            options = options.evolve(forkserver_path=forkserver.path)
        else:
            janitor = await start_janitor(tmpdir)
        actor = Actor(
            name,
            is_root=True,
            enable_modules=set(enable_modules or ()),
            options=options,
            infect_asyncio=infected,
        )
        agentree_log.configure(options.loglevel, name)
        async with actor_runtime(actor):
            guard.watch(actor)
            yield actor
    finally:
        if not was_subreaper:
            stop_being_subreaper()
        with trio.CancelScope(shield=True):
            if forkserver is not None:
                await forkserver.aclose()
            remove_private_dir(tmpdir)
            if janitor is not None:
                await janitor.aclose()
