"""`python -m hunter_cli` runs the CLI."""

from hunter_cli.entry import main

main()
