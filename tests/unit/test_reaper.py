"""The reaper's process lookups: children, descendants and actor tags from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentree._runtime import _reaper

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def test_children_descendants_and_tags() -> None:
    env = dict(os.environ, **{_reaper.TAG_ENV: "some-actor"})
    # A shell (tagged) that starts a sleep of its own: a child and a grandchild.
    shell = subprocess.Popen(
        ["sh", "-c", "sleep 1000 & echo $!; wait"], env=env, stdout=subprocess.PIPE
    )
    try:
        assert shell.stdout is not None
        grandchild = int(shell.stdout.readline())
        assert shell.pid in _reaper.children_of(os.getpid())
        assert grandchild not in _reaper.children_of(os.getpid())
        assert grandchild in _reaper.children_of(shell.pid)
        found = _reaper.descendants_of(os.getpid())
        assert found.index(shell.pid) < found.index(grandchild)
        assert _reaper.descendants_of(shell.pid) == [grandchild]
        # The tag is inherited through exec.
        assert _reaper.env_tag(shell.pid) == "some-actor"
        assert _reaper.env_tag(grandchild) == "some-actor"
        assert _reaper.has_children()
    finally:
        os.kill(grandchild, 9)
        shell.kill()
        shell.wait()
        shell.stdout.close()


def test_the_tag_of_a_process_in_the_middle_of_an_exec(tmp_path: Path) -> None:
    """A process shows an empty environment while it execs: its tag is not lost.

    The cause of a rare failure of the test above (the grandchild was read while
    ``sh`` exec'd ``sleep``). A leftover caught mid-exec would have been missed by
    :func:`_reaper.kill_orphans`. Here a tagged shell execs itself 300 times, read
    all along; before the fix several hundred reads came back untagged.
    """
    script = tmp_path / "reexec.sh"
    script.write_text('n=$1; if [ "$n" -gt 0 ]; then exec sh "$0" $((n-1)); fi; exec sleep 1000\n')
    env = dict(os.environ, **{_reaper.TAG_ENV: "some-actor"})
    proc = subprocess.Popen(["sh", str(script), "300"], env=env)
    untagged = reads = 0
    try:
        give_up = time.monotonic() + 60
        while Path(f"/proc/{proc.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < give_up, "the shell never got to its last exec"
            reads += 1
            if _reaper.env_tag(proc.pid) != "some-actor":
                untagged += 1
    finally:
        proc.kill()
        proc.wait()
    assert reads > 0
    assert untagged == 0


def test_untagged_and_vanished_processes() -> None:
    env = {k: v for k, v in os.environ.items() if k != _reaper.TAG_ENV}
    proc = subprocess.Popen(["sleep", "1000"], env=env)
    try:
        assert _reaper.env_tag(proc.pid) is None
    finally:
        proc.kill()
        proc.wait()
    assert _reaper.env_tag(proc.pid) is None
    assert proc.pid not in _reaper.children_of(os.getpid())
