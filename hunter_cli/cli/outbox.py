"""`hunter outbox`."""

from __future__ import annotations

import typer

app = typer.Typer(help="outbox", no_args_is_help=True)
