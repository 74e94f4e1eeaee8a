"""The supervision example runs as a user would run it, and says what it should."""

from __future__ import annotations

from tests.test_examples import run_example


def test_supervised_example() -> None:
    out = run_example("agents/supervised.py")
    lines = out.splitlines()
    assert lines[-1] == "supervisor closed", out
    summary = lines[-2]
    assert summary.startswith("calls: "), out
    answered = int(summary.split()[1])
    failed = int(summary.split()[3])
    assert answered + failed == 60, out
    assert answered > failed, out
    assert any(line.startswith("[event] crashed    app/flaky #1:") for line in lines), out
    assert any(line.startswith("[event] restarting app/flaky #2 in ") for line in lines), out
    assert any(line.startswith("[event] started    app/flaky #2 ") for line in lines), out
    assert "steady is incarnation 1" in summary, out
    assert not any("steady #2" in line for line in lines), out
