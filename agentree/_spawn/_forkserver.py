"""The forkserver: one pre-imported process per tree that forks every child.

Starting an interpreter and importing trio and msgspec costs ~190 ms; forking a
process that already did costs a few. The root starts the forkserver with a bound UDS
listening socket (in the tree's private directory) and a control pipe. The
forkserver is a copy of the root, forked when the root is single-threaded (ready at
once, see ``_forkcopy`` for why and how), or else a fresh interpreter that imports
agentree first (``python -c _ENTRY``); both run the same loop (:func:`serve`). Any actor in
the tree asks for a child by connecting and passing the child's end of a socketpair
(``SCM_RIGHTS``); the forkserver forks, and the child becomes an actor on that socket.

Per-child protocol on the request connection (all integers big-endian):

- client -> server: ``b"F"`` with the socket fd attached;
- server -> client: ``b"P"`` + pid (8 bytes), then, when the child exits,
  ``b"X"`` + exit code (8 bytes, signed; ``-N`` for death by signal N);
- client -> server: ``b"S"`` + signal number (4 bytes), any number of times;
- client hangs up before the child exits -> the server SIGKILLs the child: a child
  never outlives the actor that asked for it.

The forkserver is the OS parent of every forked child, so it alone can signal and
reap them without pid-reuse races. It is also a child subreaper: when a forked actor
dies without cleaning up (SIGKILL, a crash), the processes its user code started are
re-parented to the forkserver, which kills and reaps every such stray (any child it
did not fork itself) each time one of its actors ends. When the control pipe closes
(the root exited or died) it kills what is left, reaps it, removes the tree's
private directory and exits.
"""

from __future__ import annotations

import array
import contextlib
import os
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field

import trio

from .._exceptions import SpawnError
from .._ipc._helper import HelperProcess, ProcessLike
from .._runtime._reaper import become_subreaper, kill_strays_now
from ._forkcopy import (
    ForkedServerProcess,
    fork_forkserver,
    fork_refusal,
    restore_process_name,
)
from ._proc import child_env

__all__ = [
    "ForkedProcess",
    "Forkserver",
    "fork_child",
    "serve",
    "serve_main",
    "start_forkserver",
]

_REC = 9  # one tag byte + 8 bytes of value
_STOP_TIMEOUT = 5.0  # seconds the forkserver gets to reap its children and exit
_STRAYS_DELAY = 0.05  # at most this long between a child's exit and the look for strays
_ENTRY = "from agentree._spawn._forkserver import serve_main; serve_main()"


@dataclass
class _Child:
    pid: int
    conn: socket.socket | None
    pidfd: int
    buf: bytearray = field(default_factory=bytearray)


class _Server:
    def __init__(self, listener: socket.socket, control_fd: int) -> None:
        self.listener = listener
        self.control_fd = control_fd
        self.sel = selectors.DefaultSelector()
        self.children: dict[int, _Child] = {}
        # Processes re-parented here from a dead actor's subtree, killed, not reaped
        # yet: pid -> pidfd.
        self.strays: dict[int, int] = {}
        # When a forked child ended since the last look for strays (None: none did).
        self.strays_due: float | None = None
        self.pending: set[socket.socket] = set()
        self.sel.register(listener, selectors.EVENT_READ, ("accept", None))
        self.sel.register(control_fd, selectors.EVENT_READ, ("control", None))

    def serve(self) -> None:
        while True:
            due = self.strays_due
            events = self.sel.select(None if due is None else 0)
            # Once idle, or after a short while in a busy tree.
            if due is not None and (not events or time.monotonic() - due > _STRAYS_DELAY):
                self.strays_due = None
                self._kill_strays()
            for key, _ in events:
                kind, data = key.data
                if kind == "accept":
                    self._accept()
                elif kind == "request":
                    self._request(data)
                elif kind == "client":
                    self._client(data)
                elif kind == "exit":
                    self._reap(data)
                elif kind == "stray":
                    self._reap_stray(data)
                elif kind == "control" and not os.read(self.control_fd, 64):
                    self._shutdown()
                    return

    def _accept(self) -> None:
        try:
            conn, _ = self.listener.accept()
        except BlockingIOError:
            return
        self.pending.add(conn)
        self.sel.register(conn, selectors.EVENT_READ, ("request", conn))

    def _drop_pending(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        self.pending.discard(conn)
        conn.close()

    def _request(self, conn: socket.socket) -> None:
        try:
            data, fds, _, _ = socket.recv_fds(conn, 16, 1)
        except OSError:
            data, fds = b"", []
        if data != b"F" or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            self._drop_pending(conn)
            return
        self.sel.unregister(conn)
        self.pending.discard(conn)
        pid = os.fork()
        if pid == 0:
            self._become_child(fds[0])
        os.close(fds[0])
        pidfd = os.pidfd_open(pid)
        child = self.children[pid] = _Child(pid, conn, pidfd)
        try:
            conn.sendall(b"P" + pid.to_bytes(8, "big"))
        except OSError:
            self._hang_up(child)
        else:
            self.sel.register(conn, selectors.EVENT_READ, ("client", child))
        self.sel.register(pidfd, selectors.EVENT_READ, ("exit", child))

    def _become_child(self, fd: int) -> None:
        # Imported here, not at the top: ``python -m agentree._child`` must find the
        # module unimported. The forkserver preloads it, so this costs nothing.
        from .._child import flush_and_exit, run_from_fd

        code = 1
        try:
            parent = os.getppid()
            self.sel.close()
            self.listener.close()
            os.close(self.control_fd)
            for sig in (signal.SIGTERM, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            for other in self.pending:
                other.close()
            for other_child in self.children.values():
                os.close(other_child.pidfd)
                if other_child.conn is not None:
                    other_child.conn.close()
            for stray_pidfd in self.strays.values():
                os.close(stray_pidfd)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            restore_process_name()
            code = run_from_fd(fd, parent)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            flush_and_exit(code)

    def _client(self, child: _Child) -> None:
        if child.conn is None:
            return  # a stale event: the child was reaped earlier in this batch
        try:
            data = child.conn.recv(4096)
        except OSError:
            data = b""
        if not data:
            self._hang_up(child)
            return
        child.buf += data
        while len(child.buf) >= 5:
            tag, sig = child.buf[0:1], int.from_bytes(child.buf[1:5], "big")
            del child.buf[:5]
            if tag == b"S":
                self._signal(child, sig)

    def _signal(self, child: _Child, sig: int) -> None:
        # Still ours until reaped, so the pid cannot have been reused.
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, sig)

    def _hang_up(self, child: _Child) -> None:
        if child.conn is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(child.conn)
            child.conn.close()
            child.conn = None
        if child.pid in self.children:
            self._signal(child, signal.SIGKILL)

    def _reap(self, child: _Child) -> None:
        _, status = os.waitpid(child.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.sel.unregister(child.pidfd)
        os.close(child.pidfd)
        del self.children[child.pid]
        if child.conn is not None:
            with contextlib.suppress(OSError):
                child.conn.sendall(b"X" + code.to_bytes(8, "big", signed=True))
            self._hang_up(child)
        # Then what the actor left behind: once nothing else is pending, so that its
        # exit is news first and the exits of a whole nursery share one scan.
        if self.strays_due is None:
            self.strays_due = time.monotonic()

    def _kill_strays(self) -> None:
        """SIGKILL the children that this process did not fork: a dead actor's orphans.

        Each is reaped when its pidfd says it exited; its own children are
        re-parented here meanwhile, so the reap looks again.
        """
        for pid in kill_strays_now(keep=set(self.children) | set(self.strays)):
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            self.strays[pid] = pidfd
            self.sel.register(pidfd, selectors.EVENT_READ, ("stray", pid))

    def _reap_stray(self, pid: int) -> None:
        pidfd = self.strays.pop(pid)
        self.sel.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        self._kill_strays()

    def _shutdown(self) -> None:
        for child in list(self.children.values()):
            self._signal(child, signal.SIGKILL)
        for child in list(self.children.values()):
            self._reap(child)
        self._kill_strays()
        # Bounded: a stray forking as fast as it can must not keep the tree alive.
        for _ in range(100):
            if not self.strays:
                break
            for pid in list(self.strays):
                self._reap_stray(pid)
        path = self.listener.getsockname() if self.listener.fileno() != -1 else None
        self.listener.close()
        if isinstance(path, str) and path:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def serve_main() -> None:
    """The fresh forkserver process's main: ``python -c _ENTRY LISTEN_FD CONTROL_FD``.

    It ignores the signals a terminal or ``kill -PGID`` sends the whole group: it
    must outlive the root long enough to kill what is left and remove the tree's
    directory, which it does when its control pipe closes.
    """
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    listen_fd, control_fd = int(sys.argv[1]), int(sys.argv[2])
    import agentree
    import agentree._runtime._serve  # noqa: F401
    from agentree._proctitle import actor_title, set_title

    set_title(actor_title("forkserver", os.getppid()))

    serve(listen_fd, control_fd)


def serve(listen_fd: int, control_fd: int) -> None:
    """Serve fork requests on ``listen_fd`` until ``control_fd`` reads end of file.

    The loop of both kinds of forkserver: fresh (:func:`serve_main`) and a copy of
    the root (``_forkcopy``).
    """
    become_subreaper()
    # It reaps its children itself: a SIGCHLD ignored by the root (inherited through
    # fork, or through exec) would have the kernel reap them first.
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    listener = socket.socket(fileno=listen_fd)
    listener.setblocking(False)
    server = _Server(listener, control_fd)
    try:
        server.serve()
    except BaseException:
        # Never leave children or the tree's directory behind, even on a bug here.
        server._shutdown()
        raise


class Forkserver(HelperProcess):
    """The root's handle on its forkserver process.

    ``aclose()`` stops it: it kills and reaps any child still running, then exits.

    Attributes:
        path: the forkserver's listening socket.
        forked: whether it is a copy of the root (``_forkcopy``) or a fresh
            interpreter.
        pid: its process id.
    """

    def __init__(self, proc: ProcessLike, control_w: int, path: str, *, forked: bool) -> None:
        super().__init__(proc, control_w, stop_timeout=_STOP_TIMEOUT)
        self.path = path
        self.forked = forked


async def start_forkserver(tmpdir: str) -> Forkserver:
    """Start the tree's forkserver, listening in ``tmpdir``. Returns at once.

    The socket is bound and listening before the forkserver process even starts, so
    requests can be made right away; a fresh forkserver answers them once it has
    finished its imports. When this process may be forked safely (see
    ``_forkcopy``), the forkserver is a copy of it, ready at once; otherwise a
    fresh interpreter.
    """
    path = os.path.join(tmpdir, "forkserver.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    control_r, control_w = os.pipe()
    forked = False
    try:
        listener.bind(path)
        listener.listen(128)
        keep = (listener.fileno(), control_r)
        if fork_refusal() is None:
            proc: ProcessLike = ForkedServerProcess(fork_forkserver(keep, serve, child_env()))
            forked = True
        else:
            with _sigint_ignored_from_birth():
                proc = await trio.lowlevel.open_process(
                    [sys.executable, "-c", _ENTRY, *map(str, keep)],
                    pass_fds=keep,
                    env=child_env(),
                )
    except BaseException:
        os.close(control_w)
        raise
    finally:
        listener.close()
        os.close(control_r)
    return Forkserver(proc, control_w, path, forked=forked)


@contextlib.contextmanager
def _sigint_ignored_from_birth() -> Iterator[None]:
    """Start a process that ignores SIGINT before its interpreter even starts.

    ``serve_main`` ignores SIGINT, but only once ``site`` and its imports ran: a
    Ctrl-C in the first milliseconds of a tree (a REPL opened at once, say) would
    kill the forkserver. An ignored disposition survives ``exec`` and Python keeps
    it, so the process is started while this one ignores SIGINT (briefly).
    """
    try:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: nothing to do from here
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class ForkedProcess:
    """A child forked by the forkserver, seen from the actor that asked for it."""

    def __init__(self, stream: trio.SocketStream, pid: int) -> None:
        self._stream = stream
        self.pid = pid
        self._returncode: int | None = None
        self._lock = trio.Lock()

    @property
    def returncode(self) -> int | None:
        return self._returncode

    async def wait(self) -> int:
        """Wait for the exit code the forkserver reports (-9 if it vanished)."""
        async with self._lock:
            if self._returncode is None:
                try:
                    record = await _read_exact(self._stream, _REC)
                except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                    record = b""
                if len(record) == _REC and record[:1] == b"X":
                    self._returncode = int.from_bytes(record[1:], "big", signed=True)
                else:
                    self._returncode = -int(signal.SIGKILL)
                await self._stream.aclose()
        return self._returncode

    async def send_signal(self, sig: int) -> None:
        """Have the forkserver send ``sig`` to the child, unless it already exited."""
        if self._returncode is not None:
            return
        with contextlib.suppress(
            trio.BrokenResourceError, trio.ClosedResourceError, trio.BusyResourceError, OSError
        ):
            await self._stream.send_all(b"S" + int(sig).to_bytes(4, "big"))


async def _read_exact(stream: trio.SocketStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = await stream.receive_some(size - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)


async def fork_child(forkserver_path: str, fd: int) -> ForkedProcess:
    """Ask the forkserver for a child actor on the connected socket ``fd``.

    Raises:
        SpawnError: the forkserver is unreachable or refused.
    """
    try:
        stream = await trio.open_unix_socket(forkserver_path)
    except OSError as exc:
        raise SpawnError(f"cannot reach the forkserver at {forkserver_path}: {exc}") from exc
    try:
        await stream.socket.sendmsg(
            [b"F"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        )
        record = await _read_exact(stream, _REC)
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
        await trio.aclose_forcefully(stream)
        raise SpawnError(f"the forkserver at {forkserver_path} went away: {exc}") from exc
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    if len(record) != _REC or record[:1] != b"P":
        await stream.aclose()
        raise SpawnError("the forkserver did not start the child")
    return ForkedProcess(stream, int.from_bytes(record[1:], "big"))
