"""Commands: argument parsing and printing only. The work happens in ``analysis``."""
