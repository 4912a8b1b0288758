"""arch/x86/kernel/entry_64.S (Linux 3.16): system_call, its exits, and the pt_regs stubs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import abi
from simulator.cpu.assembler import assemble
from simulator.cpu.registers import (
    R8,
    R9,
    R10,
    R11,
    R12,
    R13,
    R14,
    R15,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RIP,
    RSI,
    RSP,
)
from simulator.cpu.segments import GS
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/kernel/entry_64.S"
_MASK64 = (1 << 64) - 1

# pt_regs offsets (arch/x86/include/asm/calling.h, 3.16): ARGOFFSET = R11 = 48.
_PT = {f.name: f.offset for f in abi.PT_REGS_64}
ARGOFFSET = _PT["r11"]
_IP_SLOT = (_PT["ip"] - ARGOFFSET) // 8  # 10: the RIP slot, counted in words from ARGOFFSET
ARG_SLOTS = (("r11", R11), ("r10", R10), ("r9", R9), ("r8", R8), ("ax", RAX))
REST_SLOTS = (("r15", R15), ("r14", R14), ("r13", R13), ("r12", R12), ("bp", RBP), ("bx", RBX))
# The work masks of asm/thread_info.h (3.16); see simulator.kernel.ptrace.
TIF_WORK_SYSCALL_ENTRY = P.TIF_WORK_SYSCALL_ENTRY
TIF_ALLWORK = P.TIF_ALLWORK_MASK
_AUDIT = 1 << L.TIF_SYSCALL_AUDIT
# Entries that take the full register set: the stubs of syscall_64.tbl.
IRET_STUBS = frozenset(
    ("stub_execve", "stub_x32_execve", "stub_rt_sigreturn", "stub_x32_rt_sigreturn")
)
FORK_STUBS = ("stub_fork", "stub_vfork", "stub_clone")


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def place(k: Kernel) -> None:
    """Lay out entry_64.S's routines: real SWAPGS/SYSRETQ/IRETQ around modeled bodies."""
    k.routine(
        ("system_call", assemble("swapgs")),
        ("system_call_after_swapgs", system_call_after_swapgs),
    )
    k.routine(("native_usergs_sysret64", assemble("swapgs\nsysretq")))
    k.routine(
        ("int_ret_from_sys_call", int_ret_from_sys_call),
        ("retint_swapgs", assemble("swapgs")),
        ("restore_args", restore_args),
        ("native_irq_return_iret", assemble("iretq")),
    )


def pt_regs_base(k: Kernel) -> int:
    """task_pt_regs(current): the top of the kernel stack less sizeof(struct pt_regs)."""
    assert k.current is not None
    return k.current.kernel_stack_top - L.PT_REGS_SIZE_64


def system_call_after_swapgs(k: Kernel) -> None:
    """system_call, from system_call_after_swapgs to the call through sys_call_table.

    Registers on entry (the comment above system_call in entry_64.S):
      rax  system call number
      rcx  return address (SYSCALL put RIP there)
      r11  saved rflags (SYSCALL put RFLAGS there; R11 is clobbered)
      rdi  arg0, rsi arg1, rdx arg2, r10 arg3 (moved to rcx for C), r8 arg4, r9 arg5
    Only the argument registers are saved (a partial frame); rbx, rbp and
    r12-r15 are callee-saved in C and stay live.
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    gs = cpu.cache[GS].base
    user_rsp = r[RSP]
    k.kwrite(gs + L.PERCPU_OLD_RSP, user_rsp, 8)
    kernel_stack = k.kread(gs + L.PERCPU_KERNEL_STACK, 8)
    r[RSP] = kernel_stack
    if k.trace is not None:
        k.note(
            where("system_call"),
            f"movq %rsp,PER_CPU(old_rsp); movq PER_CPU(kernel_stack),%rsp: "
            f"rsp {user_rsp:#x} -> {kernel_stack:#x}",
        )
    k.enable_interrupts()
    # SAVE_ARGS 8,0: nine argument slots and orig_ax below the hardware-frame room.
    sp = kernel_stack - (9 * 8 + 8)
    r[RSP] = sp
    base = sp - ARGOFFSET
    k.kwrite_words(sp, [r[R11], r[R10], r[R9], r[R8], r[RAX]], 8)
    k.kwrite_words(base + _PT["dx"], [r[RDX], r[RSI], r[RDI], r[RAX], r[RCX]], 8)
    if k.trace is not None:
        k.note(
            where("system_call"),
            "SAVE_ARGS 8,0: r11, r10, r9, r8, rax, rdx, rsi, rdi into pt_regs (RCX slot left "
            f"stale); orig_ax = rax = {r[RAX]:#x}; RIP slot = rcx = {r[RCX]:#x}",
        )
    if task.flags & TIF_WORK_SYSCALL_ENTRY:
        if task.flags & TIF_WORK_SYSCALL_ENTRY & ~_AUDIT:
            tracesys(k)
            return
        P.audit_entry_fast(k, task)
    _fastpath(k, base)


def _fastpath(k: Kernel, base: int) -> None:
    """system_call_fastpath: the bounds check and the call through sys_call_table."""
    r = k.cpu.r
    x32 = k.options.get("x32", True)
    if x32:
        nr = r[RAX] & L.SYSCALL_MASK_X32
        r[RAX] = nr  # andl $__SYSCALL_MASK,%eax: a 32-bit op zero-extends rax
    else:
        nr = r[RAX]
    table = k.tables["sys_call_table"]
    if nr > table.max_number:
        if k.trace is not None:
            k.note(
                where("badsys"),
                f"{_bounds_check(x32, nr)}: above {table.max_number}: RAX slot = -ENOSYS",
            )
        k.kwrite(base + _PT["ax"], -k.errno("ENOSYS"), 8)
        ret_from_sys_call(k)
        return
    entry = table.entries[nr]
    if k.trace is not None:
        k.note(
            where("system_call_fastpath"),
            f"{_bounds_check(x32, nr)}: {nr} <= {table.max_number}",
        )
    if entry in IRET_STUBS:
        ptregs_stub(k, entry, nr)
        return
    r[RCX] = r[R10]
    args = (r[RDI], r[RSI], r[RDX], r[R10], r[R8], r[R9])
    k.call_or_sleep("sys_call_table", nr, args, "system_call_after", (base,))


def _bounds_check(x32: bool, nr: int) -> str:
    """How system_call_fastpath masks and compares the number (with or without the x32 bit
    masked off, CONFIG_X86_X32_ABI)."""
    if x32:
        return f"andl $__SYSCALL_MASK,%eax -> {nr:#x}; cmpl $__NR_syscall_max,%eax"
    return f"cmpq $__NR_syscall_max,%rax ({nr:#x})"


def _system_call_after(k: Kernel, result: int, base: int) -> None:
    """movq %rax,RAX-ARGOFFSET(%rsp), then ret_from_sys_call."""
    result &= _MASK64
    k.kwrite(base + _PT["ax"], result, 8)
    if k.trace is not None:
        k.note(where("system_call"), f"movq %rax,RAX-ARGOFFSET(%rsp): {result:#x}")
    ret_from_sys_call(k)


P.CONTINUATIONS["system_call_after"] = _system_call_after


def tracesys(k: Kernel) -> None:
    """tracesys: SAVE_REST, RAX slot = -ENOSYS, FIXUP_TOP_OF_STACK, call syscall_trace_enter."""
    base = pt_regs_base(k)
    save_rest(k, base)
    k.kwrite(base + _PT["ax"], -k.errno("ENOSYS"), 8)
    k.note(
        where("tracesys"),
        "work other than audit: SAVE_REST; movq $-ENOSYS,RAX(%rsp) (ptrace can change this "
        "for a bad syscall)",
    )
    fixup_top_of_stack(k)
    k.cpu.r[RSP] = base
    P.syscall_trace_enter(k, "tracesys")


def _tracesys_after(k: Kernel, nr: int) -> None:
    """tracesys after syscall_trace_enter: LOAD_ARGS ARGOFFSET,1 (not rax), RESTORE_REST, the
    bounds check on the number it returned, the call, and always the IRET exit."""
    r = k.cpu.r
    base = pt_regs_base(k)
    slots = k.kread_words(base + ARGOFFSET, 9, 8)
    r[R11], r[R10], r[R9], r[R8], _, r[RCX], r[RDX], r[RSI], r[RDI] = slots
    restore_rest(k, base)
    if k.options.get("x32", True):
        nr = nr & 0xFFFF_FFFF & L.SYSCALL_MASK_X32
        what = f"andl $__SYSCALL_MASK,%eax -> {nr:#x}; cmpl $__NR_syscall_max,%eax"
    else:
        what = f"cmpq $__NR_syscall_max,%rax ({nr:#x})"
    r[RAX] = nr
    k.note(
        where("tracesys"),
        "LOAD_ARGS ARGOFFSET,1: argument registers from pt_regs in case ptrace changed them "
        f"(rax is syscall_trace_enter's {nr:#x}); RESTORE_REST",
    )
    table = k.tables["sys_call_table"]
    r[RSP] = base + ARGOFFSET
    r[RIP] = k.symbols["int_ret_from_sys_call"]
    if nr > table.max_number:
        k.note(where("tracesys"), f"{what}: above {table.max_number}: ja int_ret_from_sys_call")
        return
    entry = table.entries[nr]
    k.note(where("tracesys"), f"{what}: {nr} <= {table.max_number}")
    if entry in IRET_STUBS:
        r[RSP] = base + ARGOFFSET
        ptregs_stub(k, entry, nr)
        return
    r[RCX] = r[R10]
    args = (r[RDI], r[RSI], r[RDX], r[R10], r[R8], r[R9])
    k.call_or_sleep("sys_call_table", nr, args, "tracesys_call_after", (base,))


def _tracesys_call_after(k: Kernel, result: int, base: int) -> None:
    r = k.cpu.r
    result &= _MASK64
    k.kwrite(base + _PT["ax"], result, 8)
    k.note(
        where("tracesys"),
        f"movq %rax,RAX-ARGOFFSET(%rsp) ({result:#x}); use IRET because user could have "
        "changed frame",
    )
    r[RSP] = base + ARGOFFSET
    r[RIP] = k.symbols["int_ret_from_sys_call"]


P.CONTINUATIONS["tracesys_call_after"] = _tracesys_call_after


P.CONTINUATIONS["tracesys"] = _tracesys_after


def ret_from_sys_call(k: Kernel) -> None:
    """ret_from_sys_call / sysret_check: with no work pending, back by SYSRET; TIF_SYSCALL_AUDIT
    alone goes through sysret_audit and still leaves by SYSRET."""
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    k.disable_interrupts()
    mask = TIF_ALLWORK
    if task.flags & mask & _AUDIT:
        slot = k.kread(pt_regs_base(k) + _PT["ax"], 8)
        P.audit_exit(k, task, slot, where("sysret_audit"))
        mask &= ~_AUDIT
    if task.flags & mask:
        if k.trace is not None:
            k.note(where("sysret_careful"), "work pending: FIXUP_TOP_OF_STACK, leave by IRET")
        fixup_top_of_stack(k)
        r[RSP] = pt_regs_base(k) + ARGOFFSET
        r[RIP] = k.symbols["int_ret_from_sys_call"]
        return
    base = r[RSP] - ARGOFFSET
    # r11 .. di, orig_ax and ip lie in a row from ARGOFFSET: one read of them all
    slots = k.kread_words(base + ARGOFFSET, _IP_SLOT + 1, 8)
    r[RCX] = slots[_IP_SLOT]  # movq RIP-ARGOFFSET(%rsp),%rcx
    r[R11], r[R10], r[R9], r[R8], r[RAX] = slots[0:5]
    r[RDX], r[RSI], r[RDI] = slots[6:9]
    gs = cpu.cache[GS].base
    r[RSP] = k.kread(gs + L.PERCPU_OLD_RSP, 8)
    if k.trace is not None:
        k.note(
            where("sysret_check"),
            "no work: movq RIP-ARGOFFSET(%rsp),%rcx; RESTORE_ARGS 1,-ARG_SKIP,0 (r11, r10, r9, r8, "
            "rax, rdx, rsi, rdi from pt_regs); movq PER_CPU(old_rsp),%rsp; USERGS_SYSRET64",
        )
    r[RIP] = k.symbols["native_usergs_sysret64"]


def save_rest(k: Kernel, base: int) -> None:
    """SAVE_REST: rbx, rbp, r12-r15 into the rest of pt_regs."""
    r = k.cpu.r
    k.kwrite_words(base, [r[reg] for _, reg in REST_SLOTS], 8)


def restore_rest(k: Kernel, base: int) -> None:
    """RESTORE_REST: rbx, rbp, r12-r15 back from pt_regs."""
    r = k.cpu.r
    for (_, reg), value in zip(REST_SLOTS, k.kread_words(base, 6, 8), strict=True):
        r[reg] = value


def fixup_top_of_stack(k: Kernel) -> None:
    """FIXUP_TOP_OF_STACK: RSP = old_rsp, SS = __USER_DS, CS = __USER_CS, RCX = -1, EFLAGS = R11."""
    base = pt_regs_base(k)
    gs = k.cpu.cache[GS].base
    old_rsp = k.kread(gs + L.PERCPU_OLD_RSP, 8)
    k.kwrite(base + _PT["sp"], old_rsp, 8)
    k.kwrite(base + _PT["ss"], L.USER_DS_64, 8)
    k.kwrite(base + _PT["cs"], L.USER_CS_64, 8)
    k.kwrite(base + _PT["cx"], _MASK64, 8)
    k.kwrite(base + _PT["flags"], k.kread(base + _PT["r11"], 8), 8)
    k.note(
        where("FIXUP_TOP_OF_STACK"),
        "complete the frame for IRET: RSP = old_rsp, SS = __USER_DS, CS = __USER_CS, "
        "RCX slot = -1, EFLAGS slot = R11 slot",
    )


def restore_top_of_stack(k: Kernel) -> None:
    """RESTORE_TOP_OF_STACK: old_rsp = RSP slot, R11 slot = EFLAGS slot."""
    base = pt_regs_base(k)
    gs = k.cpu.cache[GS].base
    k.kwrite(gs + L.PERCPU_OLD_RSP, k.kread(base + _PT["sp"], 8), 8)
    k.kwrite(base + _PT["r11"], k.kread(base + _PT["flags"], 8), 8)
    k.note(where("RESTORE_TOP_OF_STACK"), "old_rsp = RSP slot; R11 slot = EFLAGS slot")


def ptregs_stub(k: Kernel, entry: str, nr: int) -> None:
    """stub_execve and friends: SAVE_REST, FIXUP_TOP_OF_STACK, call, leave by IRET."""
    r = k.cpu.r
    base = pt_regs_base(k)
    k.note_table_call("sys_call_table", nr)
    save_rest(k, base)
    k.note(where(entry), f"{entry}: addq $8,%rsp; SAVE_REST (rbx, rbp, r12-r15 into pt_regs)")
    fixup_top_of_stack(k)
    r[RSP] = base
    target = {
        "stub_execve": "sys_execve",
        "stub_x32_execve": "compat_sys_execve",
        "stub_rt_sigreturn": "sys_rt_sigreturn",
        "stub_x32_rt_sigreturn": "sys32_x32_rt_sigreturn",
    }[entry]
    args = (r[RDI], r[RSI], r[RDX], r[R10], r[R8], r[R9])
    result = k.call_stub(entry, target, nr, args) & _MASK64
    task = k.current
    assert task is not None
    if task.exec_event:
        # ptrace_event(PTRACE_EVENT_EXEC, old_vpid) in search_binary_handler: the stop
        # comes after load_binary, before the stub stores the result (RAX slot: -ENOSYS).
        task.exec_event = False
        task.ptrace_message = task.pid
        P.ptrace_notify(
            k,
            (P.PTRACE_EVENT_EXEC << 8) | P.SIGTRAP,
            "search_binary_handler -> ptrace_event(PTRACE_EVENT_EXEC) (fs/exec.c)",
            ("exec_event_reported", entry, result),
        )
    _stub_tail(k, entry, result)


def _exec_event_reported(k: Kernel, task, entry: str, result: int) -> None:
    P._report_signal(k, task)
    _stub_tail(k, entry, result)


P._RESUME["exec_event_reported"] = _exec_event_reported


def _stub_tail(k: Kernel, entry: str, result: int) -> None:
    r = k.cpu.r
    base = pt_regs_base(k)
    if entry == "stub_x32_execve":
        restore_top_of_stack(k)
    k.kwrite(base + _PT["ax"], result, 8)
    restore_rest(k, base)
    k.note(
        where(entry), f"movq %rax,RAX(%rsp) ({result:#x}); RESTORE_REST; jmp int_ret_from_sys_call"
    )
    r[RSP] = base + ARGOFFSET
    r[RIP] = k.symbols["int_ret_from_sys_call"]


def int_ret_from_sys_call(k: Kernel) -> None:
    """int_ret_from_sys_call: interrupts off, then int_with_check with _TIF_ALLWORK_MASK."""
    k.disable_interrupts()
    int_with_check(k, TIF_ALLWORK)


def int_with_check(k: Kernel, mask: int) -> None:
    """int_with_check and its slow paths (entry_64.S, 3.16): int_very_careful runs
    syscall_trace_leave once (then drops the exit work and TIF_SYSCALL_EMU from the mask),
    int_signal runs do_notify_resume, and the check repeats until nothing in the mask is set;
    then TS_COMPAT is cleared and retint_swapgs leads to IRET."""
    task = k.current
    assert task is not None
    while task.flags & mask:
        work = task.flags & mask
        if work & (1 << L.TIF_NEED_RESCHED):
            task.set_flag(L.TIF_NEED_RESCHED, False)
            k.note(where("int_careful"), "TIF_NEED_RESCHED: schedule() (one CPU: back at once)")
            continue
        base = pt_regs_base(k)
        save_rest(k, base)
        if work & P.TIF_WORK_SYSCALL_EXIT:
            k.note(where("int_very_careful"), "SAVE_REST; syscall exit work: syscall_trace_leave")
            P.syscall_trace_leave(k, mask)
            return  # syscall_trace_leave went on through _after_trace_leave
        if work & P.TIF_DO_NOTIFY_MASK:
            _int_signal(k, base)
            return
        k.note(where("int_signal"), f"work {work:#x} that ringsim does not model: left set")
        restore_rest(k, base)
        break
    task.status &= ~L.TS_COMPAT
    k.note(where("int_ret_from_sys_call"), "no work pending: andl $~TS_COMPAT; jmp retint_swapgs")


def _int_signal(k: Kernel, base: int) -> None:
    """int_signal: do_notify_resume (arch/x86/kernel/signal.c) with _TIF_DO_NOTIFY_MASK work,
    then the check again with _TIF_WORK_MASK."""
    task = k.current
    assert task is not None
    if task.has(L.TIF_NOTIFY_RESUME):
        task.set_flag(L.TIF_NOTIFY_RESUME, False)
        k.note(
            where("int_with_check -> int_signal"),
            "TIF_NOTIFY_RESUME: do_notify_resume (arch/x86/kernel/signal.c) clears it",
        )
    if task.has(L.TIF_SIGPENDING):
        P.do_signal(k, P.TIF_WORK_MASK)
    _after_signal(k, P.TIF_WORK_MASK)


def _after_trace_leave(k: Kernel, mask: int) -> None:
    """After syscall_trace_leave: andl $~(_TIF_WORK_SYSCALL_EXIT|_TIF_SYSCALL_EMU),%edi;
    int_restore_rest: RESTORE_REST, and check again."""
    restore_rest(k, pt_regs_base(k))
    int_with_check(k, mask & ~(P.TIF_WORK_SYSCALL_EXIT | 1 << L.TIF_SYSCALL_EMU))


def _after_signal(k: Kernel, mask: int) -> None:
    restore_rest(k, pt_regs_base(k))
    int_with_check(k, mask)


P.CONTINUATIONS["after_trace_leave_x86_64"] = _after_trace_leave
P.CONTINUATIONS["after_signal_x86_64"] = _after_signal


def restore_args(k: Kernel) -> None:
    """restore_args: RESTORE_ARGS 1,8,1 reloads every argument register, rcx included, and
    skips orig_ax so that rsp points at the IRET frame."""
    r = k.cpu.r
    sp = r[RSP]
    slots = k.kread_words(sp, 9, 8)
    r[R11], r[R10], r[R9], r[R8], r[RAX], r[RCX], r[RDX], r[RSI], r[RDI] = slots
    r[RSP] = sp + 9 * 8 + 8
    k.note(
        where("restore_args"),
        f"RESTORE_ARGS 1,8,1: all argument registers from pt_regs (rcx = {r[RCX]:#x}); "
        "rsp -> the IRET frame",
    )
