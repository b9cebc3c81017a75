"""Unwind Go stacks from memory with the function table, as runtime/traceback.go does.

gdb's unwinder only sees OS threads; a parked goroutine exists only as ``g.sched`` and its
stack. The runtime's own rules (amd64, no link register):

- frame size: ``fp = sp + pcsp(pc) + 8`` (the CALL pushed the return address), return address
  at ``fp - 8``, the caller's ``sp = fp``;
- file:line of a return address is looked up at ``pc - 1`` (the CALL instruction), except for
  the innermost frame of a trap and for the frame that a signal interrupted (after sigpanic);
- a function flagged TOPFRAME (goexit, mstart, rt0_go, sigtramp...) ends the stack; one flagged
  SPWRITE (gogo, systemstack on g0...) cannot be unwound through and ends it too;
- inlined calls are expanded with the InlTree funcdata and the InlTreeIndex pcdata.

Signal frames: ``runtime.sigtramp`` is entered by the kernel with the ``rt_sigframe`` on the
stack (return address, then ``ucontext``); gomem continues into the interrupted code from the
saved ``uc_mcontext`` registers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gdb_gomem.base.errors import UnreadableMemory
from gdb_gomem.symbols.inltree import InlineTree
from gdb_gomem.symbols.pclntab import (
    FUNC_FLAG_SPWRITE,
    FUNC_FLAG_TOPFRAME,
    Func,
    PclntabError,
    func_id_name,
)
from gdb_gomem.target.context import Lazy
from gdb_gomem.target.memory import ThreadInfo
from gdb_gomem.target.process import GoProcess

MAX_FRAMES = 4096
#: ucontext_t.uc_mcontext on linux/amd64: uc_flags (8) + uc_link (8) + uc_stack (24).
_UC_MCONTEXT = 40
#: gregs indexes in mcontext_t (sys/ucontext.h): REG_RSP = 15, REG_RIP = 16, REG_RBP = 10.
_REG_RBP, _REG_RSP, _REG_RIP = 10, 15, 16


@dataclass
class Frame:
    """One frame of a backtrace (an inlined call shares pc/sp with the frame it sits in)."""

    func: str
    file: str
    line: int
    pc: int
    sp: int
    fp: int
    entry: int
    inlined: bool = False
    func_id: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "func": self.func,
            "file": self.file,
            "line": self.line,
            "pc": f"{self.pc:#x}",
            "sp": f"{self.sp:#x}",
            "inlined": self.inlined,
        }


@dataclass(frozen=True)
class _PcInfo:
    func: Func
    func_id: str
    sp_delta: int
    frames: tuple[tuple[str, str, int, bool, str], ...]


@dataclass
class Backtrace:
    frames: list[Frame]
    error: str | None = None  # why the walk stopped early, if it did


class Unwinder:
    """Per-process unwinding state (function table, inline trees)."""

    def __init__(self, proc: GoProcess) -> None:
        self.proc = proc
        self.tab = proc.pclntab
        self.version = proc.go_version
        self.inl = InlineTree(self.tab, proc.dw, proc.mem.read)

        # Per (pc, exact) decoding, shared by every goroutine parked at the same place: a
        # goroutine leak is thousands of identical stacks.
        self._pc_cache: dict[tuple[int, bool], _PcInfo] = {}

    def _pc_info(self, pc: int, exact: bool) -> _PcInfo:
        key = (pc, exact)
        info = self._pc_cache.get(key)
        if info is None:
            f = self.tab.find_func(pc)
            if f is None:
                raise PclntabError(f"pc {pc:#x} is not in Go code")
            tracepc = pc if exact or pc == f.entry else pc - 1
            delta = self.tab.sp_delta(f, pc)
            frames = tuple(
                (fr.func, fr.file, fr.line, fr.inlined, fr.func_id)
                for fr in self._expand(f, pc, tracepc, 0, 0)
            )
            info = _PcInfo(f, self.func_id(f), delta, frames)
            if len(self._pc_cache) < 1 << 20:
                self._pc_cache[key] = info
        return info

    def func_id(self, f: Func) -> str:
        try:
            return func_id_name(f.func_id, self.version)
        except ValueError:
            return ""

    def _expand(self, f: Func, pc: int, tracepc: int, sp: int, fp: int) -> list[Frame]:
        """The inlined calls at tracepc (innermost first), then the physical frame."""
        fid = self.func_id(f)
        return [
            Frame(
                fr.func,
                fr.file,
                fr.line,
                pc,
                sp,
                fp,
                f.entry,
                fr.inlined,
                "" if fr.inlined else fid,
            )
            for fr in self.inl.frames(f, tracepc)
        ]

    def unwind(
        self,
        pc: int,
        sp: int,
        lo: int = 0,
        hi: int = 1 << 64,
        *,
        trap: bool = False,
        max_frames: int = MAX_FRAMES,
        jump: Callable[[], tuple[int, int] | None] | None = None,
    ) -> Backtrace:
        """Walk from (pc, sp) to the top of the stack; ``trap``: pc is exact, not a return.

        ``jump`` gives the (pc, sp) where a g0 stack continues when the walk reaches
        ``systemstack``/``morestack``: the M's current goroutine's ``sched``, as the runtime's
        own unwinder does (``unwindJumpStack``). Called at most once.
        """
        frames: list[Frame] = []
        mem = self.proc.mem
        after_signal = trap
        # One read of the stack from sp to its top serves every return-address load below.
        window, wbase = b"", 0
        if hi - sp <= 1 << 20 and lo <= sp < hi:
            try:
                window, wbase = mem.read(sp, hi - sp), sp
            except UnreadableMemory:
                window = b""

        def load(addr: int) -> int:
            off = addr - wbase
            if window and 0 <= off <= len(window) - 8:
                return int.from_bytes(window[off : off + 8], "little")
            return mem.u64(addr)

        for depth in range(max_frames):
            try:
                info = self._pc_info(pc, after_signal)
            except (PclntabError, UnreadableMemory) as exc:
                return Backtrace(frames, f"pc {pc:#x}: {exc}")
            f, fid = info.func, info.func_id
            fp = sp + info.sp_delta + 8
            for name, file, line, inlined, func_id in info.frames:
                frames.append(Frame(name, file, line, pc, sp, fp, f.entry, inlined, func_id))
            if fid == "sigtramp" or f.name == "runtime.sigtramp":
                # Continue in the code the signal interrupted, from the saved registers.
                try:
                    mctx = fp + _UC_MCONTEXT
                    pc = mem.u64(mctx + 8 * _REG_RIP)
                    sp = mem.u64(mctx + 8 * _REG_RSP)
                except UnreadableMemory as exc:
                    return Backtrace(frames, f"signal frame unreadable: {exc}")
                after_signal = True
                continue
            if fid in ("systemstack", "morestack") and jump is not None:
                target = jump()
                jump = None
                if target is not None:
                    pc, sp = target
                    lo, hi = 0, 1 << 64
                    after_signal = False
                    continue
            if f.flag & FUNC_FLAG_TOPFRAME:
                return Backtrace(frames)
            if f.flag & FUNC_FLAG_SPWRITE and depth > 0:
                return Backtrace(frames, f"stops at {f.name}, which switches stacks")
            try:
                lr = load(fp - 8)
            except UnreadableMemory as exc:
                return Backtrace(frames, f"return address unreadable: {exc}")
            if lr == 0:
                return Backtrace(frames)
            if not lo <= fp < hi or fp <= sp:
                return Backtrace(frames, f"frame pointer {fp:#x} leaves the stack")
            after_signal = fid == "sigpanic"
            pc, sp = lr, fp
        return Backtrace(frames, f"more than {max_frames} frames; walk stopped")


UNWINDER: Lazy[Unwinder] = Lazy("unwinder", Unwinder)


def unwinder(proc: GoProcess) -> Unwinder:
    return UNWINDER(proc)


def _thread_of_m(proc: GoProcess, m_addr: int) -> ThreadInfo | None:
    from gdb_gomem.goroutines.sched import walk_ms

    if not m_addr:
        return None
    ms, _err = walk_ms(proc)
    for m in ms:
        if m.addr == m_addr:
            for t in proc.threads:
                if t.lwp == m.procid:
                    return t
    return None


def goroutine_backtrace(proc: GoProcess, g: object) -> Backtrace:
    """The backtrace of a goroutine, from wherever its stack can be found.

    - in a system call: ``syscallpc``/``syscallsp`` (saved by entersyscall);
    - running: the registers of the OS thread whose SP lies on its stack, if any (a crash core
      holds every thread); else its ``sched``, saved when the M switched to g0 (systemstack,
      mcall), if it lies on the goroutine's stack;
    - otherwise (parked, runnable): ``sched``.
    """
    from gdb_gomem.goroutines.allgs import G_RUNNING, G_SYSCALL, Goroutine

    assert isinstance(g, Goroutine)
    u = unwinder(proc)
    lo, hi = g.stack_lo, g.stack_hi
    status = g.status & ~0x1000
    if status == G_SYSCALL and g.syscallsp:
        return u.unwind(g.syscallpc, g.syscallsp, lo, hi)
    if status == G_RUNNING:
        # Unwind its M's thread from the registers in the target and keep the frames that lie
        # on this goroutine's stack: a crash goroutine is reached through g0/gsignal frames.
        thread = _thread_of_m(proc, g.m)
        if thread is not None and thread.regs.get("rip"):
            bt = u.unwind(thread.regs["rip"], thread.regs["rsp"], trap=True)
            own = [f for f in bt.frames if lo <= f.sp < hi]
            if own:
                return Backtrace(own, bt.error)
        if not lo <= g.sched_sp < hi:
            return Backtrace([], "running on a thread whose registers are not in the target")
    if not g.sched_pc or not lo <= g.sched_sp < hi:
        return Backtrace([], f"no saved context (sched.sp {g.sched_sp:#x} is off its stack)")
    return u.unwind(g.sched_pc, g.sched_sp, lo, hi)
