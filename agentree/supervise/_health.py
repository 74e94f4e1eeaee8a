"""Health of a supervised agent: heartbeats with a watchdog, rlimits and an RSS watch.

The watchdog pings the agent's runtime (answered by its loop, bypassing every cap)
every ``heartbeat`` seconds; no answer within ``watchdog`` seconds and the agent is
SIGKILLed and counted as crashed, naming the method that was running (the oldest
call in flight through its ref). ``cpu_seconds`` and ``open_files`` are rlimits set
on the agent's process from here (``prlimit``); RSS and open files are watched
from ``/proc``. Everything here is Linux-first: where ``/proc`` or ``prlimit`` is
missing, the watch does nothing and the rlimits are refused at the call site.
"""

from __future__ import annotations

import contextlib
import os
import signal
from typing import TYPE_CHECKING

import trio

from .._exceptions import ActorTooSlowError, AgentreeError, LimitExceeded
from ._types import Limits

if TYPE_CHECKING:
    from .._exit import ChildExit
    from ._slot import AgentRun, AgentSlot
    from ._supervisor import Supervisor

__all__ = ["apply_rlimits", "check_limits_supported", "watch_health"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def check_limits_supported(limits: Limits) -> None:
    """Refuse limits this platform cannot enforce.

    Raises:
        NotImplementedError: rlimits without ``resource.prlimit`` (not Linux).
    """
    needs_prlimit = limits.cpu_seconds is not None or limits.open_files is not None
    if needs_prlimit:
        import resource

        if not hasattr(resource, "prlimit"):
            raise NotImplementedError("Limits(cpu_seconds=, open_files=) need Linux (prlimit)")


def apply_rlimits(pid: int, limits: Limits) -> None:
    """Set the rlimits of process ``pid`` (CPU seconds, open files)."""
    import resource

    if limits.cpu_seconds is not None:
        soft = max(1, int(limits.cpu_seconds + 0.999))
        # At the soft limit the kernel sends SIGXCPU (which ends the process).
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, soft + 2))
    if limits.open_files is not None:
        n = int(limits.open_files)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (n, n))


def rss_of(pid: int) -> int | None:
    """Resident memory of ``pid`` in bytes (``None`` if it cannot be read)."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


def open_files_of(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


async def watch_health(sup: Supervisor, slot: AgentSlot, run: AgentRun) -> None:
    """Run the watchdog and the limit watch of one incarnation until cancelled."""
    async with trio.open_nursery() as nursery:
        if slot.watchdog is not None:
            nursery.start_soon(_watchdog, sup, slot, run)
        limits, recycle = slot.limits, slot.recycle_after
        if (limits is not None and limits.watched) or (recycle is not None and recycle.rss):
            nursery.start_soon(_watch_limits, sup, slot, run)


async def _watchdog(sup: Supervisor, slot: AgentSlot, run: AgentRun) -> None:
    assert slot.watchdog is not None
    heartbeat = slot.heartbeat if slot.heartbeat is not None else max(0.05, slot.watchdog / 2)
    while True:
        await trio.sleep(heartbeat)
        method = run.running_method()
        try:
            await run.portal.ping(timeout=slot.watchdog)
        except ActorTooSlowError:
            # The method running when the loop stopped answering, not the one after.
            method = method or run.running_method()
            where = f" while {method}() was running" if method else ""
            kill(
                run,
                "watchdog",
                f"its loop did not answer a ping within {slot.watchdog} s{where}",
                method,
            )
            return
        except AgentreeError:
            return


async def _watch_limits(sup: Supervisor, slot: AgentSlot, run: AgentRun) -> None:
    pid = run.pid
    assert pid is not None
    limits, recycle = slot.limits, slot.recycle_after
    every = min(x.check_every for x in (limits, recycle) if x is not None)
    while True:
        rss = rss_of(pid)
        if rss is None:
            return
        if limits is not None and limits.rss is not None and rss > limits.rss:
            kill(run, "limit", f"its RSS {_mib(rss)} went over the limit {_mib(limits.rss)}")
            return
        if limits is not None and limits.open_files is not None:
            files = open_files_of(pid)
            if files is not None and files >= limits.open_files:
                kill(run, "limit", f"it holds {files} open files (limit {limits.open_files})")
                return
        if recycle is not None and recycle.rss is not None and rss > recycle.rss:
            sup._begin_recycle(slot, run, f"RSS {_mib(rss)} over {_mib(recycle.rss)}")
            return
        await trio.sleep(every)


def kill(run: AgentRun, kind: str, why: str, method: str | None = None) -> None:
    """SIGKILL an incarnation as a crash of kind ``kind`` (its end tells the supervisor)."""
    if run.crash is None:
        run.crash = (kind, why, method)
    pid = run.pid
    if pid is not None and not run.ended.is_set():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def limit_signal(slot: AgentSlot, exit: ChildExit) -> str | None:
    """The limit an exit by signal means, if any (SIGXCPU: its CPU seconds)."""
    limits = slot.limits
    if limits is not None and limits.cpu_seconds and exit.returncode == -signal.SIGXCPU:
        return f"it used up its {limits.cpu_seconds} CPU seconds (SIGXCPU)"
    return None


def _tagged(tag: str) -> list[int]:
    from .._runtime._reaper import env_tag

    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid() and env_tag(int(entry)) == tag:
            pids.append(int(entry))
    return pids


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split()[0] != b"Z"
    except OSError:
        return False


def sweep_subtree(tag: str, timeout: float = 2.0) -> int:
    """SIGKILL what a dead agent's process left running (its tag), and wait until gone.

    Runs in a worker thread. The core kills a dead actor's orphans too, but on its
    own schedule; a restart must not start the next incarnation beside the last
    one's leftovers (a user subprocess holding a port, a file lock...).

    Returns:
        How many processes it killed.
    """
    import time

    if not os.path.isdir("/proc"):
        return 0
    killed = 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [pid for pid in _tagged(tag) if _alive(pid)]
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        time.sleep(0.005)
    return killed


def limit_error(path: str, incarnation: int, why: str) -> LimitExceeded:
    return LimitExceeded(f"agent {path!r} (incarnation {incarnation}): {why}")
