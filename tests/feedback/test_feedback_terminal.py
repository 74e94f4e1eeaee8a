"""terminal_feedback() driven through a pty, as a person would answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.debugger._term import Session, prompt

PROG = str(Path(__file__).with_name("_terminal_prog.py"))
ASK = r"\[feedback\] answer \((.+?)\) > "


@pytest.fixture
def term() -> Iterator[Callable[[str], Session]]:
    started: list[Session] = []

    def start(mode: str) -> Session:
        sess = Session(PROG, mode)
        started.append(sess)
        return sess

    yield start
    leftovers = [line for sess in started for line in sess.close()]
    assert not leftovers, "processes left behind:\n" + "\n".join(leftovers)


def test_typed_answers_are_parsed_and_reasked(term: Callable[[str], Session]) -> None:
    t = term("typed")
    t.expect(r"\[feedback\] grandchild asks: int")
    t.expect(ASK)
    assert t.match(1) == "int"
    t.sendline("many")
    t.expect(r"could not read that")
    t.expect(ASK)
    t.sendline("12")
    t.expect(r"answered int: 12")
    t.expect(r"grandchild asks: str")
    t.expect(ASK)
    t.sendline("hello there")
    t.expect(r"answered str: 'hello there'")
    t.expect(r"grandchild asks: approval")
    t.expect(ASK)
    assert t.match(1) == "Approval as JSON"
    t.sendline('{"ok": "maybe"}')
    t.expect(r"refused the answer")
    t.expect(ASK)
    t.sendline('{"ok": true, "note": "go"}')
    t.expect(r"answered approval: \{'ok': True, 'note': 'go'\}")
    t.expect(r"root asks: proceed\?")
    t.expect(ASK)
    assert t.match(1) == "y/n"
    t.sendline("perhaps")
    t.expect(r"answer y or n")
    t.expect(ASK)
    t.sendline("y")
    t.expect(r"answered bool: True")
    status, _ = t.wait_exit()
    assert status == 0


def test_a_withdrawn_prompt_is_replaced_by_a_notice(term: Callable[[str], Session]) -> None:
    t = term("withdraw")
    t.expect(r"grandchild asks: late\?")
    t.expect(ASK)
    t.expect(r"\[feedback\] grandchild withdrew the question", timeout=20)
    t.expect(r"asker: withdrawn")
    status, _ = t.wait_exit()
    assert status == 0


def test_a_prompt_waits_for_a_pdb_repl_to_end(term: Callable[[str], Session]) -> None:
    t = term("repl")
    t.expect(prompt("pauser"))
    # The asker's question waits for the terminal: no prompt while the REPL has it.
    with pytest.raises(AssertionError, match="TIMEOUT"):
        t.expect(r"\[feedback\]", timeout=2)
    t.sendline("c")
    t.expect(r"\[feedback\] asker asks: in turn\?")
    t.expect(ASK)
    t.sendline("5")
    t.expect(r"answered: 5")
    status, _ = t.wait_exit()
    assert status == 0
