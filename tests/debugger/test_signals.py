"""Ctrl-C while debugging, and an actor that dies holding the terminal."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest

from ._term import Session, prompt

Start = Callable[..., Session]


def test_ctrl_c_goes_to_the_repl_then_tears_the_tree_down(session: Start) -> None:
    term = session("ctrl_c.py")
    term.expect(r"Paused in actor 'sleeper' \(pid (\d+)\)")
    sleeper = int(term.match(1))
    term.expect(prompt("sleeper"))
    term.interrupt(sleeper)
    term.expect("--KeyboardInterrupt--")
    term.expect(prompt("sleeper"))
    # The REPL (and the whole tree) is still there and answers.
    term.sendline("p 6 * 7")
    term.expect(prompt("sleeper"))
    assert term.before.strip() == "42"
    term.sendline("c")
    term.expect("child done")
    term.expect("no REPL open now: press Ctrl-C to stop the tree")
    term.child.sendintr()  # no readline here: trio takes it as soon as it comes
    status, tail = term.wait_exit()
    assert "tree torn down by Ctrl-C" in tail
    assert status == 0


def test_ctrl_c_in_the_root_repl(session: Start) -> None:
    term = session("root_pause.py")
    term.expect(prompt("root"))
    term.interrupt(term.pid)
    term.expect("--KeyboardInterrupt--")
    term.expect(prompt("root"))
    term.sendline("p answer")
    term.expect(prompt("root"))
    assert term.before.strip() == "42"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root continued with answer=42" in tail
    assert status == 0


@pytest.mark.parametrize(
    "args", [("forkserver",), ("subprocess",), ("forkserver", "nested")], ids="-".join
)
def test_subactor_killed_holding_the_lock_releases_it(
    session: Start, args: tuple[str, ...]
) -> None:
    term = session("killed_holder.py", *args)
    term.expect(r"victim pid (\d+) pausing")
    victim = int(term.match(1))
    term.expect(prompt("victim"))
    term.sendline("p 'holding'")
    term.expect(prompt("victim"))
    assert term.before.strip() == "'holding'"
    os.kill(victim, signal.SIGKILL)
    if "nested" in args:
        # The lock came back through the relay, and 'middle' got the terminal for
        # the post-mortem of its own error: the victim went away during its call.
        term.expect(r"Post-mortem of ActorDied: .* in actor 'middle'")
        term.expect(r"-> await victim.run\(pause_here\)")
        term.expect(prompt("middle"))
        term.sendline("c")
        term.expect("victim is gone: RemoteActorError")
    else:
        term.expect("victim is gone: ActorDied")
    # The root's own pause gets the terminal: the dead holder released the lock.
    term.expect(prompt("root"))
    term.sendline("p survivor")
    term.expect(prompt("root"))
    assert term.before.strip() == "'root'"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root had the terminal after the victim died" in tail
    assert status == 0


def test_teardown_waits_for_a_nested_repl(session: Start) -> None:
    term = session("teardown_waits.py")
    term.expect(r"root pid (\d+)")
    root = int(term.match(1))
    term.expect(prompt("grandchild"))
    os.kill(root, signal.SIGUSR1)
    term.expect("root: stopping the tree")
    # The stop reached the point where it would SIGTERM the child: it waits instead.
    term.expect(r"actor 'child' is in a debugger REPL; waiting for it")
    term.sendline("p 6 * 7")
    term.expect(prompt("grandchild"))
    assert term.before.strip() == "42"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root: tree stopped" in tail
    assert status == 0
