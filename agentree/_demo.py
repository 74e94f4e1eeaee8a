"""A five-minute tour of agentree: start here.

agentree runs a tree of trio "actors": every actor is its own OS process running its
own ``trio.run``, and the tree follows trio's structured concurrency, so nothing
outlives the ``async with`` block that started it. This demo walks through:

1. ``run_in_actor``: run one function in a new process and collect its result;
2. ``start_actor``: start a daemon and call into it, several calls at once;
3. remote errors: an exception in another process comes back as a
   ``RemoteActorError`` that knows its type, its actor and its traceback;
4. a context: a dialog with a task in the daemon over a two-way stream;
5. infected asyncio: an actor whose main loop is asyncio runs an asyncio coroutine
   for its trio task;
6. supervision: an agent under a supervisor crashes (its process exits) and comes
   back as a new incarnation, and the next call reaches it;
7. feedback: the agent asks a question and waits; the supervisor's policy handler
   answers it automatically;
8. teardown: when the block ends, every child process is gone, and we check.

It ships inside the package, so it runs wherever agentree is installed::

    python -m agentree demo

(``python examples/demo.py`` in a source checkout runs the same tour.) Functions
that run in other actors live at module level: a child finds them by their
``module:qualname``, here ``agentree._demo:...``.
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


@agentree.context
async def shout(ctx: agentree.Context, times: int) -> int:
    """Say ready, then answer every word on the stream ``times`` louder."""
    await ctx.started(f"ready to shout, x{times}")
    answered = 0
    async with ctx.open_stream() as stream:
        async for word in stream:
            await stream.send(" ".join([word.upper()] * times))
            answered += 1
    return answered


async def asyncio_nap() -> str:
    """A trio task in an infected actor hands asyncio a coroutine and gets its result."""
    import asyncio

    from agentree import to_asyncio

    async def nap(delay: float) -> str:
        await asyncio.sleep(delay)
        return f"asyncio napped {delay}s in {agentree.current_actor().name!r}"

    return str(await to_asyncio.run_task(nap, delay=0.05))


class Flaky(agentree.Agent):
    """An agent that can crash on demand and asks before it does anything risky."""

    async def hello(self) -> str:
        """Say which incarnation (and process) answers."""
        return f"incarnation {self.incarnation} (pid {os.getpid()})"

    async def crash(self) -> None:
        """End this agent's process at once, as a bug or the OOM killer would."""
        os._exit(1)

    async def tidy(self, path: str) -> str:
        """Ask for permission (feedback), then report what was decided."""
        allowed = await agentree.request_feedback(f"delete {path}?", answer=bool)
        return f"deleted {path}" if allowed else f"kept {path}"


async def approve_tidy(request: agentree.FeedbackRequest) -> bool | None:
    """A feedback policy: answer deletion questions under /tmp, leave the rest."""
    question = str(request.question)
    if question.startswith("delete /tmp/"):
        return True
    return None


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
            f"[1/8] run_in_actor: 'cruncher' (pid {answer['pid']}) "
            f"summed the squares below 100000 -> {answer['total']}"
        )

        # 2. A daemon that serves calls until it is cancelled.
        daemon = await an.start_actor("greeter", enable_modules=[__name__])
        info = await daemon.run(whoami)
        print(f"[2/8] start_actor: daemon {info['name']!r} (pid {info['pid']}) is serving")
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
            print(f"[3/8] remote error: {kind} in actor {err.src_uid[0]!r}")
            print(f"      remote traceback ends with: {last_line}")
        quarter = await daemon.run(divide, a=1, b=4)
        print(f"      the daemon still answers: divide(1, 4) -> {quarter}")

        # 4. A context: a task in the daemon, and a two-way stream to it.
        async with daemon.open_context(shout, times=2) as (ctx, first):
            print(f"[4/8] context: the daemon's task says {first!r}")
            async with ctx.open_stream() as stream:
                for word in ["hey", "ho"]:
                    await stream.send(word)
                    print(f"      {word!r} -> {await stream.receive()!r}")
        print(f"      the task answered {await ctx.wait_for_result()} words and returned")

        # 5. Infected asyncio: asyncio is the actor's main loop, trio runs as its guest.
        infected = await an.run_in_actor(asyncio_nap, name="aio", infect_asyncio=True)
        print(f"[5/8] infected asyncio: {await infected.wait_for_result()}")

        # 6. A supervised agent crashes and comes back; 7. it asks, a policy answers.
        async with agentree.open_supervisor(
            "demo", backoff=agentree.Backoff(min=0.05, max=0.5), feedback=[approve_tidy]
        ) as sup:
            flaky = await sup.start_agent(Flaky, name="flaky")
            first = await flaky.call(Flaky.hello)
            try:
                await flaky.call(Flaky.crash)
            except agentree.AgentCrashed as crash:
                cause = crash.cause
                why = cause.describe() if isinstance(cause, agentree.ChildExit) else str(crash)
            else:
                why = "it did not crash"
            second = await flaky.call(Flaky.hello)
            print(f"[6/8] supervision: agent 'demo/flaky' answered from {first}")
            print(f"      then crashed ({why})")
            print(f"      and came back: the next call answered from {second}")
            tidied = await flaky.call(Flaky.tidy, "/tmp/agentree-demo")
            print("[7/8] feedback: the agent asked 'delete /tmp/agentree-demo?' and waited;")
            print(f"      the supervisor's policy answered at once -> {tidied!r}")

        # Daemons run until cancelled (the nursery's exit would cancel it too).
        stopped = await daemon.cancel_actor()

    # 8. The block has ended: every actor, and the forkserver behind them, is gone.
    daemon_end = "daemon cancelled" if stopped else "daemon killed (it ignored the cancel)"
    left = descendant_pids()
    if left is None:
        print(f"[8/8] teardown: {daemon_end}, nursery closed (cannot count processes here)")
    elif left:
        raise SystemExit(f"[8/8] teardown: child processes survived: {left}")
    else:
        print(f"[8/8] teardown: {daemon_end}, nursery closed, 0 processes left")
    print("Done. Next: the examples/ directory of the source tree, and the docs.")
