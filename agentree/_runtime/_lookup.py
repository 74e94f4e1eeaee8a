"""Functions by name: ``module:qualname`` on the wire, checked against enable_modules.

No code object ever crosses the wire. A caller names a module-level function; the
callee imports it only if the module is in its allow-list. The user's ``__main__``
script is loaded in children by path under another module name (so its
``if __name__ == "__main__":`` block does not run) and stands in for ``__main__``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterable
from types import FunctionType, ModuleType
from typing import Any

from .._exceptions import FunctionNotFound, ModuleNotExposed, NotAddressable

__all__ = [
    "MAIN_ALIAS",
    "import_enabled",
    "load_parent_main",
    "main_origin",
    "ns_of",
    "resolve",
    "wire_module_name",
]

MAIN_ALIAS = "__agentree_main__"
_MISSING = object()


# ns of plain functions already named: every call names its function, and building
# the name is a visible part of a round trip. Bounded, in case functions are made on
# the fly.
_NS_CACHE: dict[FunctionType, str] = {}
_NS_CACHE_MAX = 4096


def ns_of(fn: Callable[..., Any]) -> str:
    """Name ``fn`` as ``module:qualname`` for another process to look up.

    Raises:
        NotAddressable: ``fn`` is a lambda, a nested function, or has no module.
    """
    if type(fn) is FunctionType:
        ns = _NS_CACHE.get(fn)
        if ns is None:
            if len(_NS_CACHE) >= _NS_CACHE_MAX:
                _NS_CACHE.clear()
            ns = _NS_CACHE[fn] = _ns_of(fn)
        return ns
    return _ns_of(fn)


def _ns_of(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise NotAddressable(
            f"{fn!r} cannot be called in another actor: only module-level functions "
            "can be named as module:qualname (no lambdas, closures or nested functions)"
        )
    return f"{wire_module_name(module)}:{qualname}"


def wire_module_name(module: str) -> str:
    """Map the child-side name of the user's main script back to ``__main__``."""
    return "__main__" if module == MAIN_ALIAS else module


def main_origin() -> tuple[str | None, str | None]:
    """Return ``(path, module name)`` describing this process's ``__main__``.

    ``python -m pkg.mod`` gives the module name; ``python script.py`` gives the path.
    In a child, the loaded main reports the root's values.
    """
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name not in ("__main__", MAIN_ALIAS):
        return None, spec.name
    path = getattr(main, "__file__", None)
    if path and path.endswith(".py"):
        return path, None
    return None, None


def load_parent_main(path: str | None, name: str | None) -> None:
    """Load the root's ``__main__`` here, as ``__main__``, without running its guard."""
    if sys.modules.get("__main__") is not None and getattr(
        sys.modules["__main__"], "__agentree_loaded__", False
    ):
        return
    module: ModuleType
    if name is not None:
        module = importlib.import_module(name)
    elif path is not None:
        spec = importlib.util.spec_from_file_location(MAIN_ALIAS, path)
        if spec is None or spec.loader is None:
            raise ModuleNotExposed(f"cannot load the main script {path!r} in this actor")
        module = importlib.util.module_from_spec(spec)
        sys.modules[MAIN_ALIAS] = module
        spec.loader.exec_module(module)
    else:
        raise ModuleNotExposed("the root's __main__ has no file to load in this actor")
    module.__agentree_loaded__ = True  # type: ignore[attr-defined]
    sys.modules["__main__"] = module


def _import(module: str) -> ModuleType:
    if module == "__main__":
        main = sys.modules.get("__main__")
        if main is None or not getattr(main, "__agentree_loaded__", False):
            raise ModuleNotExposed("__main__ is enabled but was not loaded in this actor")
        return main
    return importlib.import_module(module)


def import_enabled(modules: Iterable[str]) -> None:
    """Import every enabled module up front, so bad names fail at spawn time."""
    for module in modules:
        _import(module)


def resolve(ns: str, enabled: set[str], actor_name: str) -> Callable[..., Any]:
    """Find the function named ``ns`` if its module is enabled in this actor.

    Raises:
        ModuleNotExposed: the module is not in ``enabled``.
        FunctionNotFound: the module has no such attribute, or it is not callable.
    """
    module_name, _, qualname = ns.partition(":")
    if module_name not in enabled:
        raise ModuleNotExposed(
            f"module {module_name!r} is not in enable_modules of actor {actor_name!r} "
            f"(enabled: {sorted(enabled)}); refusing to call {ns}"
        )
    obj: Any = _import(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part, _MISSING)
        # Never walk into another module: "mod:os.system" must not reach os.system.
        if obj is _MISSING or isinstance(obj, ModuleType):
            raise FunctionNotFound(
                f"module {module_name!r} in actor {actor_name!r} has no function {qualname!r}"
            )
    if not callable(obj):
        raise FunctionNotFound(f"{ns} in actor {actor_name!r} is not callable")
    defined_in = getattr(obj, "__module__", None) or ""
    if module_name == "__main__":
        # ``python -m pkg.mod`` loads the main module under its real name.
        defined_in = "__main__" if defined_in == sys.modules["__main__"].__name__ else defined_in
    if wire_module_name(defined_in) != module_name:
        raise FunctionNotFound(
            f"{ns} in actor {actor_name!r} is defined in module "
            f"{getattr(obj, '__module__', None)!r}, not {module_name!r}; call it by the "
            "module that defines it"
        )
    return obj  # type: ignore[no-any-return]
