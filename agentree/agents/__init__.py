"""The agent layer: classes that live in their own actor processes (DESIGN section 7).

Above the core (L4): it imports the core, never the other way round. The core's
``ActorNursery.start_agent`` reaches :func:`._start.start_agent` through the
starter this package registers in ``agentree._runtime._hooks`` on import.
"""

from ._lookup import find_agent, wait_for_agent
from ._ref import AgentRef
from ._spec import Agent, method
from ._start import start_agent
from ._threads import check_cancelled

__all__ = [
    "Agent",
    "AgentRef",
    "check_cancelled",
    "find_agent",
    "method",
    "start_agent",
    "wait_for_agent",
]
