"""The toy kernel's state and plumbing: text symbols, hooks, tasks, dispatch, traces, stops."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

import abi
from abi.signals import RESTART_ERRNOS
from simulator.cpu import CPU, AddressSpace
from simulator.cpu.control import CR0_PG
from simulator.cpu.faults import FaultSignal
from simulator.cpu.memory import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, READ, USER, WRITE
from simulator.cpu.registers import RFLAGS, RIP
from simulator.kernel import linux316 as L
from simulator.kernel.task import Task
from simulator.kernel.timekeeping import Timekeeper
from simulator.trace import KERNEL, NOT_MODELED, Trace

Hook = Callable[["Kernel"], None]

#: The entry routines' tails by name: what runs after a handler returns (or, for a handler
#: that slept, after it runs again). Each entry module registers its own; ptrace's stops
#: resume through them too (simulator.kernel.ptrace re-exports this dict).
CONTINUATIONS: dict[str, Callable[..., None]] = {}


class KernelStop(Exception):
    """A modeled kernel routine ends the run: the task exited, was killed, or the kernel oopsed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Sleep(Exception):
    """A handler must wait (a blocking read on an empty pipe): the task sleeps, and the call
    runs again from the handler when it is woken."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Kernel:
    """One booted kernel on one CPU.

    ``symbols`` maps kernel symbols to addresses in kernel text; a symbol is
    either real machine code the CPU executes (the exits: SWAPGS, SYSRETQ,
    SYSEXIT, IRETQ) or a hook where a modeled routine runs in Python.
    ``trace`` is the Trace of the call in progress, or None (tracing off).
    """

    def __init__(self, cpu: CPU, kind: str, vendor: str, *, options: dict[str, Any]) -> None:
        self.cpu = cpu
        self.kind = kind
        self.vendor = vendor
        self.options = options
        self.map = L.MAP_64 if kind == "x86_64" else L.MAP_32
        self.word_bits = 64 if kind == "x86_64" else 32
        self.user_limit = L.TASK_SIZE_MAX_64 if kind == "x86_64" else L.PAGE_OFFSET_32
        self.kspace = AddressSpace("kernel half")
        # The kernel's TLB for its own pages (see _kernel_page): vpn -> page bytes.
        self._kernel_base = self.map.split
        self._ktlb_read: dict[int, bytearray] = {}
        self._ktlb_write: dict[int, bytearray] = {}
        self._ktlb_generation = -1
        self._ktlb_perm: object = None
        self.symbols: dict[str, int] = {}
        self.addresses: dict[int, str] = {}
        self._text_cursor = self.map.kernel_text
        self.kspace.map(self.map.kernel_text, 0x10000, user=False, writable=False, zero=True)
        self.tasks: dict[int, Task] = {}
        self.current: Task | None = None
        self.trace: Trace | None = None
        self.stopped: KernelStop | None = None
        self.unmodeled: list[str] = []
        self.timekeeper = Timekeeper(wide=kind == "x86_64")
        self.fs: Any = None
        self.tables: dict[str, abi.KernelSyscallTable] = {}
        self.vdso_variant: Any = None
        self.handlers: dict[str, Callable[..., int]] = {}
        # The raw_syscalls tracepoint stream and the audit records (simulator.kernel.ptrace).
        self.tracepoints: list[Any] = []
        self.audit: list[Any] = []
        self.syscall_tracepoint = False
        self.pipes = 0
        self.audit_enabled = False

    # ---------------------------------------------------------------- text

    def routine(self, *parts: tuple[str | None, bytes | Hook]) -> int:
        """Lay out one routine in kernel text: labelled parts, each real code or a hook.

        Parts are consecutive, so a hook that does not jump elsewhere falls
        through into the next part (a hook occupies one byte, a NOP nobody
        executes). Returns the address of the first part.
        """
        start = self._text_cursor
        address = start
        for label, part in parts:
            if label is not None:
                if label in self.symbols:
                    raise ValueError(f"kernel symbol {label!r} placed twice")
                self.symbols[label] = address
                self.addresses[address] = label
            if callable(part):
                self.cpu.hooks[address] = self._hook(part, address)
                self.kspace.poke(address, b"\x90")
                address += 1
            else:
                self.kspace.poke(address, part)
                address += len(part)
        self._text_cursor = (address + 15) & ~15
        return start

    def _hook(self, hook: Hook, address: int) -> Callable[[CPU], bool | None]:
        """The CPU hook that runs a modeled routine: True when the run must end (the routine
        stopped it, or faulted outside any fixup; ``stopped`` says why)."""
        r = self.cpu.r

        def run(_cpu: CPU) -> bool | None:
            try:
                hook(self)
            except KernelStop as stop:
                self.stopped = stop
                return True
            except FaultSignal as signal:
                self.stopped = KernelStop("oops", f"kernel fault outside any fixup: {signal.fault}")
                return True
            if r[RIP] == address:
                r[RIP] = address + 1
            return None

        return run

    def stop(self, reason: str, detail: str) -> None:
        """End the run from inside a modeled routine."""
        raise KernelStop(reason, detail)

    # ---------------------------------------------------------------- helpers

    def note(self, where: str, what: str, changes: tuple = ()) -> None:
        """Record a modeled step at the CPU's current ring (free when tracing is off)."""
        if self.trace is not None:
            self.trace.record(KERNEL, self.cpu.cpl, where, what, changes)

    def errno(self, name: str) -> int:
        """An errno by name, the kernel-internal restart codes included (include/linux/errno.h:
        ERESTARTSYS 512 and the rest, which never reach user space)."""
        if name in RESTART_ERRNOS:
            return RESTART_ERRNOS[name]
        return abi.errno_number(name)

    def _kernel_page(self, address: int, size: int, write: bool) -> bytearray | None:
        """The bytes of the kernel-half page holding ``address`` (all ``size`` bytes on it),
        from a small TLB of the kernel's own pages, or None to take the CPU's checked path.

        A page gets in only after the CPU's own check of the same access at CPL 0 passed, and
        only a supervisor page (a user-accessible one, such as the vsyscall page, depends on
        SMAP and RFLAGS.AC at each access). The TLB is emptied whenever what that check
        depended on changes: the kernel half's mappings or rights (its generation count), or
        the CPU's paging controls (CR0.WP, CR4.SMEP/SMAP/PAE, EFER.NXE: its rights tables);
        and it is not used off CPL 0 or with paging off. Writes still drop the decode cache
        of a page that holds decoded code. kread, kwrite and the word forms make the same
        checks inline for a page already in the TLB."""
        off = address & PAGE_MASK
        if off + size > PAGE_SIZE or address < self._kernel_base:
            return None
        cpu = self.cpu
        if cpu.cpl != 0 or not cpu._cr0 & CR0_PG:
            return None
        ks = self.kspace
        if self._ktlb_generation != ks.generation or self._ktlb_perm is not cpu._perm:
            self._ktlb_read.clear()
            self._ktlb_write.clear()
            self._ktlb_generation = ks.generation
            self._ktlb_perm = cpu._perm
        cache = self._ktlb_write if write else self._ktlb_read
        vpn = address >> PAGE_SHIFT
        page = cache.get(vpn)
        if page is None:
            entry = ks.pages.get(vpn)
            if entry is None or entry.flags & USER or cpu.space.lookup(vpn) is not entry:
                return None  # not mapped, user-accessible, or not the shared kernel page
            page = cpu._page_for(address, WRITE if write else READ, False, False)
            cache[vpn] = page
        if write:
            self._kernel_code_written(address)
        return page

    # kread, kwrite and the word forms first try the TLB inline: _kernel_page's checks for a
    # page already in it (CPL 0, paging on, the TLB still valid, the bytes on one page),
    # written out in each, because these run several times in every system call and a
    # call to a shared check costs as much as the check.

    def kread(self, address: int, size: int) -> int:
        """A kernel read of kernel memory (a bug in ringsim if it faults)."""
        cpu = self.cpu
        off = address & PAGE_MASK
        if (
            not cpu.cpl
            and cpu._cr0 & CR0_PG
            and self._ktlb_generation == self.kspace.generation
            and self._ktlb_perm is cpu._perm
            and off + size <= PAGE_SIZE
        ):
            page = self._ktlb_read.get(address >> PAGE_SHIFT)
            if page is not None:
                return _ONE[size].unpack_from(page, off)[0]
        page = self._kernel_page(address, size, False)
        if page is None:
            return int.from_bytes(cpu._read_bytes(address, size, READ), "little")
        return _ONE[size].unpack_from(page, off)[0]

    def kwrite(self, address: int, value: int, size: int) -> None:
        """A kernel write of kernel memory: ``value`` cut to ``size`` bytes, little-endian."""
        cpu = self.cpu
        off = address & PAGE_MASK
        value &= _MASKS[size]
        if (
            not cpu.cpl
            and cpu._cr0 & CR0_PG
            and self._ktlb_generation == self.kspace.generation
            and self._ktlb_perm is cpu._perm
            and off + size <= PAGE_SIZE
        ):
            page = self._ktlb_write.get(address >> PAGE_SHIFT)
            if page is not None:
                self._kernel_code_written(address)
                _ONE[size].pack_into(page, off, value)
                return
        page = self._kernel_page(address, size, True)
        if page is None:
            cpu._write_bytes(address, value.to_bytes(size, "little"))
            return
        _ONE[size].pack_into(page, off, value)

    def kwrite_words(self, address: int, values: list[int], size: int) -> None:
        """Store ``values`` as little-endian words of ``size`` bytes (each cut to the size)."""
        cpu = self.cpu
        off = address & PAGE_MASK
        fmt = _words(len(values), size)
        cut = map(_MASKS[size].__and__, values)
        if (
            not cpu.cpl
            and cpu._cr0 & CR0_PG
            and self._ktlb_generation == self.kspace.generation
            and self._ktlb_perm is cpu._perm
            and off + fmt.size <= PAGE_SIZE
        ):
            page = self._ktlb_write.get(address >> PAGE_SHIFT)
            if page is not None:
                self._kernel_code_written(address)
                fmt.pack_into(page, off, *cut)
                return
        page = self._kernel_page(address, fmt.size, True)
        if page is None:
            cpu._write_bytes(address, fmt.pack(*cut))
            return
        fmt.pack_into(page, off, *cut)

    def kread_words(self, address: int, count: int, size: int) -> list[int]:
        """Load ``count`` little-endian words of ``size`` bytes."""
        cpu = self.cpu
        off = address & PAGE_MASK
        fmt = _words(count, size)
        if (
            not cpu.cpl
            and cpu._cr0 & CR0_PG
            and self._ktlb_generation == self.kspace.generation
            and self._ktlb_perm is cpu._perm
            and off + fmt.size <= PAGE_SIZE
        ):
            page = self._ktlb_read.get(address >> PAGE_SHIFT)
            if page is not None:
                return list(fmt.unpack_from(page, off))
        page = self._kernel_page(address, fmt.size, False)
        if page is None:
            return list(fmt.unpack(cpu._read_bytes(address, fmt.size, READ)))
        return list(fmt.unpack_from(page, off))

    def _kernel_code_written(self, address: int) -> None:
        """A write through the TLB drops the decoded instructions of its page, as the CPU's own
        writes do (simulator.cpu.memory.AddressSpace.code_changed)."""
        ks = self.kspace
        vpn = address >> PAGE_SHIFT
        if vpn in ks.code_vpns or (vpn - 1) in ks.code_vpns:
            ks.code_changed(vpn)

    def enable_interrupts(self) -> None:
        self.cpu.r[RFLAGS] |= 0x200

    def disable_interrupts(self) -> None:
        self.cpu.r[RFLAGS] &= ~0x200

    # ---------------------------------------------------------------- dispatch

    def call_table(self, table: str, number: int, args: tuple[int, ...]) -> int:
        """``call *<table>(,%rax,8)``: run the handler of entry ``number``, return its value."""
        entry = self.tables[table].entries[number]
        handler = self.handlers.get(entry)
        if handler is None:
            if entry in ("sys_ni_syscall", "compat_ni_syscall"):
                self.note(
                    f"{entry} (kernel/sys_ni.c)",
                    f"{table}[{number}] is a hole: -ENOSYS",
                )
                return -self.errno("ENOSYS")
            return self.not_modeled(entry, f"{table}[{number}] = {entry}")
        if self.trace is not None:
            self.note_table_call(table, number)
        return handler(self, *args)

    def note_table_call(self, table: str, number: int) -> None:
        """The ``call *<table>(,%rax,8)`` step: which slot, and what it holds (a handler or,
        for execve, sigreturn and friends, the assembly stub that saves the rest of pt_regs
        first)."""
        if self.trace is None:
            return
        entry = self.tables[table].entries[number]
        self.note(
            f"{table} ({self.tables[table].source})",
            f"call *{table}(,%rax,{8 if self.kind == 'x86_64' else 4}) -> "
            f"{table}[{number}] = {entry}",
        )

    def call_or_sleep(
        self, table: str, number: int, args: tuple[int, ...], after: str, extra: tuple = ()
    ) -> None:
        """``call *<table>`` and then the entry routine's own tail, ``after`` (a name in
        CONTINUATIONS, called with the result and ``extra``). A
        handler that must wait raises Sleep: the task sleeps (schedule()), the run ends, and
        when the task is woken the same call runs again and the tail follows."""
        try:
            result = self.call_table(table, number, args)
        except Sleep as sleep:
            task = self.current
            assert task is not None
            task.resume = ("syscall_sleep", table, number, args, after, extra)
            self.note("schedule (kernel/sched/core.c)", f"{sleep.detail}: TASK_INTERRUPTIBLE")
            self.cpu.r[RIP] = self.symbols["ptrace_stop_resume"]
            self.stop("blocked", sleep.detail)
            return
        CONTINUATIONS[after](self, result, *extra)

    def call_stub(self, stub: str, target: str, number: int, args: tuple[int, ...]) -> int:
        """A stub's ``call <target>`` (sys_execve from stub_execve, ...)."""
        ia32 = stub.startswith("stub32_")
        source = "arch/x86/ia32/ia32entry.S" if ia32 else "arch/x86/kernel/entry_64.S"
        self.note(f"{stub} ({source})", f"call {target}")
        handler = self.handlers.get(target)
        if handler is None:
            return self.not_modeled(target, f"{stub} -> {target}")
        return handler(self, *args)

    def not_modeled(self, entry: str, detail: str) -> int:
        """A real kernel function ringsim does not model: say so, and answer a placeholder."""
        self.unmodeled.append(entry)
        if self.trace is not None:
            self.trace.record(
                NOT_MODELED,
                self.cpu.cpl,
                entry,
                f"{detail}: not modeled by ringsim (-ENOSYS here is ringsim's placeholder, "
                "not Linux's answer)",
            )
        return -self.errno("ENOSYS")

    def new_address_space(self, name: str) -> AddressSpace:
        """An mm whose kernel half is the shared one."""
        return AddressSpace(name, shared=self.kspace, split=self.map.split)

    def tls_base_index(self) -> int:
        return L.GDT_ENTRY_TLS_MIN_64 if self.kind == "x86_64" else L.GDT_ENTRY_TLS_MIN_32

    def load_tls(self, task: Task) -> None:
        """load_TLS: copy the task's three TLS descriptors into the GDT."""
        if task is not self.current:
            return
        base = self.map.gdt + self.tls_base_index() * 8
        self.kspace.poke(base, b"".join(d.to_bytes(8, "little") for d in task.tls))

    def guard(self, fn: Callable[[], int]) -> int:
        """Run a handler body; a FaultSignal that escapes it is a kernel bug: an oops."""
        try:
            return fn()
        except FaultSignal as signal:
            self.stop("oops", f"kernel fault outside any fixup: {signal.fault}")
            return 0


@functools.cache
def _words(count: int, size: int) -> struct.Struct:
    """The struct format of ``count`` little-endian unsigned words of ``size`` bytes."""
    return struct.Struct(f"<{count}{ {1: 'B', 2: 'H', 4: 'I', 8: 'Q'}[size] }")


_ONE = {size: _words(1, size) for size in (1, 2, 4, 8)}
_MASKS = {size: (1 << (8 * size)) - 1 for size in (1, 2, 4, 8)}
