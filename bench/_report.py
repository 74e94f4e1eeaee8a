"""Rendering of the result table, the agentree-vs-peer ratios and footnotes."""

from __future__ import annotations

from collections.abc import Iterable

from _common import Measurement, Workload

_COLS = (30, 28, 10, 10)
AGENTREE_PREFIX = "agentree"
SHORT_NAMES = {"raw msgspec UDS baseline": "raw"}


def fmt_value(kind: str, value: float) -> str:
    """Format one sample for a table cell.

    Args:
        kind: ``"time"`` (seconds), ``"rate"`` (per second), ``"count"`` or ``"mem"``
            (MiB).
        value: The number.

    Returns:
        e.g. ``"11.2 ms"``, ``"850 us"`` or ``"11,000/s"``.
    """
    if kind == "rate":
        return f"{value:,.0f}/s"
    if kind == "count":
        return f"{value:g}"
    if kind == "mem":
        return f"{value:.1f} MiB"
    if value < 1e-3:
        return f"{value * 1e6:.0f} us"
    if value < 1.0:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def _ratio(row: Measurement, ref: Measurement | None) -> float | None:
    """Return ``row.median / ref.median``, or ``None`` if either is unusable."""
    if ref is None or not ref.ok or not row.ok or ref.median <= 0:
        return None
    return row.median / ref.median


def _line(cells: Iterable[str]) -> str:
    """Join cells with ``|``, padding the fixed-width leading columns."""
    parts = list(cells)
    head = [c.ljust(w) for c, w in zip(parts, _COLS, strict=False)]
    return " | ".join(head + parts[len(_COLS) :]).rstrip()


def _order(workload: Workload, rows: list[Measurement]) -> list[Measurement]:
    """Order a group: reference first, then agentree rows, then the other peers."""
    ref = [m for m in rows if m.impl == workload.ref]
    ours = [m for m in rows if m.impl.startswith(AGENTREE_PREFIX) and m not in ref]
    rest = [m for m in rows if m not in ref and m not in ours]
    return ref + ours + rest


def render_table(workloads: list[Workload], results: list[Measurement]) -> list[str]:
    """Render the main table.

    Args:
        workloads: Selected workloads, in order.
        results: Every measurement taken.

    Returns:
        Output lines.
    """
    header = _line(["workload", "impl", "min", "median", "ratio vs ref (median)"])
    lines = [header, "-" * max(len(header), 110)]
    for w in workloads:
        rows = _order(w, [m for m in results if m.workload == w.key])
        by_impl = {m.impl: m for m in rows}
        for i, m in enumerate(rows):
            title = w.title if i == 0 else ""
            if not m.ok:
                lines.append(_line([title, m.impl, m.error or "no samples"]))
                continue
            ref_name = w.ref_of(m.impl)
            ratio = _ratio(m, by_impl.get(ref_name))
            if m.impl == ref_name:
                rtext = "1.00x (ref)"
            elif ratio is None:
                rtext = "-"
            elif m.impl.startswith(AGENTREE_PREFIX):
                rtext = f"{ratio:.2f}x {SHORT_NAMES.get(ref_name, ref_name)}"
            else:
                rtext = f"{ratio:.2f}x"
            lines.append(
                _line(
                    [
                        title,
                        m.impl,
                        fmt_value(w.kind, m.minimum),
                        fmt_value(w.kind, m.median),
                        rtext,
                    ]
                )
            )
        lines.append("")
    return lines


def render_agentree_vs_peers(workloads: list[Workload], results: list[Measurement]) -> list[str]:
    """Render agentree's median divided by every peer's median, per workload.

    Args:
        workloads: Selected workloads, in order.
        results: Every measurement taken.

    Returns:
        Output lines (empty when no agentree row has samples).
    """
    lines: list[str] = []
    for w in workloads:
        rows = [m for m in results if m.workload == w.key]
        peers = [m for m in rows if not m.impl.startswith(AGENTREE_PREFIX) and m.ok]
        if not peers and w.ref.startswith(AGENTREE_PREFIX):
            continue  # an agentree-only workload: its ratios are in the table
        for ours in (m for m in rows if m.impl.startswith(AGENTREE_PREFIX) and m.ok):
            pairs = ", ".join(f"{_ratio(ours, p):.2f}x {p.impl}" for p in peers)
            lines.append(f"  {w.title} / {ours.impl}: {pairs or 'no peer samples'}")
    if not lines:
        return []
    return [
        "agentree / peer, medians (times: < 1 means agentree is faster;"
        " rates: > 1 means agentree is faster):",
        *lines,
        "",
    ]
