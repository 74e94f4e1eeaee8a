"""The debugger in Ray-hosted actors: their REPLs use the root's terminal by proxy.

One program (``scripts/ray_debug.py``) starts a local Ray once and runs every
scenario in turn, because starting Ray costs seconds: a pause (``p``, ``n``, a
Ctrl-C at the prompt, ``c``), ``pause_from_sync()`` in a worker thread, a pause
without greenback (its REPL in a worker thread), end of file at a prompt (the REPL
quits: the actor is cancelled), a post-mortem (``q``), two actors pausing at once
(their REPLs queue on the terminal lock), and a grandchild pausing through the
relay of its Ray-hosted parent, after an actor was killed holding the terminal.
Skipped when Ray is not installed (the ``ray`` extra).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from ._term import ANY_PROMPT, Session, prompt

pytest.importorskip("ray", reason="the ray extra is not installed", exc_type=ImportError)

Start = Callable[..., Session]

SCRIPT = str(Path(__file__).parent / "scripts" / "ray_debug.py")
# Ray's start, and each Ray-hosted child's, takes seconds on a loaded machine.
SLOW = 90.0
# One command at a prompt: its answer goes through the root and back.
STEP = 30.0


def answer(term: Session, actor: str, command: str) -> str:
    """Send ``command`` at ``actor``'s prompt; what the REPL printed before the next one."""
    term.sendline(command)
    term.expect(prompt(actor), timeout=STEP)
    return term.before.strip()


def test_ray_hosted_actors_debug_through_the_root_terminal(session: Start) -> None:
    term = session(SCRIPT)

    # A pause: the header and the frame come through the root's stdout.
    term.expect(r"Paused in actor 'pauser' \(pid \d+\)", timeout=SLOW)
    term.expect(prompt("pauser"), timeout=STEP)
    assert "pause_with()" in term.before
    assert answer(term, "pauser", "p x") == "41"
    # Ctrl-C at the root reaches the proxied REPL's prompt, as at a local one.
    term.child.sendintr()
    term.expect("--KeyboardInterrupt--", timeout=STEP)
    term.expect(prompt("pauser"), timeout=STEP)
    # Stepping: the next stop's frame, then the local seen there.
    assert "-> x += 1" in answer(term, "pauser", "n")
    assert "-> return x" in answer(term, "pauser", "n")
    assert answer(term, "pauser", "p x") == "42"
    term.sendline("c")
    term.expect("pauser returned 42", timeout=STEP)
    # pause_from_sync() in a worker thread of the actor.
    term.expect(prompt("pauser"), timeout=STEP)
    assert "sync_pause()" in term.before
    assert answer(term, "pauser", "p z") == "7"
    term.sendline("c")
    term.expect("thread returned 8", timeout=STEP)
    # Without greenback the REPL runs in a worker thread: it answers, but a step
    # continues with a note saying why.
    term.expect(prompt("pauser"), timeout=STEP)
    assert "pause_without_greenback()" in term.before
    assert answer(term, "pauser", "p w") == "5"
    term.sendline("n")
    term.expect(r"stepping in this actor needs the `greenback` package", timeout=STEP)
    term.expect("without greenback returned 6", timeout=STEP)

    # End of file at a proxied prompt reaches the REPL: it quits, the actor is
    # cancelled (its task gets BdbQuit, which its caller gets boxed).
    term.expect(prompt("quitter"), timeout=SLOW)
    term.sendline("c")
    term.expect(prompt("quitter"), timeout=STEP)
    term.child.sendeof()
    term.expect(r"quitter ended: RemoteActorError bdb\.BdbQuit", timeout=STEP)
    term.expect("quitter exited with 0", timeout=STEP)

    # A post-mortem of an error raised there: its frame and locals; q leaves it
    # and the error goes on up to the caller.
    term.expect(r"Post-mortem of ValueError: boom in failer in actor 'failer'", timeout=SLOW)
    term.expect(prompt("failer"), timeout=STEP)
    assert "fail_with()" in term.before
    assert answer(term, "failer", "p bad") == "'boom'"
    term.sendline("q")
    term.expect("failer ended: RemoteActorError ValueError", timeout=STEP)

    # Two actors pause at once: one REPL, then the other, each its own.
    served = []
    for _ in range(2):
        term.expect(r"Paused in actor '(twin-[ab])'", timeout=SLOW)
        twin = term.match(1)
        term.expect(ANY_PROMPT, timeout=STEP)
        # The prompt is the paused actor's: the other one waits for the lock.
        assert term.match(1) == twin
        assert answer(term, twin, "p name") == repr(twin[-1])
        term.sendline("c")
        served.append(twin)
    assert sorted(served) == ["twin-a", "twin-b"]
    term.expect(re.escape("twins done: ['a', 'b']"), timeout=STEP)

    # An actor killed holding the terminal (while the root waits for its line):
    # the root takes the terminal back, and the line typed next goes to the next
    # REPL, not to the dead one.
    term.expect(r"Paused in actor 'victim' \(pid (\d+)\)", timeout=SLOW)
    victim = int(term.match(1))
    term.expect(prompt("victim"), timeout=STEP)
    os.kill(victim, signal.SIGKILL)
    term.expect(r"victim lost: (\w+)", timeout=SLOW)

    # A grandchild (a default-way child of a Ray-hosted actor) pauses through
    # the relay in its parent.
    term.expect(r"Paused in actor 'gkid'", timeout=SLOW)
    term.expect(prompt("gkid"), timeout=STEP)
    assert answer(term, "gkid", "p y") == "'deep'"
    term.sendline("c")
    term.expect("grandchild returned DEEP", timeout=STEP)

    # An infected-asyncio actor (trio a guest of asyncio) pauses by proxy too.
    term.expect(r"Paused in actor 'aio'", timeout=SLOW)
    term.expect(prompt("aio"), timeout=STEP)
    assert answer(term, "aio", "p fetched") == "'from asyncio'"
    term.sendline("c")
    term.expect("aio returned 'from asyncio'", timeout=STEP)

    status, tail = term.wait_exit(timeout=SLOW)
    assert "tree closed" in tail
    assert status == 0
