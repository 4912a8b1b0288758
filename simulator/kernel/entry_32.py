"""arch/x86/kernel/entry_32.S (Linux 3.16): the i386 kernel's SYSENTER and INT 0x80 entries.

SAVE_ALL pushes gs, fs, es, ds, eax, ebp, edi, esi, edx, ecx, ebx in that
order, so the frame is struct pt_regs and, read from its bottom, the
argument list of an asmlinkage handler: ebx is argument 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import abi
from simulator.cpu import alu
from simulator.cpu import flags as F
from simulator.cpu.assembler import assemble
from simulator.cpu.registers import RAX, RBP, RBX, RCX, RDI, RDX, RFLAGS, RIP, RSI, RSP
from simulator.cpu.segments import DS, ES, FS, GS
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P
from simulator.kernel import uaccess

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/kernel/entry_32.S"
_PT = {f.name: f.offset for f in abi.PT_REGS_32}
_M32 = 0xFFFF_FFFF
GPR_ORDER = (("bx", RBX), ("cx", RCX), ("dx", RDX), ("si", RSI), ("di", RDI), ("bp", RBP))
# The work masks of asm/thread_info.h (3.16), shared with the 64-bit kernel.
TIF_WORK_SYSCALL_ENTRY = P.TIF_WORK_SYSCALL_ENTRY
TIF_ALLWORK = P.TIF_ALLWORK_MASK
_AUDIT = 1 << L.TIF_SYSCALL_AUDIT


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def place(k: Kernel) -> None:
    """Lay out entry_32.S's two entries and their exits."""
    k.routine(("ia32_sysenter_target", sysenter))
    k.routine(("system_call", system_call))
    k.routine(("sysenter_exit", assemble("sti\nsysexit", mode=32)))  # ENABLE_INTERRUPTS_SYSEXIT
    k.routine(("restore_all", restore_all), ("irq_return", assemble("iret", mode=32)))


def _save_all(k: Kernel, sp: int) -> int:
    """SAVE_ALL below an orig_eax already pushed at ``sp``: returns the new esp (= pt_regs)."""
    cpu = k.cpu
    r = cpu.r
    words = [r[reg] & _M32 for _, reg in GPR_ORDER]
    words += [r[RAX] & _M32, cpu.sel[DS], cpu.sel[ES], cpu.sel[FS], cpu.sel[GS]]
    base = sp - 11 * 4
    # Memory order from the bottom: bx cx dx si di bp ax ds es fs gs.
    k.kwrite_words(base, words[:6] + words[6:7] + words[7:], 4)
    for name, sel in (("ds", L.USER_DS_32), ("es", L.USER_DS_32), ("fs", L.KERNEL_PERCPU_32)):
        fault = cpu.load_segment(name, sel)
        if fault is not None:
            k.stop("oops", f"SAVE_ALL could not load {name}: {fault}")
    r[RSP] = base
    r[RFLAGS] &= ~F.DF  # cld
    k.note(
        where("SAVE_ALL"),
        "cld; push gs, fs, es, ds, eax, ebp, edi, esi, edx, ecx, ebx; ds = es = __USER_DS, "
        "fs = __KERNEL_PERCPU (gs is lazy)",
    )
    return base


def sysenter(k: Kernel) -> None:
    """ia32_sysenter_target (i386 kernel).

    Registers on entry (the comment above ia32_sysenter_target):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5
      ebp  user stack: 0(%ebp) is arg6
    SYSENTER_ESP points past the TSS: the first instruction loads the real
    stack from TSS.sp0.
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    sp0 = k.kread(k.map.tss + 4, 4)  # movl TSS_sysenter_sp0(%esp),%esp
    k.note(where("ia32_sysenter_target"), f"movl TSS_sysenter_sp0(%esp),%esp: esp = {sp0:#x}")
    flags = (r[RFLAGS] | 0x200) & _M32
    frame = [r[RAX] & _M32, task.sysenter_return, L.USER_CS_32, flags, r[RBP] & _M32, L.USER_DS_32]
    sp = sp0 - 6 * 4
    k.kwrite_words(sp, frame, 4)
    k.note(
        where("sysenter_past_esp"),
        f"push __USER_DS, %ebp, flags (orl $X86_EFLAGS_IF), __USER_CS, sysenter_return "
        f"({task.sysenter_return:#x}), %eax",
    )
    base = _save_all(k, sp)
    k.enable_interrupts()
    ebp = r[RBP] & _M32
    if ebp >= L.PAGE_OFFSET_32 - 3:
        k.note(
            where("ia32_sysenter_target"),
            f"cmpl $__PAGE_OFFSET-3,%ebp: {ebp:#x}: jae syscall_fault",
        )
        syscall_fault(k, base)
        return
    arg6 = uaccess.get_user(k, ebp, 4, "ia32_sysenter_target: 1: movl (%ebp),%ebp")
    if arg6 is None:
        syscall_fault(k, base)
        return
    r[RBP] = arg6
    k.kwrite(base + _PT["bp"], arg6, 4)
    k.note(
        where("ia32_sysenter_target"),
        f"1: movl (%ebp),%ebp; movl %ebp,PT_EBP(%esp): arg6 = {arg6:#x}",
    )
    if task.flags & TIF_WORK_SYSCALL_ENTRY:
        if task.flags & TIF_WORK_SYSCALL_ENTRY & ~_AUDIT:
            k.note(where("sysenter_audit"), "work other than audit: jnz syscall_trace_entry")
            syscall_trace_entry(k, base)
            return
        P.audit_entry_fast(k, task)
    _call(k, "sysenter_do_call", "sysenter_after_call", (base,))


def _sysenter_after_call(k: Kernel, result: int, base: int) -> None:
    """sysenter_after_call: PT_EAX = eax; with work pending sysexit_audit (IRET through
    syscall_exit_work), else sysenter_exit."""
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    result &= _M32
    k.kwrite(base + _PT["ax"], result, 4)
    r[RAX] = result
    k.disable_interrupts()
    if task.flags & TIF_ALLWORK:
        if task.flags & TIF_ALLWORK & ~_AUDIT:
            k.note(where("sysexit_audit"), "work pending: syscall_exit_work, leave by IRET")
            r[RSP] = base
            syscall_exit_work(k)
            r[RIP] = k.symbols["restore_all"]
            return
        P.audit_exit(k, task, result, where("sysexit_audit"))
    r[RDX] = k.kread(base + _PT["ip"], 4)
    r[RCX] = k.kread(base + _PT["sp"], 4)
    r[RBP] = 0
    # No popfl on this exit: the user gets the flags of xorl %ebp,%ebp (ZF, PF) and the
    # cld of SAVE_ALL; STI in ENABLE_INTERRUPTS_SYSEXIT sets IF.
    r[RFLAGS] = (r[RFLAGS] & ~(alu.ARITH_FLAGS | F.DF)) | F.ZF | F.PF
    # 1: mov PT_FS(%esp),%fs has an exception-table entry: "2: movl $0,PT_FS(%esp); jmp 1b".
    load_user_selector(
        k,
        base + _PT["fs"],
        "fs",
        where("sysenter_exit"),
        "mov PT_FS(%esp),%fs: {fault}; fixup: movl $0,PT_FS(%esp); jmp 1b (fs = 0)",
    )
    k.note(
        where("sysenter_exit"),
        "movl PT_EIP(%esp),%edx; movl PT_OLDESP(%esp),%ecx; xorl %ebp,%ebp; "
        "mov PT_FS(%esp),%fs; ENABLE_INTERRUPTS_SYSEXIT",
    )
    r[RIP] = k.symbols["sysenter_exit"]


def _call(k: Kernel, label: str, after: str, extra: tuple) -> None:
    """cmpl $(NR_syscalls),%eax; jae ..._badsys; call *sys_call_table(,%eax,4); then the
    entry's tail ``after`` with the result."""
    r = k.cpu.r
    table = k.tables["sys_call_table"]
    nr = r[RAX] & _M32
    if nr >= table.nr_syscalls:
        k.note(where(label), f"cmpl $(NR_syscalls),%eax: {nr:#x} >= {table.nr_syscalls}: -ENOSYS")
        P.CONTINUATIONS[after](k, -k.errno("ENOSYS") & _M32, *extra)
        return
    k.note(where(label), f"cmpl $(NR_syscalls),%eax: {nr} < {table.nr_syscalls}")
    args = tuple(r[reg] & _M32 for _, reg in GPR_ORDER)
    k.call_or_sleep("sys_call_table", nr, args, after, extra)


def syscall_fault(k: Kernel, base: int) -> None:
    """syscall_fault: PT_EAX = -EFAULT, then resume_userspace (an IRET exit)."""
    k.kwrite(base + _PT["ax"], -k.errno("EFAULT"), 4)
    k.note(where("syscall_fault"), "movl $-EFAULT,PT_EAX(%esp); jmp resume_userspace")
    k.disable_interrupts()
    k.cpu.r[RSP] = base
    k.cpu.r[RIP] = k.symbols["restore_all"]


def system_call(k: Kernel) -> None:
    """system_call (i386): INT 0x80 through the DPL 3 trap gate.

    Registers on entry (the comment above system_call):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5, ebp arg6
    The CPU pushed SS, ESP, EFLAGS, CS and EIP from TSS.ss0:esp0; a trap gate
    leaves IF set.
    """
    r = k.cpu.r
    task = k.current
    assert task is not None
    sp = (r[RSP] - 4) & _M32
    k.kwrite(sp, r[RAX] & _M32, 4)
    k.note(where("system_call"), f"pushl %eax (orig_eax {r[RAX] & _M32:#x})")
    base = _save_all(k, sp)
    if task.flags & TIF_WORK_SYSCALL_ENTRY:
        syscall_trace_entry(k, base)
        return
    _call(k, "syscall_call", "syscall_after_call", (base,))


def _syscall_exit(k: Kernel, base: int, result: int) -> None:
    """syscall_after_call: PT_EAX = eax; syscall_exit: with _TIF_ALLWORK_MASK work,
    syscall_exit_work; then restore_all."""
    r = k.cpu.r
    task = k.current
    assert task is not None
    k.kwrite(base + _PT["ax"], result, 4)
    k.note(where("syscall_after_call"), f"movl %eax,PT_EAX(%esp) ({result:#x})")
    k.disable_interrupts()
    r[RSP] = base
    if task.flags & TIF_ALLWORK:
        syscall_exit_work(k)
    r[RIP] = k.symbols["restore_all"]


def syscall_trace_entry(k: Kernel, base: int) -> None:
    """syscall_trace_entry: PT_EAX = -ENOSYS, call syscall_trace_enter; the number it returns
    goes to syscall_call (below NR_syscalls) or straight to syscall_exit."""
    k.kwrite(base + _PT["ax"], -k.errno("ENOSYS"), 4)
    k.note(
        where("syscall_trace_entry"),
        "movl $-ENOSYS,PT_EAX(%esp); movl %esp,%eax; call syscall_trace_enter",
    )
    k.cpu.r[RSP] = base
    P.syscall_trace_enter(k, "syscall_trace_entry")


def _trace_entry_after(k: Kernel, nr: int) -> None:
    r = k.cpu.r
    base = P.regs_base(k, k.current)
    nr &= _M32
    r[RAX] = nr
    r[RSP] = base
    table = k.tables["sys_call_table"]
    if nr >= table.nr_syscalls:
        k.note(
            where("syscall_trace_entry"),
            f"cmpl $(NR_syscalls),%eax: {nr:#x}: jmp syscall_exit (PT_EAX already set)",
        )
        k.disable_interrupts()
        syscall_exit_work(k)
        r[RIP] = k.symbols["restore_all"]
        return
    # The handlers take their arguments from pt_regs on the stack (asmlinkage), so a
    # tracer's changes there are what they see.
    for name, reg in GPR_ORDER:
        r[reg] = k.kread(base + _PT[name], 4)
    _call(k, "syscall_call", "syscall_after_call", (base,))


P.CONTINUATIONS["syscall_trace_entry"] = _trace_entry_after
P.CONTINUATIONS["syscall_after_call"] = lambda k, result, base: _syscall_exit(
    k, base, result & _M32
)
P.CONTINUATIONS["sysenter_after_call"] = _sysenter_after_call


def syscall_exit_work(k: Kernel) -> None:
    """syscall_exit_work: _TIF_WORK_SYSCALL_EXIT runs syscall_trace_leave, then
    resume_userspace (work_pending, work_notifysig) until no _TIF_WORK_MASK work is left."""
    task = k.current
    assert task is not None
    if task.flags & P.TIF_WORK_SYSCALL_EXIT:
        k.enable_interrupts()
        k.note(where("syscall_exit_work"), "movl %esp,%eax; call syscall_trace_leave")
        P.syscall_trace_leave(k, P.TIF_WORK_MASK)
        return
    _resume_userspace(k, P.TIF_WORK_MASK)


def _resume_userspace(k: Kernel, mask: int) -> None:
    """resume_userspace: work_pending -> work_notifysig (do_notify_resume) while
    _TIF_WORK_MASK work is set; TIF_NOTIFY_RESUME is cleared, signals delivered."""
    task = k.current
    assert task is not None
    k.disable_interrupts()
    while task.flags & mask:
        if task.has(L.TIF_NEED_RESCHED):
            task.set_flag(L.TIF_NEED_RESCHED, False)
            continue
        if task.has(L.TIF_NOTIFY_RESUME):
            task.set_flag(L.TIF_NOTIFY_RESUME, False)
            k.note(
                where("work_notifysig"),
                "TIF_NOTIFY_RESUME: do_notify_resume (arch/x86/kernel/signal.c) clears it",
            )
            continue
        if task.has(L.TIF_SIGPENDING):
            P.do_signal(k, mask)
            continue
        break


P.CONTINUATIONS["after_trace_leave_i386"] = lambda k, mask: _resume_userspace(k, mask)
P.CONTINUATIONS["after_signal_i386"] = lambda k, mask: _resume_userspace(k, mask)


def load_user_selector(k: Kernel, slot: int, name: str, where_: str, fixup: str) -> None:
    """Load segment register ``name`` from its pt_regs ``slot`` on the way back to user mode.
    Every exit's load of a user selector has an exception-table entry (entry_32.S, 3.16 and
    6.9): a selector that faults (a bad one from sigreturn or a tracer) is replaced by 0 in
    the slot and loaded again, so it becomes null; ``fixup`` (with {fault}) says so."""
    cpu = k.cpu
    fault = cpu.load_segment(name, k.kread(slot, 4) & 0xFFFF)
    if fault is None:
        return
    k.kwrite(slot, 0, 4)
    assert cpu.load_segment(name, 0) is None
    k.note(where_, fixup.format(fault=fault, name=name) + f" ({name} = 0)")


def restore_regs(k: Kernel, base: int, where_: str, fixup: str) -> None:
    """RESTORE_REGS from the pt_regs at ``base``: ebx, ecx, edx, esi, edi, ebp, eax, then ds,
    es and fs through load_user_selector (gs is lazy; orig_ax is skipped by the caller)."""
    r = k.cpu.r
    words = k.kread_words(base, 7, 4)
    for (_, reg), value in zip(GPR_ORDER, words[:6], strict=True):
        r[reg] = value
    r[RAX] = words[6]
    for i, name in enumerate(("ds", "es", "fs")):
        load_user_selector(k, base + (7 + i) * 4, name, where_, fixup)


def restore_all(k: Kernel) -> None:
    """restore_all: RESTORE_REGS 4 pops ebx..eax, ds, es, fs, gs and skips orig_eax, then iret."""
    cpu = k.cpu
    r = cpu.r
    task = k.current
    if task is not None and task.has(L.TIF_NOTIFY_RESUME):
        task.set_flag(L.TIF_NOTIFY_RESUME, False)
        k.note(
            where("syscall_exit_work -> work_notifysig"),
            "TIF_NOTIFY_RESUME: do_notify_resume (arch/x86/kernel/signal.c) clears it",
        )
    base = r[RSP] & _M32
    # popl %ds/%es/%fs each have an exception-table entry whose fixup stores 0 in the slot
    # and pops again.
    restore_regs(
        k, base, where("RESTORE_REGS"), "popl %{name}: {fault}; fixup: movl $0,(%esp); pop again"
    )
    r[RSP] = base + 12 * 4
    k.note(
        where("restore_all"),
        "RESTORE_REGS 4: pop ebx, ecx, edx, esi, edi, ebp, eax, ds, es, fs (gs lazy); "
        "skip orig_eax; irq_return: iret",
    )
