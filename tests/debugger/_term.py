"""Drive an example under a real pseudo-terminal, as a person at the keyboard would.

Each run gets a unique environment marker that its whole process tree inherits, so
that a process of the run still alive after the script exited is found (and
killed) even if it was re-parented away from the test.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import uuid
from pathlib import Path

import pexpect
import psutil

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "debugging"
MARKER = "AGENTREE_DEBUGGER_RUN"
TIMEOUT = 10.0
REAP_GRACE = 2.0


def prompt(actor: str) -> str:
    """The regex of a REPL prompt naming ``actor`` (pdbp's ``Pdb+`` or pdb's ``Pdb``)."""
    return rf"\(Pdb\+?\) \[{re.escape(actor)}\] "


ANY_PROMPT = r"\(Pdb\+?\) \[([\w-]+)\] "


class Session:
    """One example running in a pty; ``expect``/``send`` like pexpect, plus checks."""

    def __init__(self, script: str, *args: str, debugger: str | None = None) -> None:
        self.token = uuid.uuid4().hex
        env = {**os.environ, MARKER: self.token, "TERM": "dumb", "NO_COLOR": "1"}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        )
        if debugger is not None:
            env["AGENTREE_DEBUGGER"] = debugger
        self.child = pexpect.spawn(
            sys.executable,
            [str(EXAMPLES / script), *args],
            cwd=str(REPO),
            env=env,
            encoding="utf-8",
            timeout=TIMEOUT,
            echo=False,
            dimensions=(40, 200),
            # Ctrl-C must reach the script even if this test run ignores SIGINT (as a
            # background job of a non-interactive shell does).
            preexec_fn=_default_sigint,
        )
        self.transcript: list[str] = []

    def expect(self, pattern: str | list[str], timeout: float = TIMEOUT) -> int:
        """Wait for ``pattern``; fail with everything seen so far if it does not come."""
        try:
            index: int = self.child.expect(pattern, timeout=timeout)
        except (pexpect.TIMEOUT, pexpect.EOF) as exc:
            seen = "".join(self.transcript) + str(self.child.before)
            raise AssertionError(
                f"did not see {pattern!r} ({type(exc).__name__}); output so far:\n{seen}"
            ) from None
        self.transcript.append(str(self.child.before) + str(self.child.after))
        return index

    @property
    def before(self) -> str:
        """What came before the last match."""
        return str(self.child.before)

    def match(self, group: int = 0) -> str:
        return str(self.child.match.group(group))

    def sendline(self, line: str) -> None:
        self.child.sendline(line)

    def send(self, text: str) -> None:
        self.child.send(text)

    @property
    def pid(self) -> int:
        return int(self.child.pid)

    def interrupt(self, pid: int) -> None:
        """Press Ctrl-C once process ``pid`` waits for input at its prompt.

        CPython's readline only notices a signal that arrives while it waits in
        ``select()``; one that comes between the prompt being drawn and that wait
        stays pending until the next key. A person never types that fast; a test
        does, so it waits (bounded) until ``pid`` is blocked in the wait.
        """
        wait_reading(pid)
        self.child.sendintr()

    def wait_exit(self, timeout: float = TIMEOUT) -> tuple[int | None, str]:
        """Wait for the script to exit; return its exit status and its last output."""
        self.expect(pexpect.EOF, timeout=timeout)
        tail = self.before
        self.child.close()
        return self.child.exitstatus, tail

    def close(self) -> list[str]:
        """Kill whatever is left and return a description of the leftovers."""
        if self.child.isalive():
            self.child.close(force=True)
        return survivors(self.token)


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_reading(pid: int, timeout: float = TIMEOUT) -> None:
    """Wait until ``pid``'s main thread blocks in ``select``/``poll`` (readline's wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/wchan") as f:
                wchan = f.read()
        except OSError:
            return
        if "poll_schedule_timeout" in wchan or "select" in wchan:
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never waited for input (wchan {wchan!r})")


def marked(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER) == token and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def survivors(token: str) -> list[str]:
    """Describe (and kill) processes of a run still alive after a grace period."""
    deadline = time.monotonic() + REAP_GRACE
    while (left := marked(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = []
    for proc in left:
        try:
            described.append(f"pid {proc.pid}: {' '.join(proc.cmdline())}")
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    return described
