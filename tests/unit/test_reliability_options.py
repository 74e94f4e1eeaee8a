"""Issue 13 bug 6: option checks and log level names, without spawning anything."""

from __future__ import annotations

import logging

import pytest

import agentree
from agentree import log
from agentree._options import MIN_FRAME_SIZE, check_child_options, check_root_options


@pytest.mark.parametrize(
    ("name", "level"),
    [
        ("debug", logging.DEBUG),
        ("INFO", logging.INFO),
        ("Warning", logging.WARNING),
        ("error", logging.ERROR),
        ("critical", logging.CRITICAL),
        ("transport", logging.DEBUG),
        ("runtime", logging.DEBUG),
        ("devx", logging.DEBUG),
        ("cancel", logging.INFO),
        ("CANCEL", logging.INFO),
        ("pdb", logging.WARNING),
    ],
)
def test_level_names(name: str, level: int) -> None:
    assert log.level_number(name) == level


@pytest.mark.parametrize("bad", ["verbose", "", "10", 10, None])
def test_unknown_level_names(bad: object) -> None:
    assert log.level_number(bad) is None


def test_configure_maps_tractor_names_and_refuses_unknown_ones() -> None:
    root = logging.getLogger("agentree")
    old_level = root.level
    try:
        log.configure("cancel", "me")
        assert root.level == logging.INFO
        with pytest.raises(agentree.InvalidOption, match=r"'me'.*loglevel='loud'"):
            log.configure("loud", "me")
    finally:
        log.configure(None, "me")
        root.setLevel(old_level)


def test_child_options_accept_good_values() -> None:
    check_child_options(
        "start_actor('w')",
        name="w",
        enable_modules=["pkg.mod", "__main__"],
        infect_asyncio=True,
        debug_mode=None,
        loglevel="runtime",
    )
    check_child_options("run_in_actor(m:f)", name=None, name_optional=True)


def test_root_options_accept_good_values() -> None:
    check_root_options(
        "open_root_actor()",
        {
            "name": "root",
            "start_method": "subprocess",
            "debug_mode": False,
            "loglevel": "DEBUG",
            "enable_modules": ("a.b",),
            "max_frame_size": MIN_FRAME_SIZE,
            "cancel_timeout": 0,
            "terminate_timeout": 2.5,
            "infect_asyncio": False,
        },
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("max_frame_size", MIN_FRAME_SIZE - 1),
        ("max_frame_size", True),
        ("max_frame_size", 1e9),
        ("cancel_timeout", True),
        ("cancel_timeout", -0.5),
        ("name", None),
        ("start_method", ["forkserver"]),
        ("enable_modules", [3]),
        ("enable_modules", ["pkg..mod"]),
    ],
)
def test_root_options_refuse_bad_values(option: str, value: object) -> None:
    with pytest.raises(agentree.InvalidOption, match=f"open_root_actor\\(\\): {option}="):
        check_root_options("open_root_actor()", {option: value})


def test_unknown_root_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="start_methd"):
        check_root_options("open_nursery()", {"start_methd": "subprocess"})
