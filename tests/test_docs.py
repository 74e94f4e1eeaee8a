"""The docs site: every public name documented, the reference complete, a strict build.

``docs/hooks/api_reference.py`` (a MkDocs hook) writes the API reference from
``agentree.__all__`` and warns about public names without a docstring; these tests
check its functions directly, then build the site with ``mkdocs build --strict`` and
check that a broken cross-reference fails that build.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import agentree
from agentree import _exceptions

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "agentree_docs_hook", DOCS / "hooks" / "api_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


hook = _load_hook()


# -- docstrings ------------------------------------------------------------------------


@pytest.mark.parametrize("name", agentree.__all__)
def test_public_name_has_a_docstring(name: str) -> None:
    """Every name of ``agentree.__all__`` has a docstring of its own."""
    obj = getattr(agentree, name)
    assert (obj.__doc__ or "").strip(), f"agentree.{name} has no docstring"


def test_public_members_have_docstrings() -> None:
    """Public methods and properties of public classes have docstrings."""
    assert hook.undocumented() == []


def test_the_check_finds_an_undocumented_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """A public function or method without a docstring is reported by name."""

    def bare() -> None:
        pass

    class Bare:
        """Documented class, undocumented method."""

        def method(self) -> None:
            pass

        def _private(self) -> None:
            pass

    monkeypatch.setattr(agentree, "bare", bare, raising=False)
    monkeypatch.setattr(agentree, "Bare", Bare, raising=False)
    monkeypatch.setattr(agentree, "__all__", [*agentree.__all__, "bare", "Bare"])
    assert hook.undocumented() == ["agentree.bare", "agentree.Bare.method"]


def test_the_hook_warns_for_undocumented_names(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The build logs a warning per undocumented name: an error under ``--strict``."""
    monkeypatch.setattr(hook, "undocumented", lambda: ["agentree.bare"])
    with caplog.at_level(logging.WARNING, logger="mkdocs.plugins.agentree"):
        hook.on_pre_build(config=None)
    assert [r.getMessage() for r in caplog.records] == [
        "agentree.bare has no docstring: the API reference would show nothing for it"
    ]


# -- the generated pages ---------------------------------------------------------------


def test_api_reference_has_every_public_name() -> None:
    """The API page renders one mkdocstrings block per name of ``__all__``, once each."""
    page = hook.expand((DOCS / "api.md").read_text())
    rendered = re.findall(r"^::: agentree\.(\w+)$", page, re.MULTILINE)
    assert sorted(rendered) == sorted(agentree.__all__)


def test_guide_tables_link_only_to_existing_names() -> None:
    """A guide page links to names in ``__all__`` and notes the ones not there yet."""
    out = hook.members_markdown(["open_nursery", "NoSuchThing"])
    assert "[`agentree.open_nursery`][agentree.open_nursery]" in out
    assert "Open an actor nursery" in out
    assert "agentree.NoSuchThing]" not in out
    assert "Not in this version yet: `NoSuchThing`." in out


def test_exception_page_draws_the_tree() -> None:
    """The exceptions page shows the docstring's tree and a row per exception."""
    out = hook.exception_tree_markdown()
    first = out.splitlines()[1]
    assert first == "AgentreeError"
    assert "└── SupervisorGaveUp" in out
    for name in _exceptions.__all__:
        assert f"| [`{name}`][agentree.{name}] |" in out, name


# Guide pages whose README section may not exist yet (a layer still being built).
README_SECTIONS_TO_COME: set[str] = set()


def test_readme_sections_of_the_guide_exist() -> None:
    """Every README section a guide page pulls in is in the README (a renamed heading
    would otherwise leave a note where the page's text should be)."""
    sections = hook.readme_sections((REPO / "README.md").read_text())
    wanted = {
        match.group(1)
        for page in DOCS.glob("*.md")
        for match in hook.README_SECTION.finditer(page.read_text())
    }
    assert {"The model", "Contexts and streams", "Debugging", "Agents"} <= wanted
    assert wanted - set(sections) <= README_SECTIONS_TO_COME


# README sections that are not a part of the guide (getting-started.md covers the first).
README_SECTIONS_NOT_IN_THE_GUIDE = {
    "Set up and run",
    "Examples",
    "Benchmarks",
    "Status",
    "License",
}


def test_every_part_of_the_readme_is_in_the_guide() -> None:
    """Each README section that describes a part is pulled into a docs page: a new part
    gets a page (``<!-- agentree:readme TITLE -->`` in docs/, and a line in the nav)."""
    sections = set(hook.readme_sections((REPO / "README.md").read_text()))
    pulled = {
        match.group(1)
        for page in DOCS.glob("*.md")
        for match in hook.README_SECTION.finditer(page.read_text())
    }
    assert sections - pulled - README_SECTIONS_NOT_IN_THE_GUIDE == set()


def test_readme_section_is_pulled_in_with_working_links(tmp_path: Path) -> None:
    """A section's body comes in; links to docs pages work, other relative links are text."""
    readme = tmp_path / "README.md"
    readme.write_text(
        "# title\n\n## One\n\nSee `docs/tractor-compat.md`, [the site](docs/index.md),\n"
        "[CONTRIBUTING.md](CONTRIBUTING.md) and [trio](https://trio.readthedocs.io).\n\n"
        "## Two\n\nnot this\n"
    )
    assert hook.readme_markdown("One", readme) == (
        "See [`docs/tractor-compat.md`](tractor-compat.md), [the site](index.md),\n"
        "CONTRIBUTING.md and [trio](https://trio.readthedocs.io).\n"
    )
    assert "Not in this version yet" in hook.readme_markdown("Three", readme)


def test_sphinx_roles_are_dropped() -> None:
    """A ``:func:`x``` left in a docstring renders as plain code, without ``~``."""
    html = "see :func:<code>pause</code> and :class:<code>~agentree.Portal</code>"
    assert (
        hook.strip_sphinx_roles(html) == "see <code>pause</code> and <code>agentree.Portal</code>"
    )


def test_every_page_is_in_the_nav() -> None:
    """Each page under docs/ is reachable from the nav (and each nav page exists)."""
    config = (REPO / "mkdocs.yml").read_text()
    in_nav = set(re.findall(r":\s+([\w-]+\.md)\s*$", config, re.MULTILINE))
    pages = {path.name for path in DOCS.glob("*.md")}
    assert in_nav == pages


# -- the real build --------------------------------------------------------------------


def _mkdocs(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(root / "site")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def site_sources(tmp_path: Path) -> Path:
    """A copy of what ``mkdocs build`` reads: the config, docs/ and the changelog."""
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copy(REPO / "CHANGELOG.md", tmp_path / "CHANGELOG.md")
    shutil.copy(REPO / "README.md", tmp_path / "README.md")
    shutil.copytree(DOCS, tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "agentree").symlink_to(REPO / "agentree")
    return tmp_path


@pytest.mark.slow
def test_strict_build_passes(site_sources: Path) -> None:
    """``mkdocs build --strict`` succeeds and renders every public name."""
    done = _mkdocs(site_sources)
    assert done.returncode == 0, done.stdout + done.stderr
    api = (site_sources / "site" / "api" / "index.html").read_text()
    for name in agentree.__all__:
        assert f'id="agentree.{name}"' in api, name
    assert (site_sources / "site" / "tractor-compat" / "index.html").exists()


@pytest.mark.slow
def test_strict_build_fails_on_a_broken_cross_reference(site_sources: Path) -> None:
    """A link to an API name that does not exist fails the strict build."""
    page = site_sources / "docs" / "getting-started.md"
    page.write_text(page.read_text() + "\nSee [`Nowhere`][agentree.Nowhere].\n")
    done = _mkdocs(site_sources)
    assert done.returncode != 0, done.stdout + done.stderr
    assert "agentree.Nowhere" in done.stderr, done.stderr


def test_docstrings_are_google_style() -> None:
    """No reST field lists (``:param x:``), which the Google-style parser would not read."""
    offenders = []
    for name in agentree.__all__:
        obj = getattr(agentree, name)
        docs = [inspect.getdoc(obj) or ""]
        if isinstance(obj, type):
            docs += [inspect.getdoc(v) or "" for _, v in hook._own_members(obj)]
        if any(re.search(r"^\s*:(param|returns?|raises)\b", d, re.MULTILINE) for d in docs):
            offenders.append(name)
    assert offenders == []
