"""The reaper's process lookups: children, descendants and actor tags from /proc."""

from __future__ import annotations

import os
import subprocess
import sys

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
