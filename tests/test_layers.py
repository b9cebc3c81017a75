"""The package's layers hold: every import of a gdb_gomem module, at module level or inside
a function, goes to the same layer or one it is allowed to use, never up.

The allowed edges are the architecture (README, "Architecture"); a change that needs another
edge changes this table on purpose, in review, instead of by accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "gdb_gomem"

#: Layer -> the layers it may import (besides itself). Lowest first.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "symbols": {"base"},
    "target": {"base", "symbols"},
    "runtime": {"base", "symbols", "target"},
    "goroutines": {"base", "symbols", "target", "runtime"},
    "heap": {"base", "symbols", "target", "runtime", "goroutines"},
    "snapshots": {"base", "symbols", "target", "runtime", "goroutines", "heap"},
    "reports": {"base", "symbols", "target", "runtime", "goroutines", "heap", "snapshots"},
    "commands": {
        "base",
        "symbols",
        "target",
        "runtime",
        "goroutines",
        "heap",
        "snapshots",
        "reports",
    },
    "adapters": {"base", "symbols", "target"},
    "frontends": {
        "base",
        "symbols",
        "target",
        "runtime",
        "goroutines",
        "heap",
        "snapshots",
        "reports",
        "commands",
        "adapters",
    },
}
#: Modules at the package's top: the version (importable by all) and gdb's entry script.
TOP_LEVEL = {"__init__": set(), "init": {"frontends"}}


def _layer_of_file(path: Path) -> str:
    rel = path.relative_to(PKG)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _imported_layers(path: Path) -> list[tuple[int, str, str]]:
    """(line, imported module, its layer) for every gdb_gomem import in the file."""
    tree = ast.parse(path.read_text(), str(path))
    pkg_parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if pkg_parts[-1] == "__init__":
        pkg_parts.pop()
    else:
        pkg_parts = pkg_parts[:-1]
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg_parts[: len(pkg_parts) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            names = [mod] if node.module else [f"{mod}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "gdb_gomem":
                continue
            layer = parts[1] if len(parts) > 1 else "__init__"
            out.append((node.lineno, name, layer))
    return out


def _modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_module_belongs_to_a_known_layer() -> None:
    unknown = {
        str(p.relative_to(PKG))
        for p in _modules()
        if _layer_of_file(p) not in ALLOWED and _layer_of_file(p) not in TOP_LEVEL
    }
    assert not unknown, f"modules outside the layer table: {sorted(unknown)}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_flow_down(path: Path) -> None:
    layer = _layer_of_file(path)
    allowed = ALLOWED.get(layer, TOP_LEVEL.get(layer, set())) | {layer, "__init__"}
    bad = [
        f"line {line}: {name} ({target} is not below {layer})"
        for line, name, target in _imported_layers(path)
        if target not in allowed
    ]
    assert not bad, "\n".join(bad)


def test_no_folder_is_crowded() -> None:
    """A newcomer scans a folder at a glance: at most 15 modules in any one."""
    for d in [PKG, *[p for p in PKG.rglob("*") if p.is_dir() and p.name != "__pycache__"]]:
        mods = [p for p in d.glob("*.py") if p.name != "__init__.py"]
        assert len(mods) <= 15, f"{d.relative_to(PKG.parent)} holds {len(mods)} modules"


def test_analysis_never_imports_gdb() -> None:
    """Only the gdb adapter and front end may import gdb's module."""
    may = {"adapters/gdbinferior.py", "frontends/gdb.py", "frontends/gdbwatch.py"}
    for p in _modules():
        rel = str(p.relative_to(PKG))
        if rel in may:
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                assert all(a.name != "gdb" for a in node.names), rel
            elif isinstance(node, ast.ImportFrom) and not node.level:
                assert node.module != "gdb", rel
