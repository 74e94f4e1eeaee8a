"""Shared test configuration: agentree's pytest plugin (leak check on, see pyproject).

With agentree installed, pytest loads the plugin through its ``pytest11`` entry
point; from a checkout on ``PYTHONPATH`` it is loaded here.

trio keeps each worker thread of ``trio.to_thread`` (``open_process`` uses one)
alive for 10 s after its job, and a root opened while another thread lives
cannot be forked: its forkserver is then a fresh interpreter (the fallback of
``agentree._spawn._forkcopy``), 150-250 ms more a tree. Test after test, nearly
every root of the suite came within 10 s of such a call, so the suite ran the
fallback instead of the default, and slowly. Here worker threads end with their job.

For the same reason the tests that start Ray in this process (``test_ray_*``
modules) run last: Ray's own threads (gRPC, its GCS client) outlive
``ray.shutdown()``, so every root opened after them would get a fresh forkserver.
"""

from importlib.metadata import entry_points

import pytest

try:
    import trio._core._thread_cache as _trio_thread_cache
except ImportError:  # trio moved it: the suite only runs slower
    _trio_thread_cache = None

_INSTALLED = any(ep.value == "agentree.testing.plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _INSTALLED else ["agentree.testing.plugin"]

if _trio_thread_cache is not None and hasattr(_trio_thread_cache, "IDLE_TIMEOUT"):
    _trio_thread_cache.IDLE_TIMEOUT = 0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of ``test_ray_*`` modules to the end, in their order."""
    items.sort(key=lambda item: item.path.name.startswith("test_ray"))
