"""The gdb inferior (a core gdb opened, or a live process) as a :class:`GoProcess`.

Memory goes through ``Inferior.read_memory`` (one call per bulk read; gdb itself supplies the
read-only pages of a core from the executable); a live process's through ``/proc/PID/mem``
first. Threads, their registers and the stop signal
come from gdb's thread list and ``$_siginfo``. Only this module and the gdb front end import gdb.
"""

from __future__ import annotations

import os
import re

import gdb

from gdb_gomem.adapters.corefile import CoreFile, truncation_warning
from gdb_gomem.base.errors import BadFile, UnreadableMemory
from gdb_gomem.symbols.binary import GoBinary
from gdb_gomem.target.memory import (
    MappedView,
    Memory,
    StopInfo,
    ThreadInfo,
    check_read,
    is_fault_signal,
)
from gdb_gomem.target.process import GoProcess

_REGS = ("rip", "rsp", "rbp", "fs_base")


class GdbMemory(Memory):
    """Reads through gdb; a live process gdb traces is read through ``/proc/PID/mem`` first
    (one ``pread`` per range, many times faster than ``read_memory`` for bulk passes: the
    tracer may read its stopped tracee's memory), falling back to gdb where that fails."""

    def __init__(self, inferior: gdb.Inferior, live_pid: int = 0) -> None:
        self.inferior = inferior
        self._fd: int | None = None
        if live_pid:
            try:
                self._fd = os.open(f"/proc/{live_pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._fd = None

    def __del__(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass

    def read(self, addr: int, size: int) -> bytes:
        if size <= 0:
            return b""
        check_read(addr, size)
        if self._fd is not None:
            try:
                data = os.pread(self._fd, size, addr)
                if len(data) == size:
                    return data
            except (OSError, OverflowError):
                pass
        try:
            return self.inferior.read_memory(addr, size).tobytes()
        except (gdb.MemoryError, gdb.error, OverflowError, ValueError) as exc:
            raise UnreadableMemory(addr, size, f"gdb cannot read it ({exc})") from None

    def mapped_view(self) -> MappedView | None:
        """None: gdb lends no mapping of the inferior (every access copies through
        ``read_memory``), so bulk passes read what they need once, in merged reads."""
        return None


def target_kind(inf: gdb.Inferior) -> str:
    """ "core" for a core file, else the connection's kind ("native" for a process)."""
    conn = getattr(inf, "connection", None)
    kind = getattr(conn, "type", None)
    if kind is None:  # gdb < 12: ask `info target`
        text = gdb.execute("info target", to_string=True)
        kind = "core" if "core dump file" in text else "native"
    return str(kind)


def _read_threads(inf: gdb.Inferior) -> list[ThreadInfo]:
    """Each thread's LWP and a few registers, in the core's note order (gdb's num order)."""
    out: list[ThreadInfo] = []
    selected = gdb.selected_thread()
    try:
        for th in sorted(inf.threads(), key=lambda t: t.num):
            regs: dict[str, int] = {}
            try:
                th.switch()
                frame = gdb.newest_frame()
                for r in _REGS:
                    regs[r] = int(frame.read_register(r)) & ((1 << 64) - 1)
            except gdb.error:
                pass
            out.append(ThreadInfo(th.ptid[1] or th.ptid[0], regs))
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()
    return out


def _siginfo(thread: gdb.InferiorThread | None) -> tuple[int, int, int, int]:
    """(signo, code, si_addr, si_pid) from ``$_siginfo`` of a thread (zeros if unknown)."""
    if thread is None:
        return 0, 0, 0, 0
    selected = gdb.selected_thread()
    try:
        thread.switch()
        si = gdb.parse_and_eval("$_siginfo")
        signo = int(si["si_signo"])
        code = int(si["si_code"])
        addr = sender = 0
        if is_fault_signal(signo):
            addr = int(si["_sifields"]["_sigfault"]["si_addr"]) & ((1 << 64) - 1)
        elif code <= 0:
            sender = int(si["_sifields"]["_kill"]["si_pid"])
        return signo, code, addr, sender
    except gdb.error:
        return 0, 0, 0, 0
    finally:
        if selected is not None and selected.is_valid():
            selected.switch()


_CHECKED: dict[tuple[str, int, int], None] = {}


def check_core_file() -> None:
    """Validate the core gdb opened exactly as the standalone CLI does (headers, notes,
    truncation: :class:`~gdb_gomem.adapters.corefile.CoreFile`): gdb itself reads a core cut
    in half, or one with damaged notes, without a word, and gomem must not analyse it."""
    text = gdb.execute("info target", to_string=True)
    m = re.search(r"core dump file:\s*`([^']+)'", text)
    if m is None:
        return
    path = m.group(1)
    try:
        st = os.stat(path)
    except OSError:
        return  # gdb has it open; a core deleted since cannot be checked again
    key = (path, st.st_size, st.st_mtime_ns)
    if key in _CHECKED:
        return
    core = CoreFile(path)  # GOMEM_ALLOW_TRUNCATED=1 lets a cut-off core through
    if core.truncation is not None:
        gdb.write(truncation_warning(path, *core.truncation) + "\n", gdb.STDERR)
    core.close()
    _CHECKED[key] = None


def process_from_gdb() -> GoProcess:
    """The selected inferior as a GoProcess (raises BadFile with the next step if none)."""
    inf = gdb.selected_inferior()
    space = gdb.current_progspace()
    path = space.filename if space is not None else None
    if not path:
        raise BadFile("no executable is loaded in gdb", "load the Go program first: `file BINARY`")
    if inf.pid == 0:
        raise BadFile(
            "no process or core is loaded in gdb",
            "open a core with `core-file CORE`, attach with `attach PID`, or `run` the program",
        )
    binary = GoBinary(path)
    kind = target_kind(inf)
    live = kind != "core"
    thread: gdb.InferiorThread | None
    if live:
        thread = gdb.selected_thread()
        name = f"pid {inf.pid}"
    else:
        check_core_file()
        # gdb numbers a core's threads in note order: #1 took the signal that dumped it.
        threads = sorted(inf.threads(), key=lambda t: t.num)
        thread = threads[0] if threads else None
        name = f"core of pid {inf.pid}"
    lwp = thread.ptid[1] if thread is not None else None
    stop = StopInfo.from_siginfo(*_siginfo(thread), lwp, live=live)
    mem = GdbMemory(inf, inf.pid if live else 0)
    proc = GoProcess(binary, mem, lambda: _read_threads(inf), stop, target_name=name)
    proc.check_matches_binary()
    return proc
