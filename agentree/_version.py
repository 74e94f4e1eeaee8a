"""The version of agentree: the one place it is written.

``pyproject.toml`` reads it at build time (setuptools' dynamic version) and
``agentree.__version__`` re-exports it.
"""

__version__ = "0.1.0"
