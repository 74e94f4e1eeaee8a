"""Testing helpers for agentree programs: a pytest plugin with leak checks.

Enable it in a ``conftest.py``::

    pytest_plugins = ["agentree.testing.plugin"]

Every test then fails if it leaves a child process, an agentree socket file or an
agentree temp directory behind.
"""
