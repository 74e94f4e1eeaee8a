"""Start ``scripts/tcp_join.py`` (a program that joins a tree) and read what it says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

import trio

SCRIPT = os.path.join(os.path.dirname(__file__), "scripts", "tcp_join.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Program:
    """A program started separately, fed its config on stdin, read line by line."""

    def __init__(self, proc: trio.Process) -> None:
        self.proc = proc
        self._buf = b""

    async def line(self) -> str:
        """The next line it prints ('' at its end of output)."""
        assert self.proc.stdout is not None
        while b"\n" not in self._buf:
            chunk = await self.proc.stdout.receive_some()
            if not chunk:
                rest, self._buf = self._buf, b""
                return rest.decode()
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode()

    async def expect(self, word: str) -> list[str]:
        """Read lines until one starts with ``word``; its words."""
        while True:
            line = await self.line()
            if not line:
                raise AssertionError(f"the program ended before saying {word!r}")
            if line.split()[0] == word:
                return line.split()

    async def expect_one_of(self, *words: str) -> list[str]:
        """Read lines until one starts with one of ``words``; its words."""
        while True:
            line = await self.line()
            if not line:
                raise AssertionError(f"the program ended before saying one of {words}")
            if line.split()[0] in words:
                return line.split()

    async def stop(self) -> int:
        """Wait for it to end (kill it if it does not within 10 s); its exit code."""
        with trio.move_on_after(10):
            await self.proc.wait()
        if self.proc.returncode is None:
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                await pipe.aclose()
        assert self.proc.returncode is not None
        return self.proc.returncode


async def start_program(
    config: Any, *, prefix: Sequence[str] = (), script: str = SCRIPT
) -> Program:
    """Start ``script`` (under ``prefix``, e.g. ``ip netns exec NS``) with ``config``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    proc = await trio.lowlevel.open_process(
        [*prefix, sys.executable, script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdin is not None
    await proc.stdin.send_all((json.dumps(config) + "\n").encode())
    return Program(proc)
