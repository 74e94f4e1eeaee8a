"""Finding the current user's running trees and asking their roots (blocking, bounded).

A tree is found by the control file its root writes into the tree's private
directory (see ``agentree._runtime._control``). Only a directory that is a real
directory, owned by this user and closed to everyone else (mode 0700), holding a
regular control file owned by this user and readable by nobody else, counts:
another user's tree is neither listed nor reachable, and a planted file is ignored.

The client speaks the actors' own protocol over the root's socket: the tree's HMAC
handshake, an ``Aid``, then one call to a runtime endpoint. Every step has a
deadline, so a root that does not answer (wedged) costs at most that long.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import stat
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from .._exceptions import AgentreeError, AuthenticationError
from ..msg import Aid, Error, Return, Start, decode_msg, decode_payload, encode
from . import _proc
from ._wire import CONTROL_FILE, MAC, MAGIC, NONCE, TMP_PREFIX, mac

__all__ = ["NotAnswering", "Tree", "call", "find_trees"]

_CLI_NAME = "agentree-cli"


class NotAnswering(AgentreeError):
    """The tree's root did not answer in time (or refused the connection)."""


@dataclass(frozen=True)
class Tree:
    """One running tree, as its control file describes it.

    Attributes:
        dir: the tree's private directory.
        pid: the root's pid.
        name: the root actor's name.
        uuid: the root actor's uuid.
        socket: the root's listening socket.
        secret: the tree's secret (for the handshake).
        started: when the root started (seconds since the epoch).
        argv: the root's command line (its first words).
        debug_mode: whether the tree runs in debug mode (its actors may stop in a REPL).
    """

    dir: str
    pid: int
    name: str
    uuid: str
    socket: str
    secret: bytes
    started: float
    argv: tuple[str, ...]
    debug_mode: bool = False


def _private_dir(path: str, uid: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and stat.S_IMODE(st.st_mode) == 0o700


def _read_control(path: str, uid: int) -> dict[str, Any] | None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if (
            not stat.S_ISREG(st.st_mode)
            or st.st_uid != uid
            or stat.S_IMODE(st.st_mode) & 0o077
            or st.st_size > 65536
        ):
            return None
        try:
            data = json.loads(f.read())
        except ValueError:
            return None
    return data if isinstance(data, dict) else None


def _alive(pid: int, started: float, uid: int) -> bool:
    st = _proc.read_stat(pid)
    # A recycled pid started after the tree did (1 s of slack for rounding).
    return st is not None and st.uid == uid and st.state != "Z" and st.started <= started + 1.0


def find_trees(tmp: str | None = None) -> list[Tree]:
    """Every running tree of the current user, oldest first.

    Args:
        tmp: the directory holding the trees' private directories (the system's
            temp directory by default).
    """
    base = tmp if tmp is not None else tempfile.gettempdir()
    uid = os.getuid()
    trees = []
    try:
        entries = os.listdir(base)
    except OSError:
        return []
    for entry in entries:
        if not entry.startswith(TMP_PREFIX):
            continue
        path = os.path.join(base, entry)
        if not _private_dir(path, uid):
            continue
        data = _read_control(os.path.join(path, CONTROL_FILE), uid)
        if data is None:
            continue
        try:
            tree = Tree(
                dir=path,
                pid=int(data["pid"]),
                name=str(data["name"]),
                uuid=str(data["uuid"]),
                socket=str(data["socket"]),
                secret=bytes.fromhex(data["secret"]),
                started=float(data["started"]),
                argv=tuple(str(a) for a in data.get("argv", ())),
                debug_mode=data.get("debug_mode") is True,
            )
        except (KeyError, TypeError, ValueError):
            continue
        if os.path.dirname(tree.socket) != path or not _alive(tree.pid, tree.started, uid):
            continue
        trees.append(tree)
    trees.sort(key=lambda t: t.started)
    return trees


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the root hung up")
        data += chunk
    return bytes(data)


def _send_msg(sock: socket.socket, msg: Any) -> None:
    body = encode(msg)
    sock.sendall(len(body).to_bytes(4, "big") + body)


def _recv_msg(sock: socket.socket) -> Any:
    size = int.from_bytes(_recv_exact(sock, 4), "big")
    if size > 64 * 1024 * 1024:
        raise AgentreeError(f"the root sent a frame of {size} bytes")
    return decode_msg(_recv_exact(sock, size))


def _handshake(sock: socket.socket, secret: bytes) -> None:
    hello = _recv_exact(sock, len(MAGIC) + NONCE)
    if not hello.startswith(MAGIC):
        raise AuthenticationError("the socket is not an agentree listener")
    server_nonce = hello[len(MAGIC) :]
    client_nonce = secrets.token_bytes(NONCE)
    sock.sendall(client_nonce + mac(secret, b"c", server_nonce, client_nonce))
    if _recv_exact(sock, MAC) != mac(secret, b"s", client_nonce, server_nonce):
        raise AuthenticationError("the root failed the handshake: wrong secret")


def call(tree: Tree, ns: str, kwargs: dict[str, Any], *, timeout: float) -> Any:
    """Call the runtime endpoint ``ns`` in ``tree``'s root and return its answer.

    Args:
        tree: the tree.
        ns: the endpoint.
        kwargs: its arguments.
        timeout: seconds for the whole exchange.

    Raises:
        NotAnswering: no answer within ``timeout`` (or the connection failed).
        AgentreeError: the root answered with an error.
    """
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:

        def step() -> None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)

        try:
            step()
            sock.connect(tree.socket)
            step()
            _handshake(sock, tree.secret)
            step()
            _send_msg(sock, Aid(name=_CLI_NAME, uuid=secrets.token_hex(16), pid=os.getpid()))
            step()
            _recv_msg(sock)
            step()
            _send_msg(sock, Start(cid=1, ns=ns, kwargs=msgspec.Raw(encode(kwargs))))
            while True:
                step()
                msg = _recv_msg(sock)
                if getattr(msg, "cid", None) != 1:
                    continue
                if isinstance(msg, Return):
                    return decode_payload(msg.pld)
                if isinstance(msg, Error):
                    raise AgentreeError(f"the root of {tree.dir} answered: {msg.message}")
        except (TimeoutError, OSError, EOFError) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
            raise NotAnswering(
                f"the root of {tree.dir} (pid {tree.pid}) did not answer within "
                f"{timeout:.2f} s: {why}"
            ) from None
    finally:
        with contextlib.suppress(OSError):
            sock.close()
