"""Command line, orchestration and output of the benchmark (entry point: ``run.py``)."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from importlib import metadata

from _agent_workloads import AGENT_FOOTNOTES, AGENT_WORKLOADS
from _common import (
    Config,
    Measurement,
    Unavailable,
    Workload,
    descendants,
    format_error,
    ray_temp_dir,
)
from _feedback_workloads import FEEDBACK_FOOTNOTES, FEEDBACK_WORKLOADS
from _program_cases import render_overheads
from _program_workloads import PROGRAM_FOOTNOTES, PROGRAM_WORKLOADS
from _raw_stream import STREAM_FOOTNOTES, STREAM_WORKLOADS
from _ray_tree_cases import RAY_TREE_FOOTNOTES, RAY_TREE_WORKLOADS
from _ray_workloads import RAY, RAY_FOOTNOTES, RAY_WORKLOADS
from _report import render_agentree_vs_peers, render_table
from _store_workloads import STORE_FOOTNOTES, STORE_WORKLOADS
from _supervise_workloads import SUPERVISE_FOOTNOTES, SUPERVISE_WORKLOADS

AGENTREE_METHODS = {"forkserver": "agentree forkserver", "subprocess": "agentree subprocess"}
RAW = "raw msgspec UDS baseline"

WORKLOADS = [
    Workload(
        "spawn1",
        "cold spawn -> result (1)",
        "time",
        ref="ppe forkserver",
        ref_for={"agentree subprocess": "ppe spawn"},
    ),
    Workload(
        "spawn8",
        "cold spawn -> results (8)",
        "time",
        ref="ppe forkserver",
        ref_for={"agentree subprocess": "ppe spawn"},
    ),
    *PROGRAM_WORKLOADS,
    Workload("seq", "sequential round trips/s", "rate", ref=RAW),
    Workload("inflight", "round trips/s, 64 in flight", "rate", ref=RAW),
    Workload("teardown", "teardown of 8 after error", "time", ref="mp terminate()+join()"),
    *STREAM_WORKLOADS,
    # bench/_aio_cases.py: ratio = infected actor / plain trio actor, same start method.
    Workload(
        "aioecho",
        "context echo round trips/s",
        "rate",
        ref="agentree forkserver trio actor",
        ref_for={
            "agentree subprocess trio actor": "agentree subprocess trio actor",
            "agentree subprocess infected": "agentree subprocess trio actor",
        },
    ),
    Workload("killroot", "SIGKILL root -> tree gone", "time", ref="ppe forkserver"),
    *AGENT_WORKLOADS,
    *SUPERVISE_WORKLOADS,
    *FEEDBACK_WORKLOADS,
    *STORE_WORKLOADS,
    *RAY_TREE_WORKLOADS,
    *RAY_WORKLOADS,
]

FOOTNOTES = {
    "general": [
        "Every case runs 1 untimed warm-up repetition, then --repeat timed ones. min and median "
        "are over repetitions; for rate rows they are over the per-repetition rates (min = the "
        "slowest repetition). Ratios are row median / reference median: for times < 1 is faster "
        "than the reference, for rates > 1 is faster. Peers run first, agentree last.",
        "ppe = concurrent.futures.ProcessPoolExecutor. 'forkserver' peers share multiprocessing's "
        "fork server, started once before any timing (it persists for the life of this process), "
        "so they measure a fork from a warm server, not the server's own startup. agentree's "
        "root actor stays open across repetitions and workloads of one start method, and one "
        "untimed spawn warms it before timing.",
    ],
    "spawn1": [
        "cold spawn: timed from creating the executor / worker context / actor nursery until "
        "the parent holds the return value of getpid() from every worker. Executor shutdown, "
        "Process.join() and nursery exit (reaping) are outside the timed region. ppe: "
        "ProcessPoolExecutor(N, mp_context=get_context(m)) + submit + result. trio_parallel: "
        "fresh open_worker_context(worker_type=m) each time (cold workers), "
        "CapacityLimiter(N). mp.Process+Pipe: N Processes started back to back, each sends "
        "os.getpid() over its own Pipe. agentree: open_nursery() + N concurrent "
        "run_in_actor(getpid) + wait_for_result().",
    ],
    "spawn8": [
        "ppe with 8 workers uses an initializer-shared multiprocessing.Barrier(8) so that the "
        "8 results come from 8 distinct workers (without it the first worker to boot drains "
        "the queue and the row would measure ~1 worker).",
    ],
    "seq": [
        "sequential: N calls echo(i), each awaited before the next, in an already-running "
        "worker. raw baseline: parent and subprocess child (pass_fds socketpair end) both run "
        "trio over trio.SocketStream on a UDS socketpair; a round trip = msgspec-msgpack encode "
        "{cid, fn, kwargs}, 4-byte big-endian length prefix, send_all, receive + decode reply. "
        "mp.Pipe ping-pong: blocking conn.send(i)/conn.recv() (pickle) with one forkserver "
        "Process in a recv/send loop, no trio. ppe: ProcessPoolExecutor(1, forkserver)"
        ".submit(echo, i).result(). trio_parallel: WorkerContext.run_sync(echo, i), warm spawn "
        "worker. agentree: portal.run(echo, x=i) on a start_actor() daemon.",
    ],
    "inflight": [
        "64 in flight: raw baseline = 64 trio tasks sharing one send lock plus one reader task "
        "that matches replies to callers by cid (the child answers frames in order). ppe: one "
        "worker, sliding window of 64 outstanding futures (semaphore released by done "
        "callbacks). trio_parallel: 64 trio tasks with its default limiter (os.cpu_count() "
        "tokens, hence that many workers). agentree: 64 trio tasks calling portal.run on one "
        "daemon.",
    ],
    "teardown": [
        "teardown: 8 warm, idle workers; timed from the raise (or the first kill call) to the "
        "exception leaving the block with every worker reaped. mp terminate()+join(): 8 "
        "forkserver Processes in time.sleep(), SIGTERM then join each. trio nursery "
        "run_process: 8 'python -c' sleepers under trio.run_process in a nursery; the raise "
        "cancels them (trio default: SIGTERM, SIGKILL after 5 s) and the nursery waits. ppe: "
        "raise inside 'with ProcessPoolExecutor(8, forkserver)' -> shutdown(wait=True); ppe "
        "cannot interrupt running tasks, so its workers are idle. trio_parallel: raise inside "
        "'async with open_worker_context(FORKSERVER)' holding 8 cached idle workers (graceful "
        "stop). agentree: 8 start_actor() daemons, raise inside the open_nursery() block.",
    ],
    "aioecho": [
        "context echo: seq-calls sequential stream.send(i) + stream.receive() round trips "
        "through one open_context stream. trio actor: a plain actor echoes on its stream. "
        "infected: an infect_asyncio=True actor relays each item to an asyncio task "
        "(to_asyncio.open_channel_from) and back (tractor's README example). Both actors "
        "run at once and alternate every 50 round trips (so load changes hit both alike); "
        "ratio = infected / trio actor.",
    ],
    "killroot": [
        "SIGKILL root: a separate root process starts its tree and reports it; every live "
        "descendant of the root is listed from /proc, the root gets SIGKILL, and /proc is "
        "polled every 1 ms until none of them is alive (zombies count as gone), giving up "
        "after 2 s (then the row's note says what was left). agentree: 8 actors, 2 of them "
        "run_in_actor parents each holding a grandchild daemon (forkserver included for that "
        "start method). ppe forkserver: ProcessPoolExecutor(8, forkserver) with all 8 workers "
        "started; its workers do not notice the root's death, so the row shows the 2 s cap.",
    ],
}


FOOTNOTES.update(PROGRAM_FOOTNOTES)
FOOTNOTES.update(STREAM_FOOTNOTES)
FOOTNOTES.update(AGENT_FOOTNOTES)
FOOTNOTES.update(SUPERVISE_FOOTNOTES)
FOOTNOTES.update(FEEDBACK_FOOTNOTES)
FOOTNOTES.update(STORE_FOOTNOTES)
FOOTNOTES.update(RAY_TREE_FOOTNOTES)
FOOTNOTES.update(RAY_FOOTNOTES)


def _version(dist: str) -> str:
    """Return the installed version of distribution ``dist``."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _loadavg() -> str:
    """Return the 1/5/15-minute load averages, to flag runs on a busy machine."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _progress(msg: str) -> None:
    """Print a progress line to stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


def _header(cfg: Config, agentree_status: str, load: str) -> list[str]:
    """Return the environment / configuration lines printed above the table."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return [
        f"agentree benchmark, {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"python {platform.python_version()} ({platform.python_implementation()}) | "
        f"trio {_version('trio')} | msgspec {_version('msgspec')} | "
        f"trio-parallel {_version('trio-parallel')} | agentree {agentree_status}",
        f"nproc {affinity} (os.cpu_count() {os.cpu_count()}) | {platform.platform()} | "
        f"load avg at start {load}",
        f"repeat {cfg.repeat} (+1 warm-up){' [quick]' if cfg.quick else ''} | "
        f"sequential calls/rep {cfg.seq_calls:,} | "
        f"in-flight calls/rep {cfg.inflight_calls:,} ({cfg.inflight} in flight)",
        *(
            [
                "PYTHONDONTWRITEBYTECODE is set: every fresh program compiles agentree's "
                "modules from source (the whole-program rows pay it; an installed package "
                "would not)"
            ]
            if os.environ.get("PYTHONDONTWRITEBYTECODE")
            else []
        ),
        "",
    ]


def _parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv: Arguments without the program name.

    Returns:
        The namespace, with ``workloads`` (selected keys, in table order) and
        ``agentree_methods`` (list of start methods) resolved.
    """
    keys = [w.key for w in WORKLOADS]
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark agentree against ProcessPoolExecutor, trio_parallel, "
        "multiprocessing and a raw msgspec-over-UDS baseline; prints one table.",
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed repetitions per case (default 5, quick 2)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2 repetitions, small call counts"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only workloads whose key starts with NAME (repeatable or comma-separated); "
        f"keys: {', '.join(keys)}",
    )
    parser.add_argument(
        "--seq-calls", type=int, default=None, help="calls per sequential repetition (2000)"
    )
    parser.add_argument(
        "--inflight-calls", type=int, default=None, help="calls per 64-in-flight repetition (4096)"
    )
    parser.add_argument(
        "--agentree-methods",
        default=",".join(AGENTREE_METHODS),
        metavar="M[,M]",
        help="agentree start methods to measure (default: %(default)s)",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE",
        default=None,
        help="also draw the table as a bar chart of ratios to agentree into FILE "
        "(matplotlib: pip install -e '.[bench]')",
    )
    parser.add_argument(
        "--no-ray",
        dest="ray",
        action="store_false",
        help="skip Ray's rows even when ray is installed",
    )
    parser.add_argument(
        "--case-timeout",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="abandon an agentree case after this long (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    wanted = [w for item in args.only for w in item.split(",") if w]
    args.workloads = [k for k in keys if not wanted or any(k.startswith(w) for w in wanted)]
    if not args.workloads:
        parser.error(f"--only {','.join(wanted)} matches no workload; keys: {', '.join(keys)}")
    args.agentree_methods = [m for m in args.agentree_methods.split(",") if m]
    unknown = [m for m in args.agentree_methods if m not in AGENTREE_METHODS]
    if unknown:
        parser.error(f"unknown agentree start method(s): {', '.join(unknown)}")
    for name in ("repeat", "seq_calls", "inflight_calls"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def _run_programs(cfg: Config, keys: list[str]) -> list[Measurement]:
    """Run the whole-program workloads (each program a fresh process), first of all."""
    if not any(w.key in keys for w in PROGRAM_WORKLOADS):
        return []
    import _program_cases

    return _program_cases.run_programs(cfg, keys, _progress)


def _run_peers(cfg: Config, keys: list[str]) -> list[Measurement]:
    """Run every peer case of the selected workloads.

    Args:
        cfg: Benchmark configuration.
        keys: Selected workload keys.

    Returns:
        One measurement per peer case; failures are recorded, not raised.
    """
    import _peers

    cases = [c for c in _peers.peer_cases() if c.workload in keys]
    _peers.warm_forkserver()
    out: list[Measurement] = []
    for i, case in enumerate(cases, 1):
        t0 = time.perf_counter()
        m = Measurement(case.workload, case.impl)
        try:
            m.samples, m.note = case.run(cfg)
        except Unavailable as exc:
            m.error = f"n/a ({exc})"
        except Exception as exc:
            m.error = f"error: {format_error(exc)}"
        _progress(
            f"[peer {i}/{len(cases)}] {case.workload:<9} {case.impl:<28} "
            f"{time.perf_counter() - t0:5.1f}s{'  ' + m.error if m.error else ''}"
        )
        out.append(m)
    return out


def _run_agentree(
    cfg: Config, keys: list[str], methods: list[str]
) -> tuple[list[Measurement], str]:
    """Run the agentree cases for each start method, if agentree imports.

    Args:
        cfg: Benchmark configuration.
        keys: Selected workload keys.
        methods: agentree start methods to measure.

    Returns:
        The measurements and agentree's version (or ``"n/a"``).
    """
    labels = [AGENTREE_METHODS[m] for m in methods]
    try:
        import _agentree_cases

        import agentree
    except Exception as exc:
        reason = f"n/a (agentree not importable: {format_error(exc)})"
        return [Measurement(k, label, error=reason) for k in keys for label in labels], "n/a"
    status = str(getattr(agentree, "__version__", None) or _version("agentree"))
    out: list[Measurement] = []
    if "aioecho" in keys:
        import _aio_cases

        t0 = time.perf_counter()
        out += _aio_cases.run_aio(cfg, methods)
        _progress(f"[agentree] {'infected asyncio echo':<28} {time.perf_counter() - t0:5.1f}s")
    agent_keys = [w.key for w in AGENT_WORKLOADS if w.key in keys]
    if agent_keys:
        import _agent_cases

        t0 = time.perf_counter()
        out += _agent_cases.run_agents(cfg, methods, agent_keys)
        _progress(f"[agentree] {'agents':<28} {time.perf_counter() - t0:5.1f}s")
    sup_keys = [w.key for w in SUPERVISE_WORKLOADS if w.key in keys]
    if sup_keys:
        import _supervise_cases

        t0 = time.perf_counter()
        out += _supervise_cases.run_supervise(cfg, methods, sup_keys)
        _progress(f"[agentree] {'supervision':<28} {time.perf_counter() - t0:5.1f}s")
    fb_keys = [w.key for w in FEEDBACK_WORKLOADS if w.key in keys]
    if fb_keys:
        import _feedback_cases

        t0 = time.perf_counter()
        out += _feedback_cases.run_feedback(cfg, methods, fb_keys)
        _progress(f"[agentree] {'feedback':<28} {time.perf_counter() - t0:5.1f}s")
    store_keys = [w.key for w in STORE_WORKLOADS if w.key in keys]
    if store_keys:
        import _store_cases

        t0 = time.perf_counter()
        out += _store_cases.run_store(cfg, methods, store_keys)
        _progress(f"[agentree] {'checkpoints':<28} {time.perf_counter() - t0:5.1f}s")
    ray_keys = [w.key for w in RAY_TREE_WORKLOADS if w.key in keys]
    if ray_keys:
        import _ray_tree_cases

        t0 = time.perf_counter()
        out += _ray_tree_cases.run_ray_tree(cfg, ray_keys)
        _progress(f"[agentree] {'beyond one machine (ray)':<28} {time.perf_counter() - t0:5.1f}s")
    rt_keys = [w.key for w in RAY_WORKLOADS if w.key in keys]
    if rt_keys:
        import _runtime_cases

        t0 = time.perf_counter()
        out += _runtime_cases.run_runtime(cfg, methods, rt_keys)
        _progress(f"[agentree] {'beside Ray':<28} {time.perf_counter() - t0:5.1f}s")
    keys = [k for k in keys if k in _agentree_cases.CASES]
    for method, label in zip(methods, labels, strict=True):
        if not keys:
            break
        t0 = time.perf_counter()
        results = _agentree_cases.run_agentree(method, label, cfg, keys)
        for m in results:
            if m.error is not None:
                m.error = f"error: {m.error}"
        _progress(f"[agentree] {label:<28} {time.perf_counter() - t0:5.1f}s")
        out += results
    return out, status


def _run_ray(cfg: Config, keys: list[str], wanted: bool) -> list[Measurement]:
    """Run Ray's rows, in processes of their own, if ``ray`` is importable; last of all."""
    ray_keys = [k for k in keys if k in RAY]
    if not ray_keys or not wanted:
        return []
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        note = "n/a (ray not installed: pip install -e '.[bench-ray]')"
        return [Measurement(k, RAY[k], error=note) for k in ray_keys]
    import _ray_cases

    ray_temp_dir()  # made here, so the Ray processes started below share it
    t0 = time.perf_counter()
    out = _ray_rows(cfg, [k for k in ray_keys if not k.startswith("rtorphan")])
    if any(k.startswith("rtorphan") for k in ray_keys):
        try:
            rows = _ray_cases.ray_orphans(cfg.repeat)
        except Exception as exc:
            rows = [
                {"workload": k, "impl": RAY[k], "error": f"error: {format_error(exc)}"}
                for k in ("rtorphan1", "rtorphan5")
            ]
        out += [
            Measurement(r["workload"], r["impl"], r.get("samples", []), r.get("error"))
            for r in rows
            if r["workload"] in keys
        ]
    _progress(f"[ray] {'ray rows':<28} {time.perf_counter() - t0:5.1f}s")
    return out


def _ray_rows(cfg: Config, keys: list[str]) -> list[Measurement]:
    """Ray's rows measured by one ``_ray_cases.py bench`` process."""
    import json
    import subprocess

    if not keys:
        return []
    argv = [
        sys.executable,
        os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ray_cases.py"),
    ]
    argv += ["bench", ",".join(keys), str(cfg.repeat), str(cfg.seq_calls), str(cfg.inflight_calls)]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=cfg.case_timeout * 3, check=False)
    except subprocess.TimeoutExpired:
        return [Measurement(k, RAY[k], error="error: timed out") for k in keys]
    rows = {}
    for line in proc.stdout.decode().splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["workload"]] = Measurement(
                row["workload"], row["impl"], row["samples"], row.get("error")
            )
    tail = (proc.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1][:120]
    for k in keys:
        rows.setdefault(k, Measurement(k, RAY[k], error=f"error: exit {proc.returncode}: {tail}"))
    return list(rows.values())


def _leftovers() -> list[str]:
    """Stop multiprocessing's helper processes, then report any live descendants."""
    import _peers

    _peers.stop_mp_helpers()
    deadline = time.monotonic() + 5.0
    left = descendants()
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = descendants()
    if not left:
        return ["descendant processes left at exit: none"]
    return [f"descendant processes left at exit: {len(left)}"] + [
        f"  pid {pid}: {cmd[:100]}" for pid, cmd in left
    ]


def _footnotes(workloads: list[Workload], results: list[Measurement]) -> list[str]:
    """Return the notes block: method explanations plus per-row remarks."""
    lines = ["notes:"]
    for text in FOOTNOTES["general"]:
        lines.append(f"- {text}")
    for w in workloads:
        lines += [f"- {text}" for text in FOOTNOTES.get(w.key, [])]
    by_key = {w.key: w for w in workloads}
    for m in results:
        if m.note:
            lines.append(f"- [{by_key[m.workload].title} / {m.impl}] {m.note}")
    return lines


def cli(argv: list[str]) -> int:
    """Parse ``argv``, run the selected workloads and print the report.

    Args:
        argv: Command-line arguments without the program name.

    Returns:
        Process exit code (0 unless argument parsing fails).
    """
    args = _parse_args(argv)
    quick: bool = args.quick
    cfg = Config(
        repeat=args.repeat or (2 if quick else 5),
        quick=quick,
        seq_calls=args.seq_calls or (300 if quick else 2000),
        inflight_calls=args.inflight_calls or (640 if quick else 4096),
        case_timeout=args.case_timeout,
    )
    keys: list[str] = args.workloads
    workloads = [w for w in WORKLOADS if w.key in keys]
    started = time.perf_counter()
    load_at_start = _loadavg()
    results = _run_programs(cfg, keys)
    results += _run_peers(cfg, keys)
    ours, status = _run_agentree(cfg, keys, args.agentree_methods)
    results += ours
    results += _run_ray(cfg, keys, args.ray)
    lines = _header(cfg, status, load_at_start)
    lines += render_table(workloads, results)
    lines += render_agentree_vs_peers(workloads, results)
    lines += render_overheads(results)
    lines += _footnotes(workloads, results)
    lines += [
        "",
        *_leftovers(),
        f"load avg at end {_loadavg()} | total wall time {time.perf_counter() - started:.1f} s",
    ]
    if args.plot:
        from _plot import plot

        title = (
            f"agentree vs peers, {datetime.date.today().isoformat()}, "
            f"load avg at start {load_at_start}, repeat {cfg.repeat}"
        )
        lines.append(plot(args.plot, workloads, results, title))
    print("\n".join(lines), flush=True)
    return 0
