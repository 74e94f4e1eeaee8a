"""A run whose agents' questions the ROOT answers, for the root-SIGKILL resume test.

As ``feedback_run.py``, but the handlers, the SQLite store and the run id are the
root's (``open_root_actor(feedback=..., store=..., run_id=...)``), and the
supervisor names no store: it uses the root's.

``root_feedback_run.py DB RUN_ID run``: start two agents under that supervisor;
each checkpoints a state, then asks a question in ``on_start``.
``first``'s question is answered at once by a policy handler (its answer is not
checkpointed); ``second``'s waits in a queue nobody reads. Print
``{"root": pid, "actors": [pids]}`` once ``first`` has its answer, and wait to be
killed.

``root_feedback_run.py DB RUN_ID check``: the same agents with the same run id; the
policy answers every question. Print what each agent has, and exit.

Each handler call is appended to ``asked.log`` (in the working directory), so
that the test can count how often each question reached the handlers.
"""

from __future__ import annotations

import json
import os
import sys

import msgspec
import trio

import agentree


class Seen(msgspec.Struct):
    count: int = 0


class Questioner(agentree.Agent, state=Seen):
    """Checkpoints its state, then asks its question (the answer is not saved)."""

    async def on_start(self) -> None:
        self.answer: str | None = None
        self.got = trio.Event()
        self.state.count += 1
        await self.checkpoint()
        self.start_soon(self._ask)

    async def _ask(self) -> None:
        self.answer = await agentree.request_feedback(f"go on, {self.name}?", answer=str)
        self.got.set()

    async def look(self) -> list[object]:
        """[count restored and bumped, answer (waiting for it), pid]."""
        await self.got.wait()
        return [self.state.count, self.answer, os.getpid()]


async def main(db: str, run_id: str, mode: str) -> None:
    queue = agentree.feedback_queue()

    def log_ask(req: agentree.FeedbackRequest) -> None:
        with open("asked.log", "a") as log:
            log.write(req.key + "\n")

    def policy(req: agentree.FeedbackRequest) -> str | None:
        if mode == "check" or "first" in str(req.question):
            return f"yes ({mode})"
        return None

    async with (
        agentree.open_root_actor(
            feedback=[log_ask, policy, queue], store=agentree.SqliteStore(db), run_id=run_id
        ),
        agentree.open_supervisor("app") as sup,
    ):
        refs = {name: await sup.start_agent(Questioner, name=name) for name in ("first", "second")}
        if mode == "run":
            await refs["first"].call(Questioner.look)  # first has its answer
            await queue.__anext__()  # second's question is pending
            pids = [ref.pid for ref in refs.values()]
            print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
            await trio.sleep_forever()
        looks = {name: await ref.call(Questioner.look) for name, ref in refs.items()}
        print(json.dumps(looks), flush=True)


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:4])
