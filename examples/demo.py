"""A five-minute tour of agentree: start here.

agentree runs a tree of trio "actors": every actor is its own OS process running its
own ``trio.run``, and the tree follows trio's structured concurrency, so nothing
outlives the ``async with`` block that started it. This demo walks through:

1. ``run_in_actor``: run one function in a new process and collect its result;
2. ``start_actor``: start a daemon and call into it, several calls at once;
3. remote errors: an exception in another process comes back as a
   ``RemoteActorError`` that knows its type, its actor and its traceback;
4. teardown: when the block ends, every child process is gone, and we check.

Run it from the repository root::

    python examples/demo.py

Functions that run in other actors live at module level, and the script keeps its
``if __name__ == "__main__":`` guard: each child loads this file by path (as
multiprocessing's "spawn" does) to find them.
"""

import os

import trio

import agentree


async def sum_of_squares(limit: int) -> dict[str, int]:
    """Add up ``i * i`` for ``i`` below ``limit``; report which process did it."""
    total = 0
    for i in range(limit):
        total += i * i
        if i % 10_000 == 0:
            # Stay polite: a checkpoint lets the actor's runtime serve its channel.
            await trio.lowlevel.checkpoint()
    return {"pid": os.getpid(), "total": total}


def whoami() -> dict[str, object]:
    """Name and pid of the actor this runs in."""
    return {"name": agentree.current_actor().name, "pid": os.getpid()}


async def greet(who: str) -> str:
    """Answer with a greeting after a short pause (slow enough to overlap calls)."""
    await trio.sleep(0.1)
    return f"hello {who}, from {agentree.current_actor().name}"


async def divide(a: float, b: float) -> float:
    """Divide ``a`` by ``b``; with ``b == 0`` this fails, in the daemon's process."""
    return a / b


def descendant_pids() -> list[int] | None:
    """Pids of live processes below this one, or ``None`` if there is no way to look.

    Uses psutil when it is installed, else Linux's ``/proc``. Zombies count: a child
    that was never reaped is a leak too.
    """
    try:
        import psutil
    except ImportError:
        pass
    else:
        return [p.pid for p in psutil.Process().children(recursive=True)]
    if not os.path.isdir("/proc"):
        return None
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue  # the process exited while we looked
        # The command name may hold spaces and parentheses: split after its last ")".
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


async def main() -> None:
    """Take the tour, one labelled step at a time."""
    async with agentree.open_nursery() as an:
        root = agentree.current_actor()
        print(f"agentree demo: root actor {root.name!r} is pid {os.getpid()}")

        # 1. One function, one process, one result.
        portal = await an.run_in_actor(sum_of_squares, name="cruncher", limit=100_000)
        answer = await portal.wait_for_result()
        print(
            f"[1/4] run_in_actor: 'cruncher' (pid {answer['pid']}) "
            f"summed the squares below 100000 -> {answer['total']}"
        )

        # 2. A daemon that serves calls until it is cancelled.
        daemon = await an.start_actor("greeter", enable_modules=[__name__])
        info = await daemon.run(whoami)
        print(f"[2/4] start_actor: daemon {info['name']!r} (pid {info['pid']}) is serving")
        print(f"      greet('ada') -> {await daemon.run(greet, who='ada')!r}")
        names = ["bob", "cy", "di"]
        replies: dict[str, str] = {}

        async def ask(who: str) -> None:
            replies[who] = await daemon.run(greet, who=who)

        start = trio.current_time()
        async with trio.open_nursery() as tn:
            for who in names:
                tn.start_soon(ask, who)
        took = trio.current_time() - start
        assert all(replies[who].startswith(f"hello {who}") for who in names)
        print(f"      {len(names)} greets at once: all answered in {took:.2f}s (each naps 0.10s)")

        # 3. An exception in the daemon comes back boxed; the daemon lives on.
        try:
            await daemon.run(divide, a=1, b=0)
        except agentree.RemoteActorError as err:
            kind = err.boxed_type.__name__ if err.boxed_type else err.boxed_type_str
            last_line = err.tb_str.strip().splitlines()[-1]
            print(f"[3/4] remote error: {kind} in actor {err.src_uid[0]!r}")
            print(f"      remote traceback ends with: {last_line}")
        quarter = await daemon.run(divide, a=1, b=4)
        print(f"      the daemon still answers: divide(1, 4) -> {quarter}")

        # Daemons run until cancelled (the nursery's exit would cancel it too).
        stopped = await daemon.cancel_actor()

    # 4. The block has ended: every actor, and the forkserver behind them, is gone.
    daemon_end = "daemon cancelled" if stopped else "daemon killed (it ignored the cancel)"
    left = descendant_pids()
    if left is None:
        print(f"[4/4] teardown: {daemon_end}, nursery closed (cannot count processes here)")
    elif left:
        raise SystemExit(f"[4/4] teardown: child processes survived: {left}")
    else:
        print(f"[4/4] teardown: {daemon_end}, nursery closed, 0 child processes remain")
    print("Done. Next: examples/rpc_daemon.py, examples/nested_tree.py, examples/parallelism/")


if __name__ == "__main__":
    trio.run(main)
