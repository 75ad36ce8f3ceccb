"""`python -m hunter_cli` runs the CLI."""

from hunter_cli.cli.main import run

run()
