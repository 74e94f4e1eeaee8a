"""Typed values across the wire: method arguments and results as their annotations say.

msgpack carries builtins only, so a ``msgspec.Struct`` argument arrives as a dict and
a tuple as a list. The host converts each argument to its parameter's annotation
before the method runs, and the ref converts the result to the method's return
annotation, so that what mypy checks at the call site is what the code gets. Plain
builtins (``int``, ``str``, ``Any``, ...) are left as they are, at no cost.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any

import msgspec

from .._exceptions import MsgTypeError

__all__ = ["Converter", "arg_converter", "result_converter"]

Converter = Callable[[Any], Any]
ArgsConverter = Callable[[list[Any], dict[str, Any]], tuple[list[Any], dict[str, Any]]]

_AS_IS: frozenset[Any] = frozenset(
    {Any, object, int, float, str, bool, bytes, type(None), None, inspect.Parameter.empty}
)


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:
        # An annotation that does not resolve here: leave every value as it is.
        return {}


def _converter(tp: Any, what: str) -> Converter | None:
    if tp in _AS_IS:
        return None

    def convert(value: Any) -> Any:
        try:
            return msgspec.convert(value, tp, strict=False)
        except msgspec.ValidationError as exc:
            raise MsgTypeError(f"{what}: {exc}") from None

    return convert


@functools.lru_cache(maxsize=4096)
def result_converter(fn: Callable[..., Any]) -> Converter | None:
    """How to turn ``fn``'s decoded result into its return annotation (``None``: as is)."""
    hints = _hints(fn)
    return _converter(hints.get("return", Any), f"the result of {fn.__qualname__}()")


@functools.lru_cache(maxsize=4096)
def arg_converter(fn: Callable[..., Any], skip: int = 1) -> ArgsConverter | None:
    """How to turn decoded ``(args, kwargs)`` of ``fn`` into its parameters' types.

    Args:
        fn: the function (a method as found on its class).
        skip: leading parameters that are not sent (``self``; ``self, ctx``).

    Returns:
        ``None`` when every parameter takes its value as it is.
    """
    hints = _hints(fn)
    params = list(inspect.signature(fn).parameters.values())[skip:]
    positional: list[Converter | None] = []
    rest: Converter | None = None
    named: dict[str, Converter | None] = {}
    extra: Converter | None = None
    for p in params:
        convert = _converter(hints.get(p.name, Any), f"argument {p.name!r} of {fn.__qualname__}()")
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            positional.append(convert)
        elif p.kind is p.VAR_POSITIONAL:
            rest = convert
        elif p.kind is p.VAR_KEYWORD:
            extra = convert
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            named[p.name] = convert
    if not any(positional) and rest is None and extra is None and not any(named.values()):
        return None

    def convert_args(a: list[Any], k: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
        out = list(a)
        for i, value in enumerate(out):
            conv = positional[i] if i < len(positional) else rest
            if conv is not None:
                out[i] = conv(value)
        kw = dict(k)
        for name, value in kw.items():
            conv = named.get(name, extra)
            if conv is not None:
                kw[name] = conv(value)
        return out, kw

    return convert_args
