"""Go type names as Go prints them, from the names DWARF gives (gdb_gomem.symbols.gonames)."""

from __future__ import annotations

import pytest

from gdb_gomem.symbols.gonames import go_name, package_of


@pytest.mark.parametrize(
    "dwarf,go",
    [
        ("*internal/abi.Type", "*abi.Type"),
        ("map[string]*gomem.test/leaky/pkg.T", "map[string]*pkg.T"),
        ("hash<string,*main.Entry>", "map[string]*main.Entry"),
        ("map<int,int>", "map[int]int"),
        ("bucket<string,*main.Entry>", "map.bucket[string]*main.Entry"),
        ("table<string,*main.Entry>", "map.table[string]*main.Entry"),
        ("noalg.map.group[string]*main.Entry", "map.group[string]*main.Entry"),
        ("hchan<int>", "chan int"),
        ("hash<func(int, int),[]internal/abi.Type>", "map[func(int, int)][]abi.Type"),
        ("[]main.Item", "[]main.Item"),
    ],
)
def test_go_names(dwarf: str, go: str) -> None:
    assert go_name(dwarf) == go


def test_package_of() -> None:
    assert package_of("map[string]*main.Entry") == "main"
    assert package_of("[4]*internal/abi.Type") == "internal/abi"
    assert package_of("string") == ""
    assert package_of("hash<string,*main.Entry>") == "main"
