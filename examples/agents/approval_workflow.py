"""An approval workflow: agents ask before they act, and a killed run resumes.

Two agents, each in its own process, under a supervisor that keeps their
checkpoints (and the answers they were given) in a SQLite file:

- ``planner`` (an ``async def`` method) asks, for each step of a plan, whether to
  do it: ``await agentree.request_feedback(step, answer=bool)``;
- ``publisher`` (a ``def`` method: it runs in a worker thread) asks, for each
  approved step, the note to publish it with:
  ``agentree.request_feedback_sync(Release(...), answer=str)``.

The supervisor's feedback handlers answer in order: a policy (a plain function)
approves cheap steps by itself; everything else goes to a person at this
terminal (``agentree.terminal_feedback()``), or, with ``--auto-approve``, to a
handler that approves everything (unattended, as the test runs it). Each agent
checkpoints its state after each answer it acts on.

Run it::

    python examples/agents/approval_workflow.py                  # you answer
    python examples/agents/approval_workflow.py --auto-approve   # unattended

Without ``--db`` the SQLite file lives in a temporary directory, removed at the
end. To watch a run resume, give it a file and a pace, kill the whole program
with SIGKILL halfway (it prints its pid), and run the same command again::

    python examples/agents/approval_workflow.py --auto-approve --db /tmp/approvals.db --pace 1
    kill -9 <pid>        # from another terminal, after a step or two
    python examples/agents/approval_workflow.py --auto-approve --db /tmp/approvals.db --pace 1

The rerun (same ``--db``, same ``--run-id``) restores each agent's last
checkpoint, so decided steps are skipped; a question answered just before the
kill but not yet checkpointed gets its answer again from the store's journal,
without asking anyone. Remove the file to start over.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import trio

import agentree


class Step(msgspec.Struct):
    """A step of the plan, and what it costs."""

    title: str
    cost: int


class Release(msgspec.Struct):
    """A question of the publisher: the note to publish an approved step with."""

    step: str


STEPS = [
    Step("read the spec", 1),
    Step("order servers", 400),
    Step("write the code", 5),
    Step("deploy to production", 900),
    Step("announce it", 2),
]


class Decisions(msgspec.Struct):
    approved: list[str] = []
    rejected: list[str] = []


class Planner(agentree.Agent, state=Decisions):
    """Asks about each step, from async code, and checkpoints each decision."""

    async def run(self, pace: float) -> list[str]:
        decided = set(self.state.approved) | set(self.state.rejected)
        for step in STEPS:
            if step.title in decided:
                continue  # decided before a restart: restored from the checkpoint
            ok = await agentree.request_feedback(step, answer=bool)
            (self.state.approved if ok else self.state.rejected).append(step.title)
            await self.checkpoint()
            print(f"planner: {step.title!r} {'approved' if ok else 'rejected'}", flush=True)
            await trio.sleep(pace)
        return list(self.state.approved)


class Notes(msgspec.Struct):
    published: dict[str, str] = {}


class Publisher(agentree.Agent, state=Notes):
    """Asks for a release note per step, from a worker thread, and checkpoints each."""

    def publish(self, steps: list[str], pace: float) -> dict[str, str]:
        for step in steps:
            if step in self.state.published:
                continue
            note = agentree.request_feedback_sync(Release(step), answer=str)
            self.state.published[step] = note
            trio.from_thread.run(self.checkpoint)
            print(f"publisher: {step!r} published with {note!r}", flush=True)
            time.sleep(pace)
        return dict(self.state.published)


def policy(req: agentree.FeedbackRequest) -> Any:
    """Approve cheap steps without asking anyone; leave the rest to the next handler."""
    question = req.question
    if isinstance(question, dict) and question.get("cost", 1000) <= 10:
        print(f"[policy] {req.asker}: {question['title']!r} is cheap: approved", flush=True)
        return True
    return None


def approve_everything(req: agentree.FeedbackRequest) -> Any:
    """``--auto-approve``: say yes to every question (a note for the publisher)."""
    answer: Any = True if req.answer_kind == "bool" else "shipped, no comment"
    print(f"[auto] {req.asker}: {req.question} -> {answer!r}", flush=True)
    return answer


@contextmanager
def database(path: str | None) -> Iterator[str]:
    """The SQLite file: ``path``, or one in a temporary directory removed at the end."""
    if path is not None:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="approvals-") as tmp:
        yield os.path.join(tmp, "approvals.db")


async def main(args: argparse.Namespace) -> None:
    handlers = [policy, approve_everything if args.auto_approve else agentree.terminal_feedback()]
    with database(args.db) as db:
        async with agentree.open_supervisor(
            "approvals", store=agentree.SqliteStore(db), run_id=args.run_id, feedback=handlers
        ) as sup:
            print(f"pid {os.getpid()}: run {args.run_id!r}, checkpoints in {db}", flush=True)
            planner = await sup.start_agent(Planner, name="planner")
            publisher = await sup.start_agent(Publisher, name="publisher")
            approved = await planner.call(Planner.run, args.pace)
            published = await publisher.call(Publisher.publish, approved, args.pace)
    print(f"approved {len(approved)} of {len(STEPS)} steps; published {len(published)}")
    for step, note in published.items():
        print(f"  {step}: {note}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--auto-approve", action="store_true", help="approve everything, without a prompt"
    )
    parser.add_argument("--db", help="the SQLite file (default: a temporary one)")
    parser.add_argument("--run-id", default="approvals-1", help="the run to resume")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds between steps")
    return parser.parse_args(argv)


if __name__ == "__main__":
    trio.run(main, parse())
