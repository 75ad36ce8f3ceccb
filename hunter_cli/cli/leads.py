"""`hunter leads`."""

from __future__ import annotations

import typer

app = typer.Typer(help="leads", no_args_is_help=True)
