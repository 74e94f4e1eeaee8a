"""What ``/proc`` says about a process: state, parent, CPU time, memory, start, title.

Read without asking the process anything, so it works for a tree whose root does
not answer (wedged) as well as for a live one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "ProcStat",
    "boot_time",
    "children_map",
    "cmdline",
    "comm",
    "read_stat",
    "reads_stdin",
]

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_boot: float | None = None


@dataclass(frozen=True)
class ProcStat:
    """One process's line of ``/proc/PID/stat``, in useful units.

    Attributes:
        pid: the process id.
        ppid: its parent's pid.
        state: the kernel's one-letter state (R, S, D, Z, T, ...).
        cpu: user + system CPU seconds so far.
        rss: resident memory in bytes.
        started: when it started (seconds since the epoch).
        uid: the owner's user id.
    """

    pid: int
    ppid: int
    state: str
    cpu: float
    rss: int
    started: float
    uid: int


def boot_time() -> float:
    """When the machine booted (seconds since the epoch)."""
    global _boot
    if _boot is None:
        _boot = 0.0
        try:
            with open("/proc/stat") as f:
                for line in f:
                    if line.startswith("btime "):
                        _boot = float(line.split()[1])
                        break
        except OSError:
            pass
    return _boot


def read_stat(pid: int) -> ProcStat | None:
    """``/proc/PID/stat`` of ``pid``, or ``None`` when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None
    # The name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            ppid=int(fields[1]),
            state=fields[0],
            cpu=(int(fields[11]) + int(fields[12])) / _TICKS,
            rss=int(fields[21]) * _PAGE,
            started=boot_time() + int(fields[19]) / _TICKS,
            uid=uid,
        )
    except (IndexError, ValueError):
        return None


def comm(pid: int) -> str:
    """The kernel's short name of ``pid`` (empty when gone)."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def cmdline(pid: int) -> str:
    """The command line (the full title) of ``pid``, arguments joined by spaces."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data.replace(b"\0", b" ").decode(errors="replace").strip()


# What /proc/PID/wchan says of a process blocked reading a terminal or a pipe.
_READ_WAITS = ("tty_read", "wait_woken", "pipe_read", "pipe_wait")


def reads_stdin(pid: int) -> bool:
    """Whether ``pid``'s main thread is blocked reading its standard input.

    ``/proc/PID/syscall`` (``read`` on fd 0) where it may be read; else the kernel
    function it waits in (``wchan``), a read of a terminal or a pipe.
    """
    try:
        with open(f"/proc/{pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        fields = []
    if len(fields) >= 2 and fields[0].isdigit():
        return fields[0] == "0" and int(fields[1], 16) == 0
    try:
        with open(f"/proc/{pid}/wchan") as f:
            wchan = f.read().strip()
    except OSError:
        return False
    return any(wait in wchan for wait in _READ_WAITS)


def children_map(uid: int | None = None) -> dict[int, list[int]]:
    """Every process's children by parent pid (only ``uid``'s processes if given)."""
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = read_stat(int(entry))
        if st is None or (uid is not None and st.uid != uid):
            continue
        kids.setdefault(st.ppid, []).append(st.pid)
    return kids
