"""Beyond one machine (issue 12): a Ray-hosted agentree actor against its references.

Three row groups, all measured in one run on one local Ray (started here with
``ray.init(num_cpus=2)`` unless this process already runs one):

- ``rayrpc``: sequential round trips/s to a Ray-hosted agentree actor, to an agentree
  actor reached over TCP loopback (a program that joined the tree, the reference),
  and to a plain Ray actor's method (``ray.get(actor.echo.remote(i))``);
- ``raystream``: a one-way stream of 64 KiB messages from a Ray-hosted actor and from
  the TCP-loopback actor, in MiB/s;
- ``rayspawn``: from ``start_actor(start_method="ray")`` to the first result, beside
  Ray's own actor creation to its first method result.

The workload list imports nothing heavy (the harness lists rows without agentree or
Ray); the actors import this module by name (``enable_modules``), so the functions
they run live here too. ``python -c "import _ray_tree_cases as m; m.joined_main()"``
is the program that joins the tree over TCP (its config on stdin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

from _common import Config, Measurement, Workload, ray_temp_dir

__all__ = ["RAY_TREE_FOOTNOTES", "RAY_TREE_WORKLOADS", "run_ray_tree"]

RAY_HOSTED = "agentree ray-hosted actor"
TCP = "agentree actor over TCP loopback"
RAY_METHOD = "ray actor method"
RAY_SPAWN = "agentree start_actor(start_method='ray')"
RAY_CREATE = "ray actor creation"
BLOB = 64 * 1024
STREAM_MSGS = (3000, 600)

RAY_TREE_WORKLOADS = [
    Workload("rayrpc", "round trips/s, same machine (Ray)", "rate", ref=TCP),
    Workload("raystream", "one-way stream 64 KiB MiB/s (Ray)", "rate", ref=TCP),
    Workload("rayspawn", "spawn -> first result (Ray)", "time", ref=RAY_CREATE),
]

RAY_TREE_FOOTNOTES = {
    "rayrpc": [
        "Ray rows (issue 12): one local Ray, ray.init(num_cpus=2, include_dashboard=False). "
        "round trips: seq-calls sequential portal.run(echo, x=i) to an actor hosted by a Ray "
        "actor (start_method='ray': its channel to the root is TCP on this machine), and to a "
        "program that joined the tree over TCP loopback (agentree.join_tree, the reference); "
        "ray actor method: sequential ray.get(actor.echo.remote(i)) on a plain Ray actor. "
        "Targets: ray-hosted >= 70% of TCP loopback, and far above the Ray method.",
    ],
    "raystream": [
        "64 KiB stream: open_stream_from(blobs) yielding 3000 (quick: 600) messages of 64 KiB, "
        "read to the end; MiB/s. Target: ray-hosted >= 70% of TCP loopback.",
    ],
    "rayspawn": [
        "spawn: start_actor(start_method='ray') + portal.run(echo) with Ray already running "
        "(the host actor, its worker process, the child interpreter, its connection back and "
        "handshake), beside Ray's own: Actor.remote() + ray.get(actor.echo.remote(1)). "
        "The stop is outside the timed region.",
    ],
}


# -- what the actors run -----------------------------------------------------------------


def echo(x: Any) -> Any:
    return x


async def blobs(n: int, size: int) -> AsyncIterator[bytes]:
    blob = b"x" * size
    for _ in range(n):
        yield blob


def joined_main() -> None:
    """The program that joins the tree over TCP loopback (config on stdin)."""
    import trio

    import agentree

    cfg = json.loads(sys.stdin.readline())

    async def main() -> None:
        async with agentree.join_tree(
            (cfg["host"], cfg["port"]),
            bytes.fromhex(cfg["secret"]),
            name="tcp-joined",
            enable_modules=["_ray_tree_cases"],
        ):
            await trio.sleep_forever()

    trio.run(main)


# -- measuring ------------------------------------------------------------------------------


class _Echo:
    def echo(self, x: Any) -> Any:
        return x


def _ray_method_rates(ray: Any, cfg: Config) -> list[float]:
    actor = ray.remote(_Echo).remote()
    try:
        ray.get(actor.echo.remote(0))
        rates = []
        for rep in range(cfg.repeat + 1):
            t0 = time.perf_counter()
            for i in range(cfg.seq_calls):
                ray.get(actor.echo.remote(i))
            if rep:
                rates.append(cfg.seq_calls / (time.perf_counter() - t0))
        return rates
    finally:
        ray.kill(actor)


def _ray_create_times(ray: Any, cfg: Config) -> list[float]:
    cls = ray.remote(_Echo)
    times = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        actor = cls.remote()
        ray.get(actor.echo.remote(1))
        if rep:
            times.append(time.perf_counter() - t0)
        ray.kill(actor)
    return times


async def _rpc_rates(portal: Any, cfg: Config) -> list[float]:
    rates = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        for i in range(cfg.seq_calls):
            await portal.run(echo, x=i)
        if rep:
            rates.append(cfg.seq_calls / (time.perf_counter() - t0))
    return rates


async def _stream_rates(portal: Any, cfg: Config) -> list[float]:
    n = STREAM_MSGS[1] if cfg.quick else STREAM_MSGS[0]
    rates = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        got = 0
        async with portal.open_stream_from(blobs, n=n, size=BLOB) as stream:
            async for blob in stream:
                got += len(blob)
        if rep:
            rates.append(got / (time.perf_counter() - t0) / 2**20)
    return rates


async def _spawn_times(an: Any, cfg: Config) -> list[float]:
    times = []
    for rep in range(cfg.repeat + 1):
        t0 = time.perf_counter()
        portal = await an.start_actor(
            f"spawned{rep}", enable_modules=["_ray_tree_cases"], start_method="ray"
        )
        await portal.run(echo, x=1)
        if rep:
            times.append(time.perf_counter() - t0)
        await an.stop_child(portal)
    return times


async def _joined_portal(an: Any, agentree: Any) -> tuple[Any, Any]:
    """Start the TCP-loopback program and wait until it joined; (portal, process)."""
    import trio

    host, port = agentree.tree_address()
    env = dict(os.environ)
    proc = await trio.lowlevel.open_process(
        [sys.executable, "-c", "import _ray_tree_cases as m; m.joined_main()"],
        stdin=subprocess.PIPE,
        env=env,
    )
    cfg = {"host": host, "port": port, "secret": agentree.tree_secret().hex()}
    assert proc.stdin is not None
    await proc.stdin.send_all((json.dumps(cfg) + "\n").encode())
    with trio.fail_after(60):
        async with agentree.wait_for_actor("tcp-joined") as portal:
            return portal, proc


async def _measure_tree(cfg: Config, keys: list[str]) -> dict[tuple[str, str], list[float]]:
    import secrets

    import trio

    import agentree

    out: dict[tuple[str, str], list[float]] = {}
    async with (
        agentree.open_root_actor(bind=("127.0.0.1", 0), secret=secrets.token_bytes(32)),
        agentree.open_nursery() as an,
    ):
        hosted = await an.start_actor(
            "ray-hosted", enable_modules=["_ray_tree_cases"], start_method="ray"
        )
        joined, proc = await _joined_portal(an, agentree)
        try:
            if "rayrpc" in keys:
                # Alternate the two so that load changes hit both alike.
                out[("rayrpc", RAY_HOSTED)] = await _rpc_rates(hosted, cfg)
                out[("rayrpc", TCP)] = await _rpc_rates(joined, cfg)
            if "raystream" in keys:
                out[("raystream", RAY_HOSTED)] = await _stream_rates(hosted, cfg)
                out[("raystream", TCP)] = await _stream_rates(joined, cfg)
            if "rayspawn" in keys:
                out[("rayspawn", RAY_SPAWN)] = await _spawn_times(an, cfg)
        finally:
            with trio.move_on_after(10):
                await an.cancel()
    # The root's end stopped the joined program; reap it.
    with trio.move_on_after(10):
        await proc.wait()
    if proc.returncode is None:
        proc.kill()
        await proc.wait()
    return out


def run_ray_tree(cfg: Config, keys: list[str]) -> list[Measurement]:
    """Measure the selected Ray rows (``n/a`` rows when Ray is not installed)."""
    rows = {
        "rayrpc": [RAY_HOSTED, TCP, RAY_METHOD],
        "raystream": [RAY_HOSTED, TCP],
        "rayspawn": [RAY_SPAWN, RAY_CREATE],
    }
    keys = [k for k in keys if k in rows]
    try:
        import ray
    except ImportError:
        return [
            Measurement(k, impl, error="n/a (ray is not installed: the ray extra)")
            for k in keys
            for impl in rows[k]
        ]
    import trio

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = not ray.is_initialized()
    if started:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            object_store_memory=80 * 1024 * 1024,
            log_to_driver=False,
            _temp_dir=ray_temp_dir(),
        )
    samples: dict[tuple[str, str], list[float]] = {}
    errors: dict[str, str] = {}
    try:
        try:
            samples.update(trio.run(_measure_tree, cfg, keys))
        except Exception as exc:
            errors["agentree"] = f"error: {type(exc).__name__}: {exc}"
        if "rayrpc" in keys:
            samples[("rayrpc", RAY_METHOD)] = _ray_method_rates(ray, cfg)
        if "rayspawn" in keys:
            samples[("rayspawn", RAY_CREATE)] = _ray_create_times(ray, cfg)
    finally:
        if started:
            ray.shutdown()
    out = []
    for key in keys:
        for impl in rows[key]:
            found = samples.get((key, impl))
            if found is None:
                out.append(Measurement(key, impl, error=errors.get("agentree", "not measured")))
            else:
                out.append(Measurement(key, impl, samples=found))
    return out
