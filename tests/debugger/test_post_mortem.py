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


def test_nested_error_post_mortem_only_where_raised(session: Start) -> None:
    term = session("nested_error.py")
    term.expect(r"Post-mortem of ValueError: .* in actor 'grandchild'")
    term.expect(r"-> return int\(digits\)")
    term.expect(prompt("grandchild"))
    term.sendline("p digits")
    term.expect(prompt("grandchild"))
    assert term.before.strip() == "'4x2'"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "Post-mortem" not in tail  # no second REPL in 'child' or the root
    assert "root got ValueError via grandchild -> child" in tail
    assert status == 0


def test_root_error_post_mortem(session: Start) -> None:
    term = session("root_error.py")
    term.expect(r"Post-mortem of KeyError: 'pears' in actor 'root'")
    term.expect(r"-> print\(f\"pears: ")
    term.expect(prompt("root"))
    term.sendline("p stock")
    term.expect(prompt("root"))
    assert term.before.strip() == "{'apples': 3}"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "root raised KeyError('pears') after its post-mortem" in tail
    assert status == 0


def test_post_mortem_on_a_handled_error(session: Start) -> None:
    term = session("handled_error.py")
    term.expect(r"Post-mortem of KeyError: 'b' in actor 'lookup'")
    term.expect(r"-> return table\[key\]")
    term.expect(prompt("lookup"))
    term.sendline("p key, table")
    term.expect(prompt("lookup"))
    assert term.before.strip() == "('b', {'a': 'alpha'})"
    term.sendline("c")
    status, tail = term.wait_exit()
    assert "lookup returned 'default'" in tail
    assert status == 0
