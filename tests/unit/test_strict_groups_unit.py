"""The shape agentree's nurseries give their errors, and ``trionics.collapse_eg``."""

from __future__ import annotations

import pytest
import trio

import agentree
from agentree._groups import strict
from agentree.trionics import collapse_eg


def _cancelled() -> trio.Cancelled:
    return trio.Cancelled._create()  # type: ignore[attr-defined]


def test_one_error_is_grouped() -> None:
    err = KeyError("k")
    shaped = strict(err, "m")
    assert type(shaped) is ExceptionGroup
    assert shaped.exceptions == (err,)


def test_nested_groups_are_flattened_and_cancelled_dropped() -> None:
    a, b = KeyError("a"), ValueError("b")
    raised = BaseExceptionGroup(
        "outer", [_cancelled(), ExceptionGroup("inner", [a]), BaseExceptionGroup("x", [b])]
    )
    shaped = strict(raised, "m")
    assert type(shaped) is ExceptionGroup
    assert shaped.exceptions == (a, b)


def test_the_same_error_twice_is_one() -> None:
    err = KeyError("k")
    shaped = strict(ExceptionGroup("g", [err, ExceptionGroup("h", [err])]), "m")
    assert isinstance(shaped, BaseExceptionGroup)
    assert shaped.exceptions == (err,)


def test_a_flat_group_is_kept_as_it_is() -> None:
    group = ExceptionGroup("g", [KeyError(1), KeyError(2)])
    assert strict(group, "m") is group


def test_only_cancellation_is_left_alone() -> None:
    cancelled = _cancelled()
    assert strict(cancelled, "m") is cancelled
    group = BaseExceptionGroup("g", [_cancelled(), _cancelled()])
    assert strict(group, "m") is group


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), SystemExit(143)])
def test_a_lone_stop_stays_bare(stop: BaseException) -> None:
    assert strict(BaseExceptionGroup("g", [_cancelled(), stop]), "m") is stop


def test_a_stop_with_errors_is_a_base_group() -> None:
    stop, err = KeyboardInterrupt(), KeyError("k")
    shaped = strict(BaseExceptionGroup("g", [stop, err]), "m")
    assert type(shaped) is BaseExceptionGroup
    assert shaped.exceptions == (stop, err)


def test_supervisor_gave_up_stays_whole() -> None:
    gave_up = agentree.SupervisorGaveUp("gave up", [KeyError(1)])
    assert strict(ExceptionGroup("g", [gave_up]), "m") is gave_up


def test_collapse_eg_sync_and_async() -> None:
    err = KeyError("k")
    with pytest.raises(KeyError) as info, collapse_eg():
        raise ExceptionGroup("g", [ExceptionGroup("h", [err])])
    assert info.value is err
    with pytest.raises(ExceptionGroup), collapse_eg():
        raise ExceptionGroup("g", [KeyError(1), KeyError(2)])
    with pytest.raises(ValueError, match="bare"), collapse_eg():
        raise ValueError("bare")

    async def main() -> None:
        async with collapse_eg(), trio.open_nursery() as tn:
            tn.start_soon(trio.sleep_forever)
            raise KeyError("from the body")

    with pytest.raises(KeyError, match="from the body"):
        trio.run(main)


def test_collapse_eg_leaves_cancellation_to_its_scope() -> None:
    async def main() -> bool:
        with trio.CancelScope() as scope, collapse_eg():
            async with trio.open_nursery() as tn:
                tn.start_soon(trio.sleep_forever)
                scope.cancel()
                await trio.sleep_forever()
        return scope.cancelled_caught

    assert trio.run(main) is True
