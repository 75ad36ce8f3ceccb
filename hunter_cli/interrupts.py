"""SIGTERM ends this process's work as Ctrl-C does: cron's `timeout`, `kill` and a stopping
container send it, and a run or a delivery is then closed as after Ctrl-C, not killed with
its books open."""

from __future__ import annotations

import signal
import threading
from typing import Any


class Stopped(KeyboardInterrupt):
    """SIGTERM arrived: the work in hand is closed as Ctrl-C closes it."""


# Set while a run's books are being closed (after its steps): a SIGTERM is then ignored,
# so that they are closed.
CLOSING = threading.Event()


def _on_sigterm(_signum: int, _frame: Any) -> None:
    if not CLOSING.is_set():
        raise Stopped()


def stop_on_sigterm() -> None:
    """For a process that runs recipes or delivers messages (the CLI): SIGTERM raises
    `Stopped`, as Python makes SIGINT raise KeyboardInterrupt. Installed once for the
    process (main thread only), not per run."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
