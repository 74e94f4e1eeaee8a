"""Drawing ``agentree tree``: plain text, or with ``rich`` when it is installed."""

from __future__ import annotations

from typing import Any

__all__ = ["render_plain", "render_rich"]

_COLUMNS = ("PID", "STATE", "UPTIME", "RESTARTS", "CALLS", "QUEUED", "QUESTIONS", "CPU%", "RSS")


def _uptime(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n = n / 1024  # type: ignore[assignment]
    return str(n)


def _num(value: Any) -> str:
    return "-" if value is None else str(value)


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        _num(row["pid"]),
        str(row["state"]),
        _uptime(row["uptime"]),
        _num(row["restarts"]),
        _num(row["calls_running"]),
        _num(row["calls_queued"]),
        _num(row["questions"]),
        "-" if row["cpu"] is None else f"{row['cpu']:.1f}",
        _size(row["rss"]),
    ]


def _label(rows: list[dict[str, Any]], i: int) -> str:
    """The row's path, indented like a tree."""
    row = rows[i]
    depth = row["depth"]
    if depth == 0:
        return str(row["path"])
    last = True
    for later in rows[i + 1 :]:
        if later["depth"] < depth:
            break
        if later["depth"] == depth:
            last = False
            break
    prefix = ""
    for d in range(1, depth):
        # Is there a later row at depth d before one shallower than d?
        more = False
        for later in rows[i + 1 :]:
            if later["depth"] < d:
                break
            if later["depth"] == d:
                more = True
                break
        prefix += "│  " if more else "   "
    name = str(row["path"])
    if row["kind"] == "actor" and "/" in name:
        name = name.rsplit("/", 1)[1]
    return prefix + ("└─ " if last else "├─ ") + name


def _header(view: dict[str, Any]) -> str:
    argv = " ".join(view["argv"])
    text = f"tree {view['name']!r} root pid {view['root_pid']}  {view['dir']}  {argv}"
    if view["wedged"]:
        text += "\n  WEDGED: the root does not answer; shown from /proc alone"
    elif view.get("in_repl"):
        text += "\n  IN A REPL: the root's loop is stopped in its debugger; shown from /proc alone"
    return text


def render_plain(views: list[dict[str, Any]]) -> str:
    """All trees as aligned text."""
    if not views:
        return "no running agentree trees of this user"
    out = []
    for view in views:
        rows = view["rows"]
        table = [["PATH", *_COLUMNS]] + [[_label(rows, i), *_cells(r)] for i, r in enumerate(rows)]
        widths = [max(len(line[c]) for line in table) for c in range(len(table[0]))]
        out.append(_header(view))
        for line in table:
            out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)))
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def render_rich(views: list[dict[str, Any]]) -> Any:
    """All trees as a ``rich`` renderable (needs ``rich``)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    if not views:
        return Text("no running agentree trees of this user", style="dim")
    parts: list[Any] = []
    for view in views:
        title = Text(_header(view), style="bold red" if view["wedged"] else "bold")
        table = Table(box=None, header_style="bold cyan", pad_edge=False)
        for column in ("PATH", *_COLUMNS):
            table.add_column(column, justify="left" if column in ("PATH", "STATE") else "right")
        rows = view["rows"]
        for i, row in enumerate(rows):
            style = {
                "backoff": "yellow",
                "stopping": "yellow",
                "in a REPL": "magenta",
                "not answering": "red",
                "wedged (not answering)": "bold red",
            }.get(str(row["state"]), "")
            table.add_row(_label(rows, i), *_cells(row), style=style)
        parts += [title, table, Text("")]
    return Group(*parts)
