"""Front ends: the standalone ``gomem`` command and ``gomem ...`` inside gdb.

Each obtains a process (an adapter), installs its progress rendering, runs a command from the
registry and prints; errors become one message, never a traceback.
"""
