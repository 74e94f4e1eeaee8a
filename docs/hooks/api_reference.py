"""MkDocs hook: the API reference from ``agentree.__all__``, and a docstring check.

Markers in the pages:

- ``<!-- agentree:all -->`` (the API reference page) expands to one mkdocstrings
  ``::: agentree.NAME`` block per name of ``agentree.__all__``, grouped as functions,
  classes, exceptions and modules: every public name is documented, on that page;
- ``<!-- agentree:members NAME ... -->`` (the guide pages) expands to a table of links
  to those entries, for the listed names that ``agentree.__all__`` holds (a name not
  there yet, such as part of a layer that has not landed, is left out with a note);
- ``<!-- agentree:exception-tree -->`` expands to the class tree drawn in
  ``agentree._exceptions``' docstring and a table of the exceptions;
- ``<!-- agentree:readme TITLE -->`` expands to the body of the README's ``## TITLE``
  section, so that a guide page and the README say the same thing without a second
  copy to keep in step (a section not there yet is left out with a note). Mentions
  of ``docs/NAME.md`` become links to that page; other relative links become text.

mkdocstrings does not complain about a missing docstring, so this hook does: every
public name, and every public member of a public class, must have one, or the build
logs a warning (an error under ``mkdocs build --strict``).

The functions at the top are plain Python, importable without MkDocs, so that
``tests/test_docs.py`` checks them.
"""

from __future__ import annotations

import inspect
import logging
import re
import textwrap
import types
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import agentree

log = logging.getLogger("mkdocs.plugins.agentree")

MEMBERS = re.compile(r"<!--\s*agentree:members\s+([\w\s]+?)\s*-->")
ALL = re.compile(r"<!--\s*agentree:all\s*-->")
# A Sphinx role left in a docstring (``:func:`pause```) reaches the HTML as
# ``:func:<code>pause</code>``: keep the code, drop the role and a leading ``~``.
SPHINX_ROLE = re.compile(r":(?:func|class|meth|attr|exc|mod|data|obj):(<code>)~?")
EXCEPTION_TREE = re.compile(r"<!--\s*agentree:exception-tree\s*-->")
README_SECTION = re.compile(r"<!--\s*agentree:readme\s+(.+?)\s*-->")
README = Path(__file__).resolve().parents[2] / "README.md"
DOCS_PAGE = re.compile(r"`docs/([\w-]+\.md)`")
RELATIVE_LINK = re.compile(r"\[([^\]]+)\]\((?!https?://|#)([^)]+)\)")


def _group(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return "Modules"
    if isinstance(obj, type) and issubclass(obj, BaseException):
        return "Exceptions"
    if isinstance(obj, type):
        return "Classes"
    return "Functions"


def directive(name: str) -> str:
    """The mkdocstrings block that documents ``agentree.<name>``."""
    return f"::: agentree.{name}\n    options:\n      heading_level: 3\n"


def summary(obj: object) -> str:
    """The first paragraph of ``obj``'s docstring, on one line, safe in a table cell."""
    text = (inspect.getdoc(obj) or "").split("\n\n")[0]
    return " ".join(text.split()).replace("|", "\\|")


def members_markdown(names: Iterable[str]) -> str:
    """A table linking to the API reference entries of the names ``__all__`` holds.

    Each object is rendered once, on the API reference page, so a cross-reference
    to it has one target; guide pages link to it. A listed name that
    ``agentree.__all__`` does not hold (yet) is left out with a note.
    """
    names = list(names)
    present = [name for name in names if name in agentree.__all__]
    missing = [name for name in names if name not in agentree.__all__]
    rows = ["| name | what it is |", "| --- | --- |"]
    rows += [
        f"| [`agentree.{name}`][agentree.{name}] | {summary(getattr(agentree, name))} |"
        for name in present
    ]
    out = "\n".join(rows) + "\n" if present else ""
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        out += f"\n!!! note\n    Not in this version yet: {listed}.\n"
    return out


def all_markdown() -> str:
    """Every name of ``agentree.__all__``, grouped as classes, functions, exceptions."""
    groups: dict[str, list[str]] = {}
    for name in sorted(agentree.__all__, key=str.lower):
        groups.setdefault(_group(getattr(agentree, name)), []).append(name)
    out = []
    for title in ("Functions", "Classes", "Exceptions", "Modules"):
        if title in groups:
            out.append(f"## {title}\n")
            out.extend(directive(name) for name in groups[title])
    return "\n".join(out)


def exception_tree_markdown() -> str:
    """The class tree drawn in ``agentree._exceptions``' docstring, then one line each.

    The tree is the docstring's indented block after its ``::`` line, so the page
    shows the same drawing that ``tests/test_public_api.py`` checks against the classes.
    """
    from agentree import _exceptions

    doc = _exceptions.__doc__ or ""
    block = doc.split("::\n", 1)[1].strip("\n").split("\n\n", 1)[0]
    tree = textwrap.dedent(block)
    rows = ["| exception | what it means |", "| --- | --- |"]
    for name in sorted(_exceptions.__all__, key=str.lower):
        rows.append(f"| [`{name}`][agentree.{name}] | {summary(getattr(_exceptions, name))} |")
    return "```text\n" + tree + "\n```\n\n" + "\n".join(rows) + "\n"


def readme_sections(text: str) -> dict[str, str]:
    """The README's ``## `` sections: title -> body (without the heading)."""
    sections: dict[str, str] = {}
    parts = re.split(r"^## (.+)$", text, flags=re.MULTILINE)
    for title, body in zip(parts[1::2], parts[2::2], strict=True):
        sections[title.strip()] = body.strip() + "\n"
    return sections


def _relink(body: str) -> str:
    def link(match: re.Match[str]) -> str:
        text, target = match.group(1), match.group(2)
        if target.startswith("docs/"):
            return f"[{text}]({target.removeprefix('docs/')})"
        return text

    body = RELATIVE_LINK.sub(link, body)
    return DOCS_PAGE.sub(lambda m: f"[`docs/{m.group(1)}`]({m.group(1)})", body)


def readme_markdown(title: str, readme: Path = README) -> str:
    """The body of the README's ``## title`` section, its links made to work here."""
    body = readme_sections(readme.read_text()).get(title)
    if body is None:
        return f"!!! note\n    Not in this version yet: the README has no {title!r} section.\n"
    return _relink(body)


def expand(markdown: str) -> str:
    """Replace the page's markers with their content."""
    markdown = README_SECTION.sub(lambda m: readme_markdown(m.group(1)), markdown)
    markdown = ALL.sub(lambda _: all_markdown(), markdown)
    markdown = EXCEPTION_TREE.sub(lambda _: exception_tree_markdown(), markdown)
    return MEMBERS.sub(lambda m: members_markdown(m.group(1).split()), markdown)


def _own_members(cls: type) -> Iterator[tuple[str, Any]]:
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            yield name, value.__func__
        elif isinstance(value, property):
            yield name, value.fget
        elif inspect.isfunction(value):
            yield name, value


def undocumented() -> list[str]:
    """Public names (and public members of public classes) without a docstring."""
    missing = []
    for name in agentree.__all__:
        obj = getattr(agentree, name)
        if not (getattr(obj, "__doc__", None) or "").strip():
            missing.append(f"agentree.{name}")
        if isinstance(obj, type):
            for member, value in _own_members(obj):
                if not (getattr(value, "__doc__", None) or "").strip():
                    missing.append(f"agentree.{name}.{member}")
    return missing


def on_pre_build(config: Any) -> None:
    """Warn (an error under ``--strict``) for every public name without a docstring."""
    for name in undocumented():
        log.warning("%s has no docstring: the API reference would show nothing for it", name)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Expand the agentree markers of each page."""
    return expand(markdown)


def strip_sphinx_roles(html: str) -> str:
    """Drop the Sphinx role markers that docstrings may still carry."""
    return SPHINX_ROLE.sub(r"\1", html)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Tidy the rendered docstrings of each page."""
    return strip_sphinx_roles(html)
