"""Shared test configuration: agentree's pytest plugin (leak check on, see pyproject).

With agentree installed, pytest loads the plugin through its ``pytest11`` entry
point; from a checkout on ``PYTHONPATH`` it is loaded here.
"""

from importlib.metadata import entry_points

_INSTALLED = any(ep.value == "agentree.testing.plugin" for ep in entry_points(group="pytest11"))
pytest_plugins = [] if _INSTALLED else ["agentree.testing.plugin"]
