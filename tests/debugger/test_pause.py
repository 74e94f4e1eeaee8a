"""pause() in the root, in a sub-actor, two levels down, and two at once."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ._term import ANY_PROMPT, Session, prompt

Start = Callable[..., Session]


def test_root_pause_then_continue(session: Start) -> None:
    term = session("root_pause.py")
    term.expect(r"Paused in actor 'root' \(pid \d+\)")
    term.expect(r"-> await agentree.pause\(\)")
    term.expect(prompt("root"))
    term.sendline("p answer")
    term.expect(prompt("root"))
    assert term.before.strip() == "42"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root continued with answer=42" in tail
    assert status == 0


@pytest.mark.parametrize("start_method", ["forkserver", "subprocess"])
def test_subactor_pause(session: Start, start_method: str) -> None:
    term = session("subactor_pause.py", start_method)
    term.expect(r"Paused in actor 'doubler' \(pid (\d+)\)")
    assert int(term.match(1)) != term.pid
    term.expect(r"-> await agentree.pause\(\)")
    term.expect(prompt("doubler"))
    term.sendline("p doubled, x")
    term.expect(prompt("doubler"))
    assert term.before.strip() == "(42, 21)"
    # Step to the next line: the REPL keeps the terminal.
    term.sendline("n")
    term.expect(r"-> return doubled")
    term.expect(prompt("doubler"))
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "doubler returned 42" in tail
    assert status == 0


def test_subactor_pause_plain_pdb(session: Start) -> None:
    """Without pdbp (forced off here) the standard library's pdb does the same."""
    term = session("subactor_pause.py", debugger="pdb")
    term.expect(r"\(Pdb\) \[doubler\] ")
    term.sendline("p doubled")
    term.expect(r"\(Pdb\) \[doubler\] ")
    assert term.before.strip() == "42"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "doubler returned 42" in tail
    assert status == 0


def test_nested_subactor_pause(session: Start) -> None:
    term = session("nested_pause.py")
    term.expect(r"Paused in actor 'grandchild'")
    term.expect(prompt("grandchild"))
    term.sendline("p depth, me")
    term.expect(prompt("grandchild"))
    assert term.before.strip() == "(2, 'grandchild')"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root got: grandchild at depth 2" in tail
    assert status == 0


def test_two_subactors_take_turns(session: Start) -> None:
    term = session("two_pausing.py")
    term.expect(ANY_PROMPT)
    first = term.match(1)
    assert first in ("alpha", "beta")
    second = "beta" if first == "alpha" else "alpha"
    term.sendline("p secret")
    term.expect(prompt(first))
    # Only the holder of the terminal prints: nothing from the other one yet.
    assert term.before.strip() == f"'secret of {first}'"
    term.sendline("c")
    term.expect(rf"Paused in actor '{second}'")
    term.expect(prompt(second))
    term.sendline("p secret")
    term.expect(prompt(second))
    assert term.before.strip() == f"'secret of {second}'"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "results: 'secret of alpha', 'secret of beta'" in tail
    assert status == 0


def test_pause_from_sync_in_thread_and_builtin_breakpoint(session: Start) -> None:
    term = session("sync_pause.py")
    # pause_from_sync() in a trio.to_thread worker of a sub-actor.
    term.expect(r"Paused in actor 'cruncher'")
    term.expect(r"-> agentree.pause_from_sync\(\)")
    term.expect(prompt("cruncher"))
    term.sendline("p total, thread != 'MainThread'")
    term.expect(prompt("cruncher"))
    assert term.before.strip() == "(45, True)"
    term.sendline("c")
    # The builtin breakpoint() in the sub-actor's own trio thread; step once.
    term.expect(r"Paused in actor 'cruncher'")
    term.expect(r"-> breakpoint\(\)")
    term.expect(prompt("cruncher"))
    term.sendline("n")
    term.expect(r"-> return verdict")
    term.expect(prompt("cruncher"))
    term.sendline("p verdict")
    term.expect(prompt("cruncher"))
    assert term.before.strip() == "True"
    term.sendline("c")
    # And in the root's trio thread.
    term.expect(r"Paused in actor 'root'")
    term.expect(r"-> breakpoint\(\)")
    term.expect(prompt("root"))
    term.sendline("p total")
    term.expect(prompt("root"))
    assert term.before.strip() == "45"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "cruncher returned 45, True; root check -> True" in tail
    assert status == 0


def test_quit_in_subactor_cancels_it_and_the_tree_exits(session: Start) -> None:
    term = session("quit_subactor.py")
    term.expect(prompt("looper"))
    term.sendline("p count")
    term.expect(prompt("looper"))
    assert term.before.strip() == "1"
    term.sendline("c")
    term.expect(prompt("looper"))
    term.sendline("p count")
    term.expect(prompt("looper"))
    assert term.before.strip() == "2"
    term.sendline("q")
    status, tail = term.wait_exit()
    assert "root got bdb.BdbQuit from 'looper'; tree is down" in tail
    assert status == 0


def test_debug_mode_override_per_actor(session: Start) -> None:
    term = session("debug_override.py")
    term.expect(r"Paused in actor 'inspected'")
    term.expect(prompt("inspected"))
    term.sendline("p me")
    term.expect(prompt("inspected"))
    assert term.before.strip() == "'inspected'"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "inspected resumed" in tail
    refused = "plain refused: agentree.AgentreeError: pause() in actor 'plain' needs the debugger"
    assert refused in tail
    assert status == 0


def test_infected_asyncio_actor_pause(session: Start) -> None:
    """An actor whose main loop is asyncio pauses like any other."""
    term = session("infected_pause.py")
    term.expect(r"Paused in actor 'aio' \(pid (\d+)\)")
    assert int(term.match(1)) != term.pid
    term.expect(r"-> await agentree.pause\(\)")
    term.expect(prompt("aio"))
    term.sendline("p fetched")
    term.expect(prompt("aio"))
    assert term.before.strip() == "'from asyncio'"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "aio returned 'from asyncio'" in tail
    assert status == 0
