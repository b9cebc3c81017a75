"""Commands: path, top, suspects."""
