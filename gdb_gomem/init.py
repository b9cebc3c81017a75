"""Entry point for gdb: ``source /path/to/gdb_gomem/init.py`` (works from any directory).

gdb embeds its own Python (Debian's 3.11 here), not the one on PATH. This script makes the
package importable, adds the project's ``.venv`` site-packages when its Python minor version
matches gdb's, checks the dependencies, registers the ``gomem`` commands and says so in one line.
"""

import glob
import importlib
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
_root = os.path.dirname(_here)


def _setup_path() -> str:
    """Put the project and its venv on sys.path; return a warning line or ''."""
    if _root not in sys.path:
        sys.path.insert(0, _root)
    want = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = glob.glob(os.path.join(_root, ".venv", "lib", "python3.*", "site-packages"))
    for s in site:
        if os.path.basename(os.path.dirname(s)) == want:
            if s not in sys.path:
                sys.path.append(s)
            return ""
    if site:
        have = os.path.basename(os.path.dirname(site[0]))
        return (
            f"gdb-gomem: the project venv is for {have} but gdb embeds {want}; its packages "
            f"cannot be used. Run: {want} -m pip install --user pyelftools pygments numpy"
        )
    return ""


def _main() -> None:
    warning = _setup_path()
    try:
        for dep in ("elftools", "pygments"):  # only probed here: importable by gdb's Python?
            importlib.import_module(dep)
    except ImportError as exc:
        missing = exc.name or "a dependency"
        print(
            f"gdb-gomem: cannot load: {missing} is not importable by gdb's Python "
            f"{sys.version_info.major}.{sys.version_info.minor}. Run scripts/setup in "
            f"{_root} (or: python3 -m pip install --user pyelftools pygments)."
        )
        if warning:
            print(warning)
        return
    if warning:
        print(warning)
    from gdb_gomem import __version__
    from gdb_gomem.frontends.gdb import register

    names = register()
    print(f"gdb-gomem {__version__} loaded: gomem {{{','.join(names)}}} (help gomem)")


_main()
