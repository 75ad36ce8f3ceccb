"""The runner: execution lifecycle and step controls (if, retry, timeout, on_error)."""
