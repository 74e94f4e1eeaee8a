"""The public API: explicit exports, no private leaks, the documented error tree."""

from __future__ import annotations

import builtins
import re
import subprocess
import sys
import types
from collections import Counter
from dataclasses import dataclass, field

import pytest

import agentree
from agentree import _exceptions

# Public subpackages/modules: reachable as agentree.<name> once imported (some only
# lazily, e.g. by the pytest plugin), but not re-exported names of the API itself.
PUBLIC_SUBMODULES = frozenset(
    {
        "agents",
        "devx",
        "feedback",
        "log",
        "msg",
        "store",
        "supervise",
        "testing",
        "to_asyncio",
        "trionics",
    }
)


def public_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class exported by ``agentree.__all__``, by name."""
    return {
        name: obj
        for name in agentree.__all__
        if isinstance(obj := getattr(agentree, name), type) and issubclass(obj, BaseException)
    }


# -- __all__ ---------------------------------------------------------------------------


def test_all_names_exist() -> None:
    """Every name in __all__ is an attribute of the package."""
    missing = [name for name in agentree.__all__ if not hasattr(agentree, name)]
    assert missing == []


def test_all_has_no_duplicates() -> None:
    """Each name appears once in __all__."""
    counts = Counter(agentree.__all__)
    assert [name for name, count in counts.items() if count > 1] == []


def test_no_object_is_exported_under_two_names() -> None:
    """No public object is exported twice under different names."""
    by_id: dict[int, list[str]] = {}
    for name in agentree.__all__:
        by_id.setdefault(id(getattr(agentree, name)), []).append(name)
    assert [names for names in by_id.values() if len(names) > 1] == []


def test_all_has_no_private_names() -> None:
    """No name in __all__ starts with an underscore."""
    assert [name for name in agentree.__all__ if name.startswith("_")] == []


def test_all_entries_are_strings() -> None:
    """__all__ is a list of str (a tuple or stray object breaks star-imports)."""
    assert all(isinstance(name, str) for name in agentree.__all__)


def test_every_public_name_in_dir_is_exported() -> None:
    """Everything public in dir(agentree) is in __all__, bar public submodules."""
    # "@py_builtins"/"@pytest_ar": pytest's assertion rewriting of a plugin's package
    # (agentree's pytest11 plugin), not names of agentree's.
    public = {name for name in dir(agentree) if not name.startswith(("_", "@"))}
    unexported = public - set(agentree.__all__) - PUBLIC_SUBMODULES
    assert unexported == set()
    for name in (public - set(agentree.__all__)) & PUBLIC_SUBMODULES:
        assert isinstance(getattr(agentree, name), types.ModuleType), name


def test_public_submodules_are_modules() -> None:
    """Names in __all__ that are modules are listed as public submodules."""
    modules = {n for n in agentree.__all__ if isinstance(getattr(agentree, n), types.ModuleType)}
    assert modules <= PUBLIC_SUBMODULES


def test_star_import_matches_all() -> None:
    """``from agentree import *`` binds exactly the names of __all__."""
    namespace: dict[str, object] = {}
    exec("from agentree import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == set(agentree.__all__)


# -- exceptions ------------------------------------------------------------------------


def test_every_public_exception_is_an_agentree_error() -> None:
    """One root: every public exception subclasses AgentreeError."""
    excs = public_exceptions()
    assert "AgentreeError" in excs
    outside = [name for name, cls in excs.items() if not issubclass(cls, agentree.AgentreeError)]
    assert outside == []


def test_every_exception_is_exported() -> None:
    """Every class of _exceptions.__all__ is exported from agentree, as the same class."""
    for name in _exceptions.__all__:
        assert name in agentree.__all__, name
        assert getattr(agentree, name) is getattr(_exceptions, name)
    assert set(public_exceptions()) == set(_exceptions.__all__)


@dataclass
class Node:
    """One class in the docstring's tree."""

    name: str
    depth: int
    parent: str | None
    also: set[str] = field(default_factory=set)


_TREE_CHARS = " │├└─"
_ALSO = re.compile(r"\(also an? (\w+)\)")


def parse_tree(doc: str) -> dict[str, Node]:
    """Parse the class tree drawn in the ``_exceptions`` module docstring.

    The tree is the indented block after the ``::`` line. A class's depth is the
    column of its name (four columns per level); a line without a class name
    continues the description of the class above it. ``(also a X)`` notes name
    extra builtin bases.

    Args:
        doc: the module docstring.

    Returns:
        The classes of the tree by name, each with its parent and extra bases.
    """
    block = doc.split("::\n", 1)[1]
    lines = []
    for line in block.split("\n")[1:]:
        if not line.strip():
            if lines:
                break
            continue
        lines.append(line)
    nodes: dict[str, Node] = {}
    stack: list[Node] = []
    root_col: int | None = None
    current: Node | None = None
    for line in lines:
        stripped = line.lstrip(_TREE_CHARS)
        col = len(line) - len(stripped)
        match = re.match(r"([A-Z]\w+)\b", stripped)
        if match:
            if root_col is None:
                root_col = col
            depth, rem = divmod(col - root_col, 4)
            assert rem == 0, f"misaligned tree line: {line!r}"
            del stack[depth:]
            current = Node(match[1], depth, stack[-1].name if stack else None)
            assert current.name not in nodes, f"{current.name} drawn twice"
            nodes[current.name] = current
            stack.append(current)
        assert current is not None, f"tree starts with a continuation: {line!r}"
        current.also.update(_ALSO.findall(line))
    return nodes


def test_docstring_tree_parses() -> None:
    """The tree has one root, AgentreeError."""
    tree = parse_tree(_exceptions.__doc__ or "")
    roots = [node.name for node in tree.values() if node.parent is None]
    assert roots == ["AgentreeError"]


def test_docstring_tree_names_every_exception() -> None:
    """The tree draws exactly the classes the module exports."""
    tree = parse_tree(_exceptions.__doc__ or "")
    assert set(tree) == set(_exceptions.__all__)


def test_docstring_tree_edges_match_the_classes() -> None:
    """Each class's agentree base is its parent in the tree; 'also' bases match."""
    tree = parse_tree(_exceptions.__doc__ or "")
    for node in tree.values():
        cls = getattr(_exceptions, node.name)
        agentree_bases = [b for b in cls.__bases__ if issubclass(b, agentree.AgentreeError)]
        other_bases = {b.__name__ for b in cls.__bases__ if b not in agentree_bases}
        if node.parent is None:
            assert cls.__bases__ == (Exception,)
            continue
        assert agentree_bases == [getattr(_exceptions, node.parent)], node.name
        assert other_bases == node.also, node.name
        for extra in node.also:
            assert issubclass(cls, getattr(builtins, extra)), (node.name, extra)


@pytest.mark.parametrize(
    ("child", "parent"),
    [
        ("RemoteActorError", "AgentreeError"),
        ("ContextCancelled", "RemoteActorError"),
        ("TransportClosed", "AgentreeError"),
        ("ProtocolError", "AgentreeError"),
        ("FrameTooLarge", "ProtocolError"),
        ("MsgTypeError", "ProtocolError"),
        ("MsgEncodeError", "AgentreeError"),
        ("NotAddressable", "AgentreeError"),
        ("ModuleNotExposed", "AgentreeError"),
        ("FunctionNotFound", "AgentreeError"),
        ("AuthenticationError", "AgentreeError"),
        ("SpawnError", "AgentreeError"),
        ("StreamOverrun", "AgentreeError"),
        ("ActorTooSlowError", "AgentreeError"),
        ("NoRuntime", "AgentreeError"),
        ("NotInfectedAsyncio", "AgentreeError"),
        ("AsyncioCancelled", "AgentreeError"),
        ("AsyncioTaskExited", "AgentreeError"),
    ],
)
def test_exception_edges(child: str, parent: str) -> None:
    """The documented edges, asserted directly (independent of the parser)."""
    assert getattr(agentree, parent) in getattr(agentree, child).__bases__


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("MsgEncodeError", TypeError),
        ("NotAddressable", TypeError),
        ("ModuleNotExposed", ModuleNotFoundError),
        ("FunctionNotFound", AttributeError),
        ("NoRuntime", RuntimeError),
        ("NotInfectedAsyncio", RuntimeError),
    ],
)
def test_exceptions_that_are_also_builtins(name: str, builtin: type[Exception]) -> None:
    """The documented 'also a X' bases hold, so callers may catch the builtin."""
    assert issubclass(getattr(agentree, name), builtin)


# -- import cost -----------------------------------------------------------------------


def test_import_does_not_import_asyncio() -> None:
    """``import agentree`` does not import asyncio (it costs import time)."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import agentree"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    imported = [
        line.rsplit("|", 1)[1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "agentree" in imported
    asyncio_mods = [m for m in imported if m == "asyncio" or m.startswith("asyncio.")]
    assert asyncio_mods == []


def test_import_leaves_asyncio_out_of_sys_modules() -> None:
    """A fresh interpreter: ``import agentree`` leaves asyncio out of sys.modules, and
    ``agentree.to_asyncio`` (imported on first use) brings it in."""
    code = (
        "import sys, agentree\n"
        "assert 'asyncio' not in sys.modules, 'asyncio imported by agentree'\n"
        "assert 'agentree.to_asyncio' not in sys.modules\n"
        "bridge = agentree.to_asyncio\n"
        "assert 'asyncio' in sys.modules\n"
        "assert bridge.run_as_asyncio_guest is agentree.run_as_asyncio_guest\n"
        "print('ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "ok\n"


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy ``to_asyncio`` hook answers only for that name."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = agentree.no_such_name  # type: ignore[attr-defined]
