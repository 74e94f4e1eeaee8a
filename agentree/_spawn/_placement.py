"""Where Ray hosts a child actor: :class:`RayPlacement` (no Ray import needed)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._exceptions import InvalidOption
from .._runtime._actor import START_METHODS

__all__ = ["RayPlacement", "check_placement"]


@dataclass(frozen=True)
class RayPlacement:
    """Where and with what Ray hosts a child actor (``start_method="ray"``).

    Every field is passed to Ray's ``.options()`` of the host actor; ``None``
    leaves Ray's default (an actor takes no CPU while running).

    Attributes:
        num_cpus: CPUs reserved on the node.
        num_gpus: GPUs reserved (the child sees them in ``CUDA_VISIBLE_DEVICES``).
        memory: bytes of memory reserved.
        resources: custom resources, e.g. ``{"gpu_box": 1}``.
        node_id: the hex id of the node to run on (``NodeAffinitySchedulingStrategy``).
        soft: with ``node_id``, fall back to another node if that one cannot.
        placement_group: a Ray placement group to run in.
        bundle_index: the bundle of ``placement_group`` (-1: any).
        runtime_env: Ray's ``runtime_env`` for the host (and so the child).
    """

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None
    resources: dict[str, float] | None = None
    node_id: str | None = None
    soft: bool = False
    placement_group: Any = field(default=None, compare=False)
    bundle_index: int = -1
    runtime_env: dict[str, Any] | None = None

    def ray_options(self, ray: Any) -> dict[str, Any]:
        """The keyword arguments of Ray's ``.options()`` for the host actor."""
        options: dict[str, Any] = {}
        for name in ("num_cpus", "num_gpus", "memory", "resources", "runtime_env"):
            value = getattr(self, name)
            if value is not None:
                options[name] = value
        strategies = ray.util.scheduling_strategies
        if self.node_id is not None and self.placement_group is not None:
            raise ValueError("RayPlacement takes node_id or placement_group, not both")
        if self.node_id is not None:
            options["scheduling_strategy"] = strategies.NodeAffinitySchedulingStrategy(
                node_id=self.node_id, soft=self.soft
            )
        elif self.placement_group is not None:
            options["scheduling_strategy"] = strategies.PlacementGroupSchedulingStrategy(
                placement_group=self.placement_group,
                placement_group_bundle_index=self.bundle_index,
            )
        return options

    def check(self, call: str) -> None:
        """Raise a clear error for a value Ray could never satisfy or accept."""
        for name in ("num_cpus", "num_gpus", "memory"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or value < 0
            ):
                raise ValueError(f"{call}: RayPlacement.{name}={value!r} must be a number >= 0")
        if self.resources is not None and not isinstance(self.resources, dict):
            raise ValueError(f"{call}: RayPlacement.resources must be a dict of name -> amount")


def check_placement(
    call: str, start_method: Any, placement: Any, *, effective: str | None = None
) -> None:
    """Check a spawn's ``start_method`` and ``placement`` before anything starts.

    Args:
        call: how to name the call in the error.
        start_method: the start method given to the call (``None``: inherited).
        placement: the placement given to the call.
        effective: the start method the spawn will use, when known: a placement
            needs ``"ray"``.

    Raises:
        InvalidOption: an unknown start method, or a placement that is not a
            :class:`RayPlacement` (or one Ray could never accept).
    """
    if start_method is not None and start_method not in START_METHODS:
        raise InvalidOption(
            f"{call}: start_method={start_method!r} is invalid: expected one of {START_METHODS}"
        )
    if placement is None:
        return
    if effective is not None and effective != "ray":
        raise InvalidOption(
            f"{call}: placement= is for start_method='ray', but this actor would be "
            f"started with {effective!r}"
        )
    if not isinstance(placement, RayPlacement):
        raise InvalidOption(
            f"{call}: placement={placement!r} is invalid: expected an agentree.RayPlacement"
        )
    try:
        placement.check(call)
    except ValueError as exc:
        raise InvalidOption(str(exc)) from None
