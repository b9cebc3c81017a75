"""Documents: what each command answers, as one JSON-able document per command.

Built from the analysis layers below; rendered to text by :mod:`gdb_gomem.commands`.
"""
