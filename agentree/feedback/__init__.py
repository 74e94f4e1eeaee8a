"""Feedback: any actor asks, the nearest level with handlers up the tree answers.

See the README section "Feedback" and DESIGN section 7, rule 6.
"""

from .._runtime import ns_of, register_endpoint, register_runtime_hook
from .._runtime._hooks import register_feedback_level
from ._ask import (
    open_level,
    request_feedback,
    request_feedback_sync,
    track_runtime,
)
from ._ask import root_store_of as root_store_of
from ._ask import supervisor_level as supervisor_level
from ._journal import Journal, StoreJournal
from ._level import FeedbackRequest, Handler
from ._link import feedback_link
from ._queue import FeedbackQueue, feedback_queue
from ._terminal import TerminalFeedback, terminal_feedback

__all__ = [
    "FeedbackQueue",
    "FeedbackRequest",
    "Handler",
    "Journal",
    "StoreJournal",
    "TerminalFeedback",
    "feedback_queue",
    "request_feedback",
    "request_feedback_sync",
    "root_store_of",
    "supervisor_level",
    "terminal_feedback",
]

register_endpoint(ns_of(feedback_link), feedback_link)
register_feedback_level(open_level)
register_runtime_hook("feedback", track_runtime)
