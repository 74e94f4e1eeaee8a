"""``--plot FILE``: the table as a bar chart of ratios to agentree (matplotlib, bench only).

Each bar is one peer in one workload: how many times agentree's figure the peer's
is, turned so that a bar longer than 1 always means agentree does better (times,
memory and process counts: peer / agentree; rates: agentree's rate / the peer's).
Whole programs compare the programs' whole times, imports included (a
ProcessPoolExecutor program imports no trio): the overheads over each program's
baselines are in the table's text, where a difference of medians near 0 cannot
make a ratio.
agentree's figure is its forkserver row of the workload (the one a peer is
compared with, for the rows Ray shares with the agent layer). Workloads where
agentree's figure is 0 (no process left after a kill) cannot be a ratio: the chart
names them under its title instead.
"""

from __future__ import annotations

from _common import Measurement, Workload
from _program_workloads import BASELINES
from _ray_workloads import RAY

__all__ = ["plot"]

# agentree's row that a peer is compared with, where it is not "agentree forkserver".
_OURS = {
    "agentthread": "agentree forkserver agent thread mode",
    "agentkill": "agentree forkserver SIGKILL -> AgentCrashed",
    "supkill": "agentree forkserver supervised SIGKILL -> next call answered",
}
_SKIP = {*BASELINES, "ideal (64 x 10 ms / 8 threads)"}


def _ours(workload: Workload, rows: list[Measurement]) -> Measurement | None:
    by_impl = {m.impl: m for m in rows if m.ok}
    for name in (_OURS.get(workload.key), "agentree forkserver", workload.ref):
        if name in by_impl and name.startswith("agentree"):
            return by_impl[name]
    return next(
        (m for m in rows if m.ok and m.impl.startswith("agentree forkserver")),
        None,
    )


def _bars(
    workloads: list[Workload], results: list[Measurement]
) -> tuple[list[tuple[str, str, float]], list[str]]:
    bars: list[tuple[str, str, float]] = []
    zero: list[str] = []
    for w in workloads:
        rows = [m for m in results if m.workload == w.key]
        ours = _ours(w, rows)
        if ours is None:
            continue
        peers = [m for m in rows if m.ok and not m.impl.startswith("agentree")]
        peers = [m for m in peers if m.impl not in _SKIP]
        if w.key in _OURS:  # an agent-layer workload: only Ray is a peer there
            peers = [m for m in peers if m.impl == RAY.get(w.key)]
        if not peers:
            continue
        if ours.median == 0:
            zero.append(
                f"{w.title}: agentree 0, " + ", ".join(f"{p.impl} {p.median:g}" for p in peers)
            )
            continue
        for p in peers:
            if p.median <= 0:
                continue
            ratio = ours.median / p.median if w.kind == "rate" else p.median / ours.median
            bars.append((w.title, p.impl, ratio))
    return bars, zero


def _family(impl: str) -> str:
    for prefix in ("ray", "ppe", "trio_parallel", "mp", "raw", "trio"):
        if impl.startswith(prefix):
            return prefix
    return "other"


def plot(path: str, workloads: list[Workload], results: list[Measurement], title: str) -> str:
    """Draw the chart into ``path`` (PNG, SVG... by its suffix); return a status line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars, zero = _bars(workloads, results)
    if not bars:
        return f"--plot: nothing to draw (no workload has both agentree and a peer): {path}"
    colors = {
        "ray": "#d62728",
        "ppe": "#1f77b4",
        "trio_parallel": "#2ca02c",
        "mp": "#9467bd",
        "raw": "#7f7f7f",
        "trio": "#8c564b",
        "other": "#bcbd22",
    }
    height = 0.28 * len(bars) + 1.8 + 0.2 * len(zero)
    fig, ax = plt.subplots(figsize=(12, height))
    labels = [f"{w}  |  {impl}" for w, impl, _ in bars]
    values = [r for _, _, r in bars]
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, values, color=[colors[_family(impl)] for _, impl, _ in bars], height=0.7)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_xscale("log")
    ax.axvline(1.0, color="black", linewidth=1)
    for y, v in zip(ys, values, strict=True):
        ax.text(v, y, f" {v:.2f}x" if v < 10 else f" {v:.0f}x", va="center", fontsize=6)
    ax.set_xlabel(
        "peer / agentree (times, memory), agentree / peer (rates); whole programs: the "
        "programs' times, imports included\n> 1: agentree does better",
        fontsize=8,
    )
    subtitle = "\n".join(zero)
    ax.set_title(title + ("\n" + subtitle if subtitle else ""), fontsize=8)
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"--plot: {len(bars)} bars written to {path}"
