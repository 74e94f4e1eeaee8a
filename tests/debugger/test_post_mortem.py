"""Post-mortem REPLs on uncaught errors."""

from __future__ import annotations

from collections.abc import Callable

from ._term import Session, prompt

Start = Callable[..., Session]


def test_subactor_error_post_mortem_then_reaches_root(session: Start) -> None:
    term = session("subactor_error.py")
    term.expect(r"Post-mortem of ZeroDivisionError: division by zero in actor 'divider'")
    term.expect(r"subactor_error\.py\(\d+\)divide\(\)")
    term.expect(r"-> ratio = numerator / denominator")
    term.expect(prompt("divider"))
    term.sendline("p numerator, denominator")
    term.expect(prompt("divider"))
    assert term.before.strip() == "(7, 0)"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root got ZeroDivisionError from actor 'divider'" in tail
    assert status == 0
