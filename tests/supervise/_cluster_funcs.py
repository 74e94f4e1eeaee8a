"""Functions served by the actors of the cluster test."""

from __future__ import annotations

import os


def whoami() -> int:
    return os.getpid()
