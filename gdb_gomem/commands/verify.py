"""Commands: verify."""
