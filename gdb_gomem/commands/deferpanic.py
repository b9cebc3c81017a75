"""Commands: defers, panics."""
