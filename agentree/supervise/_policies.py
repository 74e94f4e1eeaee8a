"""Supervisor and child policies, checked at the call site before anything starts."""

from __future__ import annotations

from typing import Literal

from ._types import Backoff

__all__ = ["AutoShutdown", "check_child_policies", "check_policies"]

AutoShutdown = Literal["never", "any_significant", "all_significant"]
_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")
_RESTARTS = ("permanent", "transient", "temporary")
_AUTO = ("never", "any_significant", "all_significant")


def check_policies(
    *,
    strategy: object,
    intensity: object,
    period: object,
    backoff: object,
    auto_shutdown: object,
) -> None:
    """Refuse a bad supervisor policy at the call site.

    Raises:
        ValueError / TypeError: naming the bad value.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, not {strategy!r}")
    if not isinstance(intensity, int) or isinstance(intensity, bool) or intensity < 0:
        raise ValueError(f"intensity must be an int >= 0, not {intensity!r}")
    if not isinstance(period, int | float) or isinstance(period, bool) or not period > 0:
        raise ValueError(f"period must be a number of seconds > 0, not {period!r}")
    if backoff is not None and not isinstance(backoff, Backoff):
        raise TypeError(f"backoff must be an agentree.Backoff, not {backoff!r}")
    if auto_shutdown not in _AUTO:
        raise ValueError(f"auto_shutdown must be one of {_AUTO}, not {auto_shutdown!r}")


def check_child_policies(restart: object, shutdown: object) -> None:
    if restart not in _RESTARTS:
        raise ValueError(f"restart must be one of {_RESTARTS}, not {restart!r}")
    if shutdown != "brutal_kill" and not (
        isinstance(shutdown, int | float) and not isinstance(shutdown, bool) and shutdown >= 0
    ):
        raise ValueError(f'shutdown must be seconds >= 0 or "brutal_kill", not {shutdown!r}')
