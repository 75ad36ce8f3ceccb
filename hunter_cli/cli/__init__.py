"""The Typer command-line layer: parse, call the core, render. Nothing else lives here."""
