"""Process life cycle shared by the long-running commands (``node run``, ``gateway``, ``up``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[signal.Signals]:
    """Set ``stop`` on SIGTERM and SIGINT; return the signals handled (to remove them later).

    ``add_signal_handler`` raises a RuntimeError subclass on event loops without Unix signals
    and off the main thread; such a process then keeps the default handlers.
    """
    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError):
            loop.add_signal_handler(signum, stop.set)
            installed.append(signum)
    return installed
