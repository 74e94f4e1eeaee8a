"""Restart a worker that crashes, from a nursery that reports exits instead of failing.

``open_nursery(report_exits=True)`` makes a child's end news rather than an error:
each end arrives on ``an.exit_events()`` as an ``agentree.ChildExit`` saying how
it ended. A call in flight when the worker's process dies raises
``agentree.ActorDied``, which names the actor and its exit code or signal. What
the worker's own code started (a helper process here) dies with it, and
``an.stop_child()`` stops a worker with a shutdown policy.

Run it from the repository root::

    python examples/supervision/restart_on_crash.py
"""

import os
import subprocess

import trio

import agentree


def crunch(n: int) -> int:
    """Square ``n``; job 3 crashes the whole worker process."""
    if n == 3:
        os._exit(3)
    return n * n


def start_helper() -> int:
    """Start a helper process of the worker's own; return its pid."""
    return subprocess.Popen(["sleep", "1000"]).pid


async def gone(pid: int) -> bool:
    """Whether process ``pid`` ends within two seconds."""
    with trio.move_on_after(2):
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            await trio.sleep(0.01)
    return False


async def main() -> None:
    async with agentree.open_nursery(report_exits=True) as an:
        worker = await an.start_actor("worker", enable_modules=[__name__])
        helper = await worker.run(start_helper)
        results = []
        for n in range(1, 6):
            try:
                results.append(await worker.run(crunch, n=n))
            except agentree.ActorDied as exc:
                print(f"job {n}: the worker died ({exc.exit.reason}, code {exc.exit.returncode})")
                ended = await an.exit_events().receive()
                print(f"exit event: {ended.name} {ended.reason}, code {ended.returncode}")
                print(f"its helper process died with it: {await gone(helper)}")
                worker = await an.start_actor("worker", enable_modules=[__name__])
                print("worker restarted")
        print(f"results: {results}")
        print(f"the new worker answers a ping: {await worker.ping(timeout=5) < 5}")
        stopped = await an.stop_child(worker, shutdown=2.0)
        print(f"stopped: {stopped.reason}, code {stopped.returncode}")


if __name__ == "__main__":
    trio.run(main)
