"""Checks of the options users pass to spawn calls, made before anything is spawned.

A value a child cannot use (``loglevel="verbose"``, ``cancel_timeout=-1``,
``enable_modules="pkg.mod"``) would otherwise crash the child during its start. Each
check raises :class:`~agentree.InvalidOption` (a ``ValueError``) naming the call, the
actor and the option, from the call that was given it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Iterable
from typing import Any

from ._exceptions import InvalidOption
from ._runtime._actor import START_METHODS
from .log import LEVEL_NAMES, level_number

__all__ = ["MIN_FRAME_SIZE", "check_child_options", "check_root_options", "tree_secret_of"]

MIN_FRAME_SIZE = 64 * 1024
"""The smallest ``max_frame_size`` accepted: a child's start-up message must fit."""


def _root_option_names() -> list[str]:
    """The keyword arguments ``open_root_actor`` takes (so ``open_nursery`` too)."""
    from ._root import open_root_actor  # here: ``_root`` imports this module

    return list(inspect.signature(open_root_actor).parameters)


def _fail(call: str, option: str, value: Any, expected: str) -> InvalidOption:
    return InvalidOption(f"{call}: {option}={value!r} is invalid: expected {expected}")


def _check_name(call: str, name: Any, *, optional: bool = False) -> None:
    if optional and name is None:
        return
    if not isinstance(name, str) or not name:
        raise _fail(call, "name", name, "a non-empty str")


def _check_flag(call: str, option: str, value: Any, *, optional: bool = False) -> None:
    if optional and value is None:
        return
    if not isinstance(value, bool):
        raise _fail(call, option, value, "True or False")


def _check_loglevel(call: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or level_number(value) is None:
        raise _fail(call, "loglevel", value, f"None or one of {', '.join(LEVEL_NAMES)}")


def _check_modules(call: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _fail(call, "enable_modules", value, "a list of module names")
    for module in value:
        if not isinstance(module, str) or not all(p.isidentifier() for p in module.split(".")):
            raise _fail(call, "enable_modules", value, f"module names ({module!r} is not one)")


def _check_timeout(call: str, option: str, value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or value < 0
    ):
        raise _fail(call, option, value, "None or a number of seconds >= 0")


def _check_frame_size(call: str, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_FRAME_SIZE:
        raise _fail(call, "max_frame_size", value, f"None or an int >= {MIN_FRAME_SIZE}")


def check_child_options(
    call: str,
    *,
    name: Any,
    enable_modules: Any = None,
    infect_asyncio: Any = False,
    debug_mode: Any = None,
    loglevel: Any = None,
    name_optional: bool = False,
) -> None:
    """Check the options of ``start_actor``/``run_in_actor`` for a new child.

    Args:
        call: how to name the call in the error, e.g. ``"start_actor('worker')"``.
        name: the child's name.
        enable_modules: the modules the child imports.
        infect_asyncio: whether the child runs trio as an asyncio guest.
        debug_mode: the child's debug mode, ``None`` to inherit.
        loglevel: the child's log level, ``None`` to inherit.
        name_optional: whether ``name`` may be ``None`` (``run_in_actor``).

    Raises:
        InvalidOption: an option the child could not use.
    """
    _check_name(call, name, optional=name_optional)
    _check_modules(call, enable_modules)
    _check_flag(call, "infect_asyncio", infect_asyncio)
    _check_flag(call, "debug_mode", debug_mode, optional=True)
    _check_loglevel(call, loglevel)


def check_root_options(call: str, options: dict[str, Any]) -> None:
    """Check ``open_root_actor``'s keyword arguments (``open_nursery`` passes them on).

    Raises:
        TypeError: an option ``open_root_actor`` does not take.
        InvalidOption: a value the root (or its children) could not use.
    """
    known = _root_option_names()
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(
            f"{call}: unexpected option(s) {', '.join(unknown)}; "
            f"the options are {', '.join(known)}"
        )
    if "name" in options:
        _check_name(call, options["name"])
    if "start_method" in options and options["start_method"] not in START_METHODS:
        raise _fail(call, "start_method", options["start_method"], f"one of {START_METHODS}")
    _check_flag(call, "debug_mode", options.get("debug_mode", False))
    _check_flag(call, "infect_asyncio", options.get("infect_asyncio", False))
    _check_loglevel(call, options.get("loglevel"))
    _check_modules(call, options.get("enable_modules"))
    _check_frame_size(call, options.get("max_frame_size"))
    _check_timeout(call, "cancel_timeout", options.get("cancel_timeout"))
    _check_timeout(call, "terminate_timeout", options.get("terminate_timeout"))
    _check_bind(call, options.get("bind"))
    _check_secret(call, options.get("secret"))


def _check_bind(call: str, value: Any) -> None:
    if value is None:
        return
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or isinstance(value[1], bool)
        or not isinstance(value[1], int)
        or not 0 <= value[1] <= 65535
    ):
        raise _fail(call, "bind", value, "None or a (host, port) pair, port in 0..65535")


def _check_secret(call: str, value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, bytes | str) or len(value) < 16:
        # The value itself is never shown: it is a secret.
        raise InvalidOption(
            f"{call}: secret is invalid: expected None, or bytes or a str of 16 or more "
            f"characters (got a {type(value).__name__}"
            + (f" of length {len(value)})" if isinstance(value, bytes | str) else ")")
        )


def tree_secret_of(secret: bytes | str | None) -> bytes | None:
    """A tree secret as bytes (a str is encoded as UTF-8)."""
    if secret is None:
        return None
    return secret.encode() if isinstance(secret, str) else bytes(secret)
