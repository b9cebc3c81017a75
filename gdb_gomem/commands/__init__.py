"""Commands: argument parsing and printing only. The documents come from ``reports``."""
