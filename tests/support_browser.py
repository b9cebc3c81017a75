"""Headless Chromium for the tests that look at the HTML report as a browser renders it.

:func:`chromium` finds ``chromium`` on PATH or, when the tests run as root, installs Debian's
package (``apt-get install -y chromium``, after ``apt-get update`` when the first attempt
fails); otherwise the test is skipped with the command to run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import pytest

NAMES = ("chromium", "chromium-browser")
#: Each chromium run; an install may take minutes.
TIMEOUT = 60
INSTALL_TIMEOUT = 900


def _which() -> str | None:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _apt(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(
        ["apt-get", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=INSTALL_TIMEOUT,
        check=False,
    )


@cache
def _install() -> str | None:
    """Install Debian's chromium; the reason it failed, or None."""
    if shutil.which("apt-get") is None:
        return "no apt-get here: install Chromium and put `chromium` on PATH"
    res = _apt("install", "-y", "chromium")
    if res.returncode != 0:
        upd = _apt("update")
        if upd.returncode != 0:
            return f"apt-get update failed: {upd.stderr.strip()[-400:]}"
        res = _apt("install", "-y", "chromium")
    if res.returncode != 0:
        return f"apt-get install -y chromium failed: {res.stderr.strip()[-400:]}"
    return None


def chromium() -> str:
    """The chromium executable; installs it when running as root, else skips the test."""
    path = _which()
    if path:
        return path
    if os.geteuid() != 0:
        pytest.skip("chromium is not on PATH (as root: apt-get install -y chromium)")
    why = _install()
    path = _which()
    if path is None:
        pytest.skip(f"chromium could not be installed: {why or 'not on PATH after install'}")
    return path


def _argv(exe: str, *extra: str) -> list[str]:
    return [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--hide-scrollbars",
        *extra,
    ]


def _run(exe: str, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _argv(exe, f"--user-data-dir={profile}", *extra),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env=dict(os.environ, HOME=str(profile)),
    )


def dump_dom(page: Path, fragment: str = "") -> str:
    """The DOM after the page's scripts ran (``--dump-dom``)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="gomem-chromium-") as tmp:
        url = page.resolve().as_uri() + fragment
        res = _run(exe, Path(tmp), "--virtual-time-budget=5000", "--dump-dom", url)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "<html" in res.stdout, res.stderr[-2000:]
    return res.stdout


def screenshot(page: Path, png: Path, size: str = "1400,2000") -> Path:
    """A PNG of the page at ``size`` (width,height)."""
    exe = chromium()
    with tempfile.TemporaryDirectory(prefix="gomem-chromium-") as tmp:
        res = _run(
            exe,
            Path(tmp),
            f"--screenshot={png}",
            f"--window-size={size}",
            "--virtual-time-budget=5000",
            page.resolve().as_uri(),
        )
    assert res.returncode == 0, res.stderr[-2000:]
    return png
