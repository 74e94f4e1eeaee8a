"""A run with checkpoints in a SQLite file, for the root-SIGKILL resume test.

``resume_run.py DB RUN_ID run``: start three agents (one in a nested
supervisor), checkpoint a state in each, change each once more without a
checkpoint, print ``{"root": pid, "actors": [pids]}`` and wait to be killed.

``resume_run.py DB RUN_ID check``: start the same agents with the same run id,
print what each one's ``on_start`` saw and its state as JSON, and exit.
"""

from __future__ import annotations

import json
import os
import sys

import trio

import agentree
from tests.store._agents import Counter

NAMES = ("a", "b")


async def main(db: str, run_id: str, mode: str) -> None:
    store = agentree.SqliteStore(db)
    async with agentree.open_supervisor("app", store=store, run_id=run_id) as sup:
        team = await sup.start_supervisor("team")
        refs = {name: await sup.start_agent(Counter, name=name) for name in NAMES}
        refs["team/c"] = await team.start_agent(Counter, name="c")
        if mode == "run":
            for i, ref in enumerate(refs.values()):
                await ref.call(Counter.add, 10 * (i + 1), f"saved {i}")
                await ref.call(Counter.add, 1000, "not saved", save=False)
            pids = [ref.pid for ref in refs.values()]
            print(json.dumps({"root": os.getpid(), "actors": pids}), flush=True)
            await trio.sleep_forever()
        looks = {name: await ref.call(Counter.look) for name, ref in refs.items()}
        print(json.dumps(looks), flush=True)


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:4])
