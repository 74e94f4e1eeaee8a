"""A pause() waiting for the terminal is cancelled when its tree fails (issue 16)."""

from __future__ import annotations

from collections.abc import Callable

from ._term import Session, prompt

Start = Callable[..., Session]


def test_waiting_pause_is_cancelled_when_the_tree_fails(session: Start) -> None:
    term = session("failing_sibling.py")
    # The root's line and alpha's REPL come in either order (alpha has the lock
    # before its REPL prints anything).
    seen: set[int] = set()
    while len(seen) < 2:
        seen.add(
            term.expect([r"beta waits for the terminal; the root fails now", prompt("alpha")])
        )
    assert "Paused in actor 'alpha'" in "".join(term.transcript)
    # alpha's REPL is open and stays so while the tree is being stopped.
    term.sendline("p secret")
    term.expect(prompt("alpha"))
    assert "secret of alpha" in term.before
    term.sendline("c")
    # The root's own error gets its post-mortem (debug mode) once alpha let go:
    # beta, which was in line first, is gone from the line.
    term.expect(r"Post-mortem of RuntimeError: the root gave up in actor 'root'")
    term.expect(prompt("root"))
    assert "Paused in actor 'beta'" not in "".join(term.transcript)
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "tree stopped: the root gave up" in tail
    # beta never got a REPL: its wait for the terminal ended with its actor.
    assert "Paused in actor 'beta'" not in tail
    assert status == 0
