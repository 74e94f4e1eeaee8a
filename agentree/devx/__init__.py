"""The multi-process debugger: pause and post-mortem in any actor, one terminal.

- :func:`pause` (alias :func:`breakpoint`) stops a task in a REPL in any actor;
- :func:`pause_from_sync` does the same from synchronous code (``breakpoint()``
  calls it in debug mode);
- :func:`post_mortem` opens a REPL on an error being handled;
- in debug mode an uncaught error opens a post-mortem REPL where it was raised.

The root arbitrates the shared terminal with a lock that sub-actors ask for over
IPC (see ``_lock``). Importing this package registers its hooks with the runtime,
which never imports it (DESIGN section 6).
"""

from ._api import (
    breakpoint,
    debug_mode,
    maybe_enable_greenback,
    pause,
    pause_from_sync,
    post_mortem,
)
from ._hooks import install

__all__ = [
    "breakpoint",
    "debug_mode",
    "maybe_enable_greenback",
    "pause",
    "pause_from_sync",
    "post_mortem",
]

install()
