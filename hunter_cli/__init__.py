"""hunter: run B2B lead-generation recipes from a local workspace."""

__version__ = "0.1.0"
