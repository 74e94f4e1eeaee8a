"""Shared configuration, result types and timing helpers for the benchmark."""

from __future__ import annotations

import atexit
import os
import shutil
import statistics
import tempfile
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["time", "rate", "count", "mem"]
CaseResult = tuple[list[float], str | None]
WARM_SLEEP = 0.2
_RAY_TMP_ENV = "AGENTREE_BENCH_RAY_TMP"


def ray_temp_dir() -> str:
    """Ray's temp dir for this bench run (``ray.init(_temp_dir=...)``).

    Made once by the first process of the run that asks (the bench itself: the
    processes it starts inherit the path) and removed when that process exits, so that
    Ray's session files (also those of a driver the bench SIGKILLs) are not left in
    ``/tmp/ray``.
    """
    path = os.environ.get(_RAY_TMP_ENV)
    if path is None:
        path = tempfile.mkdtemp(prefix="agentree-ray-")
        os.environ[_RAY_TMP_ENV] = path
        atexit.register(shutil.rmtree, path, True)
    return path


class Probe(Exception):
    """Raised on purpose inside a worker-owning block to trigger an error teardown."""


class Unavailable(Exception):
    """A case cannot run here (e.g. an optional package is missing); shown as n/a."""


@dataclass(frozen=True, slots=True)
class Config:
    """Knobs shared by every case.

    Attributes:
        repeat: Timed repetitions per case (after one untimed warm-up).
        quick: Whether this is a ``--quick`` smoke run.
        seq_calls: Calls per repetition for the sequential round-trip rows.
        inflight_calls: Calls per repetition for the 64-in-flight rows.
        inflight: Number of calls kept in flight for the concurrent rows.
        many: Worker count for the "8 workers" spawn and teardown rows.
        case_timeout: Seconds after which an agentree case is abandoned.
    """

    repeat: int
    quick: bool
    seq_calls: int
    inflight_calls: int
    inflight: int = 64
    many: int = 8
    case_timeout: float = 300.0


@dataclass(frozen=True, slots=True)
class Workload:
    """One row group of the table.

    Attributes:
        key: Short name used by ``--only``.
        title: Human-readable name printed in the first column.
        kind: ``"time"`` (seconds, lower is better), ``"rate"`` (ops/s, higher is
            better), ``"count"`` (processes, lower is better) or ``"mem"`` (MiB, lower
            is better).
        ref: Impl label of the default reference peer for ratios.
        ref_for: Per-impl overrides of ``ref`` (e.g. agentree subprocess vs ppe spawn).
    """

    key: str
    title: str
    kind: Kind
    ref: str
    ref_for: dict[str, str] = field(default_factory=dict)

    def ref_of(self, impl: str) -> str:
        """Return the reference impl label that ``impl`` is compared against.

        Args:
            impl: Impl label of the row.

        Returns:
            The label of the reference row for ``impl``.
        """
        return self.ref_for.get(impl, self.ref)


@dataclass(slots=True)
class Measurement:
    """Samples (or the failure) of one implementation on one workload.

    Attributes:
        workload: ``Workload.key`` this belongs to.
        impl: Impl label printed in the second column.
        samples: Seconds per repetition (time rows) or ops/s per repetition (rate rows).
        error: Set instead of samples when the case could not be measured.
        note: Optional remark printed in the footnotes.
    """

    workload: str
    impl: str
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    note: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the measurement has usable samples."""
        return self.error is None and bool(self.samples)

    @property
    def minimum(self) -> float:
        """Smallest sample."""
        return min(self.samples)

    @property
    def median(self) -> float:
        """Median sample."""
        return statistics.median(self.samples)


def descendants(root: int | None = None) -> list[tuple[int, str]]:
    """List live descendant processes of ``root`` by scanning ``/proc``.

    Args:
        root: Pid whose descendants to list; defaults to the current process.

    Returns:
        ``(pid, cmdline)`` pairs of every live (non-zombie) descendant.
    """
    root = os.getpid() if root is None else root
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] == b"Z":
            continue
        parent[int(entry)] = int(fields[1])
    out: list[tuple[int, str]] = []
    for pid in parent:
        p = parent.get(pid)
        while p is not None and p != root and p > 1:
            p = parent.get(p)
        if p == root:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                cmd = "?"
            out.append((pid, cmd))
    return sorted(out)


def format_error(exc: BaseException) -> str:
    """Render an exception compactly for a table cell.

    Args:
        exc: The exception.

    Returns:
        ``"TypeName: message"`` truncated to one line.
    """
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:160]


def distinct_note(pid_counts: list[int], expected: int) -> str | None:
    """Describe repetitions whose results did not come from ``expected`` distinct workers.

    Args:
        pid_counts: Distinct worker pids seen per timed repetition.
        expected: Number of workers that should have answered.

    Returns:
        A note for the footnotes, or ``None`` when every repetition was as expected.
    """
    if all(c == expected for c in pid_counts):
        return None
    return (
        f"results came from {min(pid_counts)}-{max(pid_counts)} distinct worker pids "
        f"(not {expected}): a fast worker took several tasks while others were still starting"
    )
