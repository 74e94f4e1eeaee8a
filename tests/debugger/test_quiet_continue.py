"""An ordinary ``c`` with a loglevel set is quiet (issue 16 leftover).

A lock holder whose ``pause()`` was cancelled just as the root granted it the
terminal (the tree was being torn down) used to cancel its lock dialog without
letting go: the root, shielding the REPL it thought was open, waited for that
actor's channel to close. The actor then waited ``cancel_timeout`` for the
dialog ("did not end after cancellation") before it could exit, and the root
reported that it "died holding the terminal lock". A ``pause()`` in an actor
already stopping raised ``RuntimeError("Nursery is closed to new arrivals")``,
and a post-mortem that could not get the terminal was logged as a failed error
hook.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pexpect

from ._term import ANY_PROMPT, Session

Start = Callable[..., Session]

SCRIPT = Path(__file__).parent / "scripts" / "quiet_continue.py"

NOISE = (
    "did not end after cancellation",
    "died holding the terminal lock",
    "error hook failed",
    "Nursery is closed",
    "RuntimeError",
)


def test_an_ordinary_continue_is_quiet_with_a_loglevel(session: Start) -> None:
    term = session(str(SCRIPT))
    prompts: list[str] = []
    while term.expect([ANY_PROMPT, pexpect.EOF], timeout=30) == 0:
        actor = term.match(1)
        prompts.append(actor)
        assert len(prompts) < 10, prompts
        if actor == "failer":
            # A person reads the post-mortem for a while (longer than the
            # tree's cancel_timeout) before typing c.
            time.sleep(1.5)
        term.sendline("c")
    transcript = "".join(term.transcript)
    assert "failer" in prompts
    for noise in NOISE:
        assert noise not in transcript, f"{noise!r} in:\n{transcript}"
    stopped = re.search(r"tree stopped after ([\d.]+)s: \[(.*)\]", transcript)
    assert stopped is not None, transcript
    # Only failer's error: looper's pause was cancelled with the tree.
    assert "failer" in stopped.group(2)
    assert "looper" not in stopped.group(2)
