"""Entry of a child hosted by Ray: ``python -m agentree._spawn._ray_child``.

Started by :class:`~agentree._spawn._ray_host.RayHost` on the node Ray picked, with
its boot record on stdin. It connects back to its parent over TCP, passes the tree's
HMAC handshake, sends its ``Aid`` and receives its ``SpawnSpec``; from then on it is
an ordinary child actor (``agentree._runtime._serve.run_child``) whose parent channel
happens to be TCP, with the heartbeat of ``agentree._ipc._heartbeat`` on it.

It ends when its parent asks it to, when the parent's channel ends (end of file, or
the heartbeat finding the parent lost), and when its host goes away (end of file on
stdin, the lifeline: it then kills itself at once).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading

__all__ = ["main"]

_HEADER = 4


def _lifeline() -> None:
    """Kill this process when the host's end of stdin closes."""
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os.kill(os.getpid(), signal.SIGKILL)


def _send_frame(sock: socket.socket, msg: object) -> None:
    from ..msg import encode

    body = encode(msg)
    sock.sendall(len(body).to_bytes(_HEADER, "big") + body)


def _connect(boot: dict[str, object]) -> socket.socket:
    from .._ipc._auth_blocking import authenticate_client_blocking
    from .._ipc._heartbeat import set_heartbeat
    from .._runtime._serve import HANDSHAKE_TIMEOUT

    sock = socket.create_connection(
        (str(boot["host"]), int(boot["port"])),  # type: ignore[call-overload]
        timeout=HANDSHAKE_TIMEOUT,
    )
    set_heartbeat(sock)
    authenticate_client_blocking(sock, bytes.fromhex(str(boot["secret"])))
    return sock


def run(boot: dict[str, object]) -> int:
    """Connect to the parent, receive the spec, and live as its child; the exit code."""
    from .._ipc import make_private_dir, remove_private_dir
    from .._runtime._reaper import become_subreaper
    from .._runtime._serve import receive_spec
    from ..msg import Aid

    become_subreaper()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sock = _connect(boot)
    _send_frame(sock, Aid(name=str(boot["name"]), uuid=str(boot["uuid"]), pid=os.getpid()))
    sock.setblocking(True)
    spec = receive_spec(sock)
    if spec is None:
        sock.close()
        return 3
    own_dir = None
    if spec.tmpdir is None or not os.access(spec.tmpdir, os.W_OK | os.X_OK):
        # Another host: a private dir of our own for this child's sockets.
        own_dir = spec.tmpdir = make_private_dir()
    try:
        import trio

        from .._runtime._serve import run_child

        if spec.infect_asyncio:
            from .._runtime._guest import run_as_asyncio_guest

            return run_as_asyncio_guest(run_child, sock, spec)
        return trio.run(run_child, sock, spec)
    finally:
        if own_dir is not None:
            remove_private_dir(own_dir)


def main() -> None:
    """Read the boot record from stdin, keep stdin as the lifeline, run, exit."""
    boot = json.loads(sys.stdin.buffer.readline())
    threading.Thread(target=_lifeline, name="agentree-lifeline", daemon=True).start()
    from .._child import flush_and_exit

    try:
        code = run(boot)
    except Exception as exc:
        print(f"agentree: ray-hosted actor {boot.get('name')!r} failed: {exc!r}", file=sys.stderr)
        code = 1
    flush_and_exit(code)


if __name__ == "__main__":
    main()
