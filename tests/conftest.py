"""Shared test configuration: agentree's leak-check plugin for every test."""

pytest_plugins = ["agentree.testing.plugin"]
