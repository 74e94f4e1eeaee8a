"""L3 the actor runtime: state, connections and dialogs, serving calls."""

from . import _control, _logs  # noqa: F401  (control endpoint, titles; children's logs)
from ._actor import Actor, DialogRunner, RuntimeOptions, register_dialog_kind
from ._conn import Conn
from ._dialog import Dialog
from ._hooks import (
    register_endpoint,
    register_error_hook,
    register_runtime_hook,
    register_stop_guard,
    run_stop_guards,
)
from ._lookup import main_origin, ns_of
from ._ping import PING_NS
from ._serve import actor_runtime
from ._state import current_actor, current_actor_or_none, is_root_process
from ._tcp import listen_tcp

__all__ = [
    "PING_NS",
    "Actor",
    "Conn",
    "Dialog",
    "DialogRunner",
    "RuntimeOptions",
    "actor_runtime",
    "current_actor",
    "current_actor_or_none",
    "is_root_process",
    "listen_tcp",
    "main_origin",
    "ns_of",
    "register_dialog_kind",
    "register_endpoint",
    "register_error_hook",
    "register_runtime_hook",
    "register_stop_guard",
    "run_stop_guards",
]
