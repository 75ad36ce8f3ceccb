"""The actions of the `action` step type, one module each (registered in components.action)."""
