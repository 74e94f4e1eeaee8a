"""The ``"ray"`` start method: a child actor hosted on the node Ray picks.

Ray places, agentree supervises. For each child the parent:

1. makes sure it listens on TCP (on this node's address; see ``_runtime._tcp``);
2. creates a thin Ray actor, :class:`~agentree._spawn._ray_host.RayHost`, with the
   child's :class:`RayPlacement` (CPUs, GPUs, memory, custom resources, node
   affinity or a placement group, ``runtime_env``); its constructor starts the
   agentree child process on that node and hands it the boot record (the tree's
   secret included) through a pipe;
3. waits for the child to connect back and pass the tree's HMAC handshake, sends
   its ``SpawnSpec`` and waits for its ``Aid``, as for any child;
4. then, in the background, asks it to listen on TCP on its node: it registers
   that address and its host id, so that actors on other hosts reach it directly
   (see ``_runtime._tcp``).

A Ray-hosted child has no access to the tree's terminal (its stdin is its host's
pipe, its stdout Ray's worker log): its spec says ``proxy_tty``, which its own
children inherit, and in debug mode its REPLs read and write through the terminal
lock's dialog with the root (see ``agentree.devx._proxy``).

From then on the child is an ordinary actor of the tree. Its process is watched
through the host (``RayHost.wait`` in a thread), signalled through it, and the
host is ``ray.kill``-ed as soon as the child has ended, or at once on the last
step of a stop (SIGKILL), so that no Ray actor outlives its agentree actor. A
parent that dies (even by SIGKILL) takes its Ray-hosted children with it: they
see end of file on their TCP channel (or the heartbeat finds it lost), and Ray
ends the hosts of a dead driver itself.

Ray is imported only when a child is spawned this way; ``ray.init()`` is the
user's call (a local Ray, or ``address="auto"`` for a running cluster).
"""

from __future__ import annotations

import json
import logging
import signal
from typing import Any

import trio

from .._exceptions import AgentreeError, SpawnError
from .._runtime import Actor, Conn
from .._runtime._registry import child_failed, child_started
from .._runtime._serve import HANDSHAKE_TIMEOUT
from .._runtime._tcp import LISTEN_NS, listen_tcp, tcp_side
from ._handshake import child_spec, handshake
from ._placement import RayPlacement

__all__ = ["NO_RAY", "RayHostedProcess", "RayPlacement", "spawn_ray_actor"]

log = logging.getLogger("agentree.spawn")

NO_RAY = (
    "start_method='ray' needs a running Ray in this process: call ray.init() first "
    "(a local Ray on this machine), or ray.init(address='auto') to join a cluster "
    "started with `ray start --head` (see the README section 'Beyond one machine')"
)


def import_ray() -> Any:
    """Import Ray, or explain how to get it."""
    try:
        import ray
    except ImportError as exc:
        raise SpawnError("start_method='ray' needs Ray: pip install 'agentree[ray]'") from exc
    return ray


_host_classes: dict[int, Any] = {}


def _host_class(ray: Any) -> Any:
    cls = _host_classes.get(id(ray))
    if cls is None:
        from ._ray_host import RayHost

        cls = _host_classes[id(ray)] = ray.remote(RayHost)
    return cls


def _check_feasible(ray: Any, placement: RayPlacement, name: str) -> None:
    """Fail at once for resources the whole cluster does not have (Ray would wait)."""
    wanted: dict[str, float] = dict(placement.resources or {})
    for key, value in (("CPU", placement.num_cpus), ("GPU", placement.num_gpus)):
        if value:
            wanted[key] = value
    if placement.memory:
        wanted["memory"] = placement.memory
    if not wanted:
        return
    total = ray.cluster_resources()
    missing = {k: v for k, v in wanted.items() if total.get(k, 0) < v}
    if missing:
        raise SpawnError(
            f"actor {name!r}: no node of the Ray cluster can ever host it: it asks for "
            f"{missing}, the cluster has { ({k: total.get(k, 0) for k in missing}) }"
        )


# How long a SIGKILLed child's host gets to report the exit before it is killed.
_KILL_GRACE = 2.0


class RayHostedProcess:
    """A child process hosted by a Ray actor: waited for and signalled through it."""

    def __init__(self, ray: Any, host: Any, pid: int, node: str, node_id: str = "") -> None:
        self._ray = ray
        self.host = host
        self.pid = pid
        self.node = node
        self.node_id = node_id
        self._returncode: int | None = None
        self._lock = trio.Lock()
        self._wait_ref = host.wait.remote()
        self._killed = False

    @property
    def returncode(self) -> int | None:
        return self._returncode

    def _wait_blocking(self) -> int:
        ray = self._ray
        try:
            code = int(ray.get(self._wait_ref))
        except Exception as exc:
            # The host died (ray.kill, node failure): the child went with it.
            log.debug("ray host of pid %d ended: %r", self.pid, exc)
            code = -signal.SIGKILL
        self.kill_host()
        return code

    async def wait(self) -> int:
        """Wait until the child has exited (its host then goes too); its return code."""
        async with self._lock:
            if self._returncode is None:
                self._returncode = await trio.to_thread.run_sync(
                    self._wait_blocking,
                    abandon_on_cancel=True,
                    limiter=trio.CapacityLimiter(1),
                )
        return self._returncode

    async def send_signal(self, sig: int) -> None:
        """Signal the child through its host; SIGKILL also kills the host.

        The SIGKILL goes to the child first (so that it is gone when its exit is
        reported), then the host is killed, at the latest after ``_KILL_GRACE``
        seconds: a host that does not answer (its node is gone) is killed anyway.
        """
        if self._returncode is None:
            self.host.signal.remote(int(sig))
            if sig == signal.SIGKILL:
                ray, ref = self._ray, self._wait_ref
                await trio.to_thread.run_sync(
                    lambda: ray.wait([ref], timeout=_KILL_GRACE), abandon_on_cancel=True
                )
                self.kill_host()
        await trio.lowlevel.checkpoint()

    def kill_host(self) -> None:
        """``ray.kill`` the host actor (once); its child dies with it."""
        if not self._killed:
            self._killed = True
            try:
                self._ray.kill(self.host, no_restart=True)
            except Exception as exc:
                log.debug("ray.kill of the host of pid %d: %r", self.pid, exc)


def _advertised(host: str, ray: Any) -> str:
    if host in ("0.0.0.0", "", "::"):
        return str(ray.util.get_node_ip_address())
    return host


async def _listen_for_children(parent: Actor, ray: Any) -> tuple[str, int]:
    side = tcp_side(parent)
    if side.address is None:
        await listen_tcp(parent, str(ray.util.get_node_ip_address()))
    assert side.address is not None
    return _advertised(side.address.host, ray), side.address.port


async def spawn_ray_actor(
    parent: Actor,
    name: str,
    *,
    uuid: str,
    enable_modules: list[str],
    debug_mode: bool | None = None,
    loglevel: str | None = None,
    infect_asyncio: bool = False,
    placement: RayPlacement | None = None,
) -> Any:
    """Start a child actor hosted by Ray and complete its handshake; its ``Child``.

    Raises:
        SpawnError: Ray is missing or not running, the placement can never be met,
            or the child did not start (or connect back) in time.
    """
    from ._spawner import Child

    ray = import_ray()
    if not ray.is_initialized():
        raise SpawnError(f"cannot start actor {name!r}: {NO_RAY}")
    placement = placement or RayPlacement()
    placement.check(f"start_actor({name!r})")
    _check_feasible(ray, placement, name)
    host_addr, port = await _listen_for_children(parent, ray)
    side = tcp_side(parent)
    arrivals = side.expect(uuid)
    boot = json.dumps(
        {
            "host": host_addr,
            "port": port,
            "name": name,
            "uuid": uuid,
            "secret": parent.options.secret.hex(),
        }
    ).encode()
    options = placement.ray_options(ray)
    host = _host_class(ray).options(max_concurrency=4, max_restarts=0, **options).remote(boot)
    proc: RayHostedProcess | None = None
    try:
        where = await trio.to_thread.run_sync(
            lambda: ray.get(host.where.remote(), timeout=HANDSHAKE_TIMEOUT),
            abandon_on_cancel=True,
        )
        proc = RayHostedProcess(ray, host, int(where[0]), str(where[1]), str(where[2]))
        chan = await _wait_connected(arrivals, proc, name)
    except BaseException as exc:
        side.forget(uuid)
        with trio.CancelScope(shield=True):
            if proc is not None:
                proc.kill_host()
                await proc.wait()
            else:
                ray.kill(host, no_restart=True)
        child_failed(parent, uuid)
        if isinstance(exc, trio.Cancelled):
            raise
        if isinstance(exc, SpawnError):
            raise
        if isinstance(exc, Exception) and type(exc).__module__.startswith("ray"):
            raise SpawnError(f"Ray could not start actor {name!r}: {exc}") from exc
        raise
    spec = child_spec(
        parent,
        name,
        uuid,
        enable_modules=enable_modules,
        debug_mode=debug_mode,
        loglevel=loglevel,
        infect_asyncio=infect_asyncio,
        # Its stdin is the host's pipe: its REPLs use the root's terminal through
        # the terminal lock, and so do those of its own children.
        proxy_tty=True,
        # Its own children are started on its node, as fresh interpreters.
        start_method="subprocess",
        forkserver_path=None,
        transport="tcp",
    )
    hosted = proc

    async def stop() -> None:
        hosted.kill_host()
        await hosted.wait()
        await chan.aclose()

    await handshake(
        parent, chan, spec, stop=stop, describe=lambda: "(ray) exited during its handshake"
    )
    chan.name = f"actor {name!r} (ray, {proc.node})"
    conn = Conn(parent, chan, (name, uuid))
    child = Child(name, uuid, proc, conn, reaps_orphans=False)
    conn.explain_end = child._explain_end
    await child_started(parent, (name, uuid), conn)
    service = parent._service
    if service is not None:
        # In the background: the child's channel is served only once this returns,
        # and the child tells the registrar (through it) where it listens.
        service.start_soon(_child_listens, conn, name)
    log.info("actor %r hosted by ray on %s (pid %d)", name, proc.node, proc.pid)
    return child


async def _child_listens(conn: Conn, name: str) -> None:
    """Ask a Ray-hosted child to listen on TCP on its node, for peers on other hosts.

    It then registers that address and its host id (see ``_runtime._tcp``), so that
    discovery hands it to askers that cannot use its UDS socket (until then, and
    if it cannot listen, it is reachable by its parent, and on its own host).
    """
    try:
        with trio.fail_after(HANDSHAKE_TIMEOUT):
            await conn.call(LISTEN_NS, {})
    except (AgentreeError, OSError, trio.TooSlowError) as exc:
        if not conn.closed.is_set():
            log.warning("actor %r (ray) does not listen on tcp: %s", name, exc)


async def _wait_connected(
    arrivals: trio.MemoryReceiveChannel[Any], proc: RayHostedProcess, name: str
) -> Any:
    """The child's channel once it connects; fail if its process ends or stalls first."""
    chan: Any = None
    async with trio.open_nursery() as nursery:

        async def exited() -> None:
            code = await proc.wait()
            raise SpawnError(
                f"actor {name!r} (ray, pid {proc.pid} on {proc.node}) exited with code "
                f"{code} before connecting back to its parent"
            )

        nursery.start_soon(exited)
        with trio.move_on_after(HANDSHAKE_TIMEOUT) as scope:
            chan = await arrivals.receive()
        nursery.cancel_scope.cancel()
    if scope.cancelled_caught or chan is None:
        raise SpawnError(
            f"actor {name!r} (ray, pid {proc.pid} on {proc.node}) did not connect back "
            f"within {HANDSHAKE_TIMEOUT} s: can that node reach this one over TCP?"
        )
    return chan
