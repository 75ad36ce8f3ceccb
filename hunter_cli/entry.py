"""The console script's entry point: tunes the garbage collector for a command-line process
before anything heavy is imported, then hands over to the Typer app.

A command imports SQLAlchemy, Jinja2, jsonschema and Rich: hundreds of thousands of objects
that live until the process ends. With the default thresholds the collector walks them again
and again while they are created, and once more at exit; that was a fifth of the time of a
short `hunter run`. The thresholds are mypy's (also a long-lived heap built at start-up):
young garbage is still collected, so a 10,000-lead batch does not grow without bound.
"""

from __future__ import annotations

import atexit
import gc
import sys


def main() -> None:
    gc.set_threshold(200_000, 30, 30)
    atexit.register(_at_exit)
    from hunter_cli.cli.main import run

    run()


def _at_exit() -> None:
    # Close the databases a command opened, as the collection skipped below would have.
    engine_module = sys.modules.get("hunter_cli.db.engine")  # None for --help: no import
    if engine_module is not None:
        engine_module.dispose_all()
    # Then skip the last full collection of everything still alive: the OS frees it.
    gc.freeze()
