"""How a child actor's process ended: the one record every layer reports exits with.

Layer 0, like ``_exceptions``: imports nothing from agentree, so the runtime, the
spawners, the nursery and the agent layer all share this type.
"""

from __future__ import annotations

import signal
from typing import Literal

import msgspec

__all__ = ["ChildExit", "ExitReason"]

ExitReason = Literal["stopped", "exited", "signaled", "lost"]


class ChildExit(msgspec.Struct, frozen=True):
    """How and why one child actor ended.

    Attributes:
        name: the child's actor name.
        uid: the child's ``(name, uuid)``.
        pid: the child's process id.
        returncode: as ``subprocess``: the exit code, or ``-N`` when signal ``N``
            ended it.
        reason: ``"stopped"`` when its parent stopped it (cancel, SIGTERM or
            SIGKILL sent by the runtime), ``"exited"`` when it exited on its own,
            ``"signaled"`` when a signal the runtime did not send ended it,
            ``"lost"`` when its channel broke while the process went on (it was
            then killed).
    """

    name: str
    uid: tuple[str, str]
    pid: int
    returncode: int
    reason: ExitReason

    @property
    def signal_name(self) -> str | None:
        """The name of the signal that ended the process (``"SIGKILL"``), if one did."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def describe(self) -> str:
        """One line for error messages: who ended, and how."""
        who = f"actor {self.name!r} (pid {self.pid})"
        how = (
            f"was killed by {self.signal_name}"
            if self.signal_name
            else f"exited with code {self.returncode}"
        )
        why = {"stopped": " after a stop request", "lost": " after its channel broke"}
        return f"{who} {how}{why.get(self.reason, '')}"
