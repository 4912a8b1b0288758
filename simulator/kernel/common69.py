"""Linux 6.9's C entry: arch/x86/entry/common.c, kernel/entry/common.c, the syscall switches.

The assembly stubs (entry69_64, entry69_compat, entry69_32) build pt_regs and call in here:
do_syscall_64, do_int80_emulation, do_int80_syscall_32, do_fast_syscall_32 and
do_SYSENTER_32. Each runs syscall_enter_from_user_mode (ptrace before seccomp), the switch
over the table (x64_sys_call, x32_sys_call, ia32_sys_call) into a pt_regs wrapper
(__x64_sys_read decodes di, si, dx, r10, r8, r9; __ia32_sys_read bx, cx, dx, si, di, bp),
then syscall_exit_to_user_mode, and returns the SYSRET/SYSEXIT-or-IRET decision by pointing
RIP at the exit routine the stub would jump to. A ptrace stop or a sleep ends the run inside
this code; the stage names in ``task.resume`` say where it goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import abi
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P
from simulator.kernel import uaccess
from simulator.kernel.kernel import Sleep

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

ARCH = "arch/x86/entry/common.c"
GENERIC = "kernel/entry/common.c"
WRAPPER = "arch/x86/include/asm/syscall_wrapper.h"
_M32 = 0xFFFF_FFFF
_M64 = (1 << 64) - 1
X64_ARGS = ("di", "si", "dx", "r10", "r8", "r9")
IA32_ARGS = ("bx", "cx", "dx", "si", "di", "bp")

# How the C code hands back to its assembly stub (the ``path`` carried through the exit work).
SYSRET64, IRET64, FAST32, FAST32_I386, IRET32 = range(5)


def where(symbol: str, source: str = ARCH) -> str:
    return f"{symbol} ({source})"


def _signed32(value: int) -> int:
    value &= _M32
    return value - (1 << 32) if value >> 31 else value


def _task(k: Kernel) -> Task:
    task = k.current
    assert task is not None
    return task


def _work_names(flags: int, mask: int) -> str:
    names = [name for bit, name in L69.WORK_NAMES if flags & mask & (1 << bit)]
    return "|".join(names) or "none"


# ------------------------------------------------------------------ the 64-bit entry


def do_syscall_64(k: Kernel, nr: int) -> None:
    """do_syscall_64(regs, nr) (arch/x86/entry/common.c): nr is the int movslq made of eax."""
    k.note(
        where("do_syscall_64"),
        f"nr = {nr} (int); add_random_kstack_offset; syscall_enter_from_user_mode",
    )
    syscall_enter_from_user_mode(k, nr, "do_syscall_64_body")


def _do_syscall_64_body(k: Kernel, nr: int) -> None:
    """do_syscall_x64, then do_syscall_x32, then (nr != -1) __x64_sys_ni_syscall."""
    nr = _signed32(nr)
    x64 = k.tables["x64_sys_call"]
    unr = nr & _M32
    if unr < x64.nr_syscalls:
        k.note(
            where("do_syscall_x64"),
            f"(unsigned int){nr} = {unr} < NR_syscalls ({x64.nr_syscalls}): "
            "array_index_nospec; regs->ax = x64_sys_call(regs, nr)",
        )
        invoke(k, "x64_sys_call", unr, "after_do_syscall_64")
        return
    if k.options.get("x32", False):
        x32 = k.tables["x32_sys_call"]
        xnr = (nr - L69.X32_SYSCALL_BIT) & _M32
        if xnr < x32.nr_syscalls:
            k.note(
                where("do_syscall_x32"),
                f"xnr = nr - __X32_SYSCALL_BIT = {xnr} < X32_NR_syscalls ({x32.nr_syscalls}): "
                "regs->ax = x32_sys_call(regs, xnr)",
            )
            invoke(k, "x32_sys_call", xnr, "after_do_syscall_64")
            return
        why = (
            f"not below NR_syscalls ({x64.nr_syscalls}), and nr - __X32_SYSCALL_BIT = "
            f"{xnr:#x} is not below X32_NR_syscalls ({x32.nr_syscalls})"
        )
    else:
        why = (
            f"not below NR_syscalls ({x64.nr_syscalls}); do_syscall_x32 is compiled out "
            "(CONFIG_X86_X32_ABI off)"
        )
    _invalid(k, nr, why, "__x64_sys_ni_syscall", SYSRET64)


def _invalid(k: Kernel, nr: int, why: str, ni: str, path: int) -> None:
    """An invalid number: -ENOSYS from the ni wrapper, or (nr == -1) no call at all."""
    task = _task(k)
    if nr == -1:
        ax = P.read_slot(k, task, "ax")
        k.note(
            where("do_syscall_64" if path == SYSRET64 else "do_syscall_32_irqs_on"),
            f"nr = -1: {why}; no call, regs->ax left as it is ({ax:#x})",
        )
    else:
        P.write_slot(k, task, "ax", -k.errno("ENOSYS"))
        k.note(
            where("do_syscall_64" if path == SYSRET64 else "do_syscall_32_irqs_on"),
            f"nr = {nr}: {why}; regs->ax = {ni}(regs) = -ENOSYS "
            '("Invalid system call, but still a system call")',
        )
    syscall_exit_to_user_mode(k, path)


def _after_do_syscall_64(k: Kernel, result: int) -> None:
    task = _task(k)
    P.write_slot(k, task, "ax", result)
    if k.trace is not None:
        k.note(where("do_syscall_x64"), f"regs->ax = {result & _M64:#x}")
    syscall_exit_to_user_mode(k, SYSRET64)


def _sysret64_decision(k: Kernel) -> None:
    """The tail of do_syscall_64: SYSRET only if every condition holds, else IRET."""
    task = _task(k)

    def slot(name: str) -> int:
        return P.read_slot(k, task, name)

    ip, flags = slot("ip"), slot("flags")
    checks = (
        (slot("cx") == ip and slot("r11") == flags, "RCX == RIP and R11 == EFLAGS"),
        (
            slot("cs") & 0xFFFF == L.USER_CS_64 and slot("ss") & 0xFFFF == L.USER_DS_64,
            "CS and SS match the values set in MSR_STAR",
        ),
        (ip < L69.TASK_SIZE_MAX, f"regs->ip {ip:#x} < TASK_SIZE_MAX"),
        (
            not flags & (L69.X86_EFLAGS_RF | L69.X86_EFLAGS_TF),
            "neither X86_EFLAGS_RF nor X86_EFLAGS_TF",
        ),
    )
    failed = [text for ok, text in checks if not ok]
    if failed:
        k.note(
            where("do_syscall_64"),
            f"not {failed[0]}: return false, the IRET exit "
            "(swapgs_restore_regs_and_return_to_usermode)",
        )
        k.cpu.r[P.L_RIP] = k.symbols["swapgs_restore_regs_and_return_to_usermode"]
        return
    k.note(
        where("do_syscall_64"),
        "RCX == RIP, R11 == EFLAGS, CS/SS as in MSR_STAR, RIP < TASK_SIZE_MAX, no RF/TF: "
        "return true (SYSRET)",
    )
    k.cpu.r[P.L_RIP] = k.symbols["syscall_return_via_sysret"]


# ------------------------------------------------------------------ the 32-bit entries


def syscall_32_enter(k: Kernel) -> int:
    """syscall_32_enter: TS_COMPAT under IA32_EMULATION; (int)regs->orig_ax."""
    task = _task(k)
    if k.kind == "x86_64":
        task.status |= L.TS_COMPAT
    return _signed32(P.read_slot(k, task, "orig_ax"))


def do_int80_emulation(k: Kernel) -> None:
    """do_int80_emulation (6.9, IA32_EMULATION): INT 0x80 from a 32-bit or 64-bit process."""
    task = _task(k)
    ax = P.read_slot(k, task, "ax")
    P.write_slot(k, task, "orig_ax", ax & _M32)
    P.write_slot(k, task, "ax", -k.errno("ENOSYS"))
    k.note(
        where("do_int80_emulation"),
        "user_mode(regs); enter_from_user_mode; int80_is_external() is false (a software INT); "
        f"regs->orig_ax = regs->ax & GENMASK(31, 0) = {ax & _M32:#x}; regs->ax = -ENOSYS",
    )
    nr = syscall_32_enter(k)
    k.enable_interrupts()
    k.note(where("syscall_32_enter"), f"TS_COMPAT set; nr = (int)regs->orig_ax = {nr}")
    syscall_enter_from_user_mode_work(k, nr, "do_syscall_32_int80")


def do_int80_syscall_32(k: Kernel) -> None:
    """do_int80_syscall_32 (6.9, i386 kernel): INT 0x80 through entry_INT80_32."""
    nr = syscall_32_enter(k)
    k.note(
        where("do_int80_syscall_32"),
        f"nr = syscall_32_enter(regs) = {nr}; add_random_kstack_offset; "
        "syscall_enter_from_user_mode",
    )
    syscall_enter_from_user_mode(k, nr, "do_syscall_32_int80")


def do_SYSENTER_32(k: Kernel) -> None:
    """do_SYSENTER_32: SYSENTER lost RSP (the vDSO saved it in RBP) and cleared IF."""
    task = _task(k)
    bp = P.read_slot(k, task, "bp")
    P.write_slot(k, task, "sp", bp)
    P.write_slot(k, task, "flags", P.read_slot(k, task, "flags") | L69.X86_EFLAGS_IF)
    k.note(
        where("do_SYSENTER_32"),
        f"regs->sp = regs->bp ({bp:#x}); regs->flags |= X86_EFLAGS_IF",
    )
    do_fast_syscall_32(k)


def landing_pad(k: Kernel, task: Task) -> int:
    """current->mm->context.vdso + vdso_image_32.sym_int80_landing_pad."""
    from simulator.kernel import vdso69

    return (task.vdso + vdso69.sym_int80_landing_pad(k)) & _M64


def do_fast_syscall_32(k: Kernel) -> None:
    """do_fast_syscall_32: regs->ip = the vDSO's int80_landing_pad, then __do_fast_syscall_32:
    arg6 from the user stack (-EFAULT and IRET on a fault), the call, the exit decision."""
    task = _task(k)
    pad = landing_pad(k, task)
    P.write_slot(k, task, "ip", pad)
    k.note(
        where("do_fast_syscall_32"),
        f"regs->ip = landing_pad = vdso + sym_int80_landing_pad = {pad:#x} (so that "
        "regs->ip -= 2 lands on int $0x80)",
    )
    nr = syscall_32_enter(k)
    k.enable_interrupts()
    sp = P.read_slot(k, task, "sp") & _M32
    routine = "__do_fast_syscall_32: __get_user(regs->bp, (u32 __user *)regs->sp)"
    if k.kind == "i386":
        routine = "__do_fast_syscall_32: get_user(regs->bp, (u32 __user *)regs->sp)"
    arg6 = uaccess.get_user(k, sp, 4, routine)
    if arg6 is None:
        P.write_slot(k, task, "ax", -k.errno("EFAULT"))
        k.note(
            where("__do_fast_syscall_32"),
            f"fetching EBP from {sp:#x} faulted: regs->ax = -EFAULT; irqentry_exit_to_user_mode;"
            " return false (IRET)",
        )
        exit_to_user_mode_loop(k, IRET64 if k.kind == "x86_64" else IRET32)
        return
    bp = P.read_slot(k, task, "bp")
    P.write_slot(k, task, "bp", (bp & ~_M32) | arg6 if k.kind == "x86_64" else arg6)
    k.note(
        where("__do_fast_syscall_32"),
        f"syscall_enter_from_user_mode_prepare; fetch EBP from where the vDSO stashed it: "
        f"*(u32 *)&regs->bp = [{sp:#x}] = {arg6:#x} (arg6)",
    )
    syscall_enter_from_user_mode_work(k, nr, "do_syscall_32_fast")


def _do_syscall_32_irqs_on(k: Kernel, nr: int, path: int) -> None:
    """do_syscall_32_irqs_on: (unsigned)nr < IA32_NR_syscalls, else -ENOSYS unless nr == -1."""
    nr = _signed32(nr)
    table = k.tables["ia32_sys_call"]
    unr = nr & _M32
    if unr < table.nr_syscalls:
        k.note(
            where("do_syscall_32_irqs_on"),
            f"(unsigned int){nr} = {unr} < IA32_NR_syscalls ({table.nr_syscalls}): "
            "regs->ax = ia32_sys_call(regs, nr)",
        )
        invoke(k, "ia32_sys_call", unr, "after_do_syscall_32", (path,))
        return
    why = f"(unsigned int){nr} = {unr:#x} is not below IA32_NR_syscalls ({table.nr_syscalls})"
    _invalid(k, nr, why, "__ia32_sys_ni_syscall", path)


def _after_do_syscall_32(k: Kernel, result: int, path: int) -> None:
    task = _task(k)
    P.write_slot(k, task, "ax", result)
    if k.trace is not None:
        k.note(where("do_syscall_32_irqs_on"), f"regs->ax = {result & _M32:#x}")
    syscall_exit_to_user_mode(k, path)


def _fast32_decision(k: Kernel, path: int) -> None:
    """The tail of do_fast_syscall_32: SYSRETL (x86_64) or SYSEXIT (i386) only if every
    condition holds, else IRET."""
    task = _task(k)
    pad = landing_pad(k, task)
    wide = k.kind == "x86_64"
    cs_want = L.USER32_CS if wide else L.USER_CS_32
    ss_want = L.USER_DS_64 if wide else L.USER_DS_32
    flags = P.read_slot(k, task, "flags")
    checks = (
        (P.read_slot(k, task, "ip") == pad, "EIP points to the vDSO landing pad"),
        (
            P.read_slot(k, task, "cs") & 0xFFFF == cs_want
            and P.read_slot(k, task, "ss") & 0xFFFF == ss_want,
            "CS and SS match the values set in MSR_STAR",
        ),
        (
            not flags & (L69.X86_EFLAGS_RF | L69.X86_EFLAGS_TF | L69.X86_EFLAGS_VM),
            "none of TF, RF, VM",
        ),
    )
    failed = [text for ok, text in checks if not ok]
    exit_ = "SYSRETL" if wide else "SYSEXIT"
    if failed:
        k.note(where("do_fast_syscall_32"), f"not {failed[0]}: return false (IRET)")
        _iret(k, IRET64 if wide else IRET32)
        return
    k.note(where("do_fast_syscall_32"), f"landing pad, CS/SS, no TF/RF/VM: return true ({exit_})")
    k.cpu.r[P.L_RIP] = k.symbols["sysret32_from_system_call" if wide else "sysenter_exit_69"]


def _iret(k: Kernel, path: int) -> None:
    symbol = "swapgs_restore_regs_and_return_to_usermode" if path == IRET64 else "restore_all_69"
    k.cpu.r[P.L_RIP] = k.symbols[symbol]


# ------------------------------------------------------------------ entry work


def syscall_enter_from_user_mode(k: Kernel, nr: int, cont: str) -> None:
    """syscall_enter_from_user_mode: enter_from_user_mode, local_irq_enable, then the work."""
    k.enable_interrupts()
    syscall_enter_from_user_mode_work(k, nr, cont)


def syscall_enter_from_user_mode_work(k: Kernel, nr: int, cont: str) -> None:
    """``work = current_thread_info()->syscall_work``; SYSCALL_WORK_ENTER sends the number
    through syscall_trace_enter; the entry routine ``cont`` goes on with what it returns."""
    task = _task(k)
    work = task.flags & L69.SYSCALL_WORK_ENTER
    if not work:
        P.CONTINUATIONS[cont](k, nr & _M64)
        return
    k.note(
        where("syscall_enter_from_user_mode_work", GENERIC),
        f"syscall_work {_work_names(task.flags, L69.SYSCALL_WORK_ENTER)}: syscall_trace_enter",
    )
    syscall_trace_enter(k, nr, cont)


def syscall_trace_enter(k: Kernel, nr: int, cont: str) -> None:
    """syscall_trace_enter (kernel/entry/common.c, 6.9), in its order: ptrace first
    (ptrace_report_syscall_entry; -1 if it reports failure or SYSCALL_EMU is set), then seccomp
    ("after ptrace, to catch any tracer changes"), re-read the number, the sys_enter
    tracepoint, audit. Returns ``ret ?: syscall``."""
    task = _task(k)
    emu = task.has(L.TIF_SYSCALL_EMU)
    if task.has(L.TIF_SYSCALL_TRACE) or emu:
        if task.ptrace & P.PT_PTRACED:
            code = P.SIGTRAP | (0x80 if task.ptrace & P.PT_TRACESYSGOOD else 0)
            task.ptrace_message = L69.PTRACE_EVENTMSG_SYSCALL_ENTRY
            P.ptrace_notify(
                k,
                code,
                "ptrace_report_syscall_entry -> ptrace_report_syscall(PTRACE_EVENTMSG_SYSCALL_"
                "ENTRY) (syscall-entry stop, before seccomp)",
                ("trace_enter69_reported", cont, int(emu)),
            )
        _enter_reported(k, task, cont, int(emu))
        return
    _enter_seccomp(k, task, cont)


def _enter_reported(k: Kernel, task: Task, cont: str, emu: int) -> None:
    if task.ptrace & P.PT_PTRACED and task.ptrace_message == L69.PTRACE_EVENTMSG_SYSCALL_ENTRY:
        task.ptrace_message = 0
    fatal = P._report_signal(k, task) if task.ptrace & P.PT_PTRACED else False
    if fatal or emu:
        k.note(
            where("syscall_trace_enter", GENERIC),
            "SYSCALL_WORK_SYSCALL_EMU: return -1 (skip the call)"
            if emu
            else "ptrace_report_syscall_entry: a fatal signal is pending: return -1",
        )
        _enter_out(k, cont, -1)
        return
    _enter_seccomp(k, task, cont)


def _enter_seccomp(k: Kernel, task: Task, cont: str) -> None:
    if task.has(L.TIF_SECCOMP):
        from simulator.kernel import seccomp

        k.note(where("syscall_trace_enter", GENERIC), "SYSCALL_WORK_SECCOMP: __secure_computing")
        if seccomp.secure_computing(k, task, cont, resume="seccomp69_event_reported"):
            _enter_out(k, cont, -1)
            return
    _enter_tail(k, task, cont)


def _enter_tail(k: Kernel, task: Task, cont: str) -> None:
    """Re-read the number (either step may have changed it), tracepoint, audit."""
    nr = P.syscall_nr(k, task)
    if task.has(L.TIF_SYSCALL_TRACEPOINT):
        args = P.syscall_arguments(k, task)
        k.tracepoints.append(P.TracepointEvent("sys_enter", task.pid, nr, args))
        k.note(
            where("trace_sys_enter", "include/trace/events/syscalls.h"),
            f"sys_enter: NR {nr} ({', '.join(f'{a:#x}' for a in args)})",
        )
        nr = P.syscall_nr(k, task)
    if task.has(L.TIF_SYSCALL_AUDIT):
        args = P.syscall_arguments(k, task)
        arch = P.audit_arch(k, task)
        k.audit.append(P.AuditRecord(task.pid, arch, nr, (args[0], args[1], args[2], args[3])))
        k.note(
            where("syscall_enter_audit", GENERIC),
            f"audit_syscall_entry(nr {nr}, a0-a3 {', '.join(f'{a:#x}' for a in args[:4])})",
        )
    _enter_out(k, cont, nr)


def _enter_out(k: Kernel, cont: str, nr: int) -> None:
    k.note(where("syscall_trace_enter", GENERIC), f"return ret ?: syscall = {nr}")
    P.CONTINUATIONS[cont](k, nr & _M64)


def _seccomp_event_reported(k: Kernel, task: Task, cont: str) -> None:
    """__seccomp_filter after the SECCOMP_RET_TRACE stop (kernel/seccomp.c, 6.9): a fatal
    signal or a number below 0 skips; otherwise the filters run again on the (possibly
    changed) number with recheck_after_trace ("Recheck the syscall, since it may have
    changed"), where TRACE means allow."""
    from simulator.kernel import seccomp

    if seccomp.after_trace_event_69(k, task, cont):
        _enter_out(k, cont, -1)
        return
    _enter_tail(k, task, cont)


# ------------------------------------------------------------------ the switch and wrappers


def invoke(k: Kernel, table: str, index: int, after: str, extra: tuple = ()) -> None:
    """``switch (nr) { case index: return __x64_<sym>(regs); }`` and the wrapper's decode.
    A handler that must wait raises Sleep: the task sleeps, and the wrapper runs again (from
    pt_regs) when it is woken. ``after`` (a CONTINUATIONS name) gets the result."""
    task = _task(k)
    entry = k.tables[table].entries[index]
    ia32 = table == "ia32_sys_call"
    prefix = "__ia32_" if ia32 else "__x64_"
    names = IA32_ARGS if ia32 else X64_ARGS
    args = tuple(P.read_slot(k, task, n) & (_M32 if ia32 else _M64) for n in names)
    if k.trace is not None:
        k.note(
            f"{table} ({abi.kernel_tables.SWITCH_SOURCES[table]})",
            f"switch (nr) case {index}: return {prefix}{entry}(regs)",
        )
        k.note(
            f"{prefix}{entry} ({WRAPPER})",
            f"decode {', '.join(names)} from pt_regs"
            + (" (each truncated to 32 bits)" if ia32 else "")
            + f": ({', '.join(f'{a:#x}' for a in args)})",
        )
    handler = k.handlers.get(entry)
    if handler is None:
        if entry == "sys_ni_syscall":
            k.note(f"{prefix}sys_ni_syscall (kernel/sys_ni.c)", f"{table}[{index}]: -ENOSYS")
            result = -k.errno("ENOSYS")
        else:
            result = k.not_modeled(entry, f"{table} case {index}: {prefix}{entry}")
    else:
        try:
            result = handler(k, *args)
        except Sleep as sleep:
            task.resume = ("syscall_sleep69", table, index, after, extra)
            k.note("schedule (kernel/sched/core.c)", f"{sleep.detail}: TASK_INTERRUPTIBLE")
            k.cpu.r[P.L_RIP] = k.symbols["ptrace_stop_resume"]
            k.stop("blocked", sleep.detail)
            return
    result &= _M64
    if task.exec_event:
        # ptrace_event(PTRACE_EVENT_EXEC) in exec_binprm, before execve returns.
        task.exec_event = False
        task.ptrace_message = task.pid
        P.ptrace_notify(
            k,
            (P.PTRACE_EVENT_EXEC << 8) | P.SIGTRAP,
            "exec_binprm -> ptrace_event(PTRACE_EVENT_EXEC) (fs/exec.c)",
            ("exec_event69_reported", after, result, extra),
        )
    P.CONTINUATIONS[after](k, result, *extra)


def _woken(k: Kernel, task: Task, table: str, index: int, after: str, extra) -> None:
    invoke(k, table, index, after, tuple(extra))


def _exec_reported(k: Kernel, task: Task, after: str, result: int, extra) -> None:
    P._report_signal(k, task)
    P.CONTINUATIONS[after](k, result, *extra)


# ------------------------------------------------------------------ exit work


def syscall_exit_to_user_mode(k: Kernel, path: int) -> None:
    """syscall_exit_to_user_mode: syscall_exit_work (audit, sys_exit tracepoint, the ptrace
    exit stop) when SYSCALL_WORK_EXIT is set, then exit_to_user_mode_prepare."""
    task = _task(k)
    work = task.flags & L69.SYSCALL_WORK_EXIT
    if work:
        k.note(
            where("syscall_exit_to_user_mode_prepare", GENERIC),
            "SYSCALL_WORK_EXIT work: syscall_exit_work (audit, trace_sys_exit, "
            "ptrace_report_syscall_exit)",
        )
        if task.has(L.TIF_SYSCALL_TRACE) and task.ptrace & P.PT_PTRACED:
            task.ptrace_message = L69.PTRACE_EVENTMSG_SYSCALL_EXIT
        P.syscall_trace_leave(k, path)
        return
    exit_to_user_mode_loop(k, path)


def exit_to_user_mode_loop(k: Kernel, path: int) -> None:
    """exit_to_user_mode_prepare: local_irq_disable; while EXIT_TO_USER_MODE_WORK: schedule,
    arch_do_signal_or_restart, resume_user_mode_work; then arch_exit_to_user_mode_prepare
    clears TS_COMPAT ("after signal handling, because syscall restart has a fixup for compat
    syscalls"), and the stub's exit."""
    task = _task(k)
    if task.ptrace_message in (
        L69.PTRACE_EVENTMSG_SYSCALL_ENTRY,
        L69.PTRACE_EVENTMSG_SYSCALL_EXIT,
    ):
        task.ptrace_message = 0
    k.disable_interrupts()
    for _ in range(64):  # a bound for the model; the C loops while work is left
        work = task.flags & L69.EXIT_TO_USER_MODE_WORK
        if not work:
            break
        if work & (1 << L.TIF_NEED_RESCHED):
            task.set_flag(L.TIF_NEED_RESCHED, False)
            k.note(where("exit_to_user_mode_loop", GENERIC), "_TIF_NEED_RESCHED: schedule()")
            continue
        if work & (1 << L.TIF_SIGPENDING):
            k.note(
                where("exit_to_user_mode_loop", GENERIC),
                "_TIF_SIGPENDING: arch_do_signal_or_restart (arch/x86/kernel/signal.c)",
            )
            P.do_signal(k, path)
            # The loop re-reads the flags: a signal raised while delivering one (the frame
            # could not be written: force_sigsegv) is handled in the next round. A stop or a
            # death ends the run from inside do_signal; these checks are the C's "the task
            # is no longer running here".
            if k.stopped is not None or task.stopped or task.job_stopped or not task.alive:
                break
            continue
        task.set_flag(L.TIF_NOTIFY_RESUME, False)
        k.note(
            where("exit_to_user_mode_loop", GENERIC),
            "_TIF_NOTIFY_RESUME: resume_user_mode_work clears it",
        )
    if task.status & L.TS_COMPAT:
        task.status &= ~L.TS_COMPAT
        k.note(
            where("arch_exit_to_user_mode_prepare", "arch/x86/include/asm/entry-common.h"),
            "status &= ~(TS_COMPAT | TS_I386_REGS_POKED)",
        )
    FINALS[path](k)


FINALS = {
    SYSRET64: _sysret64_decision,
    IRET64: lambda k: _iret(k, IRET64),
    FAST32: lambda k: _fast32_decision(k, FAST32),
    FAST32_I386: lambda k: _fast32_decision(k, FAST32_I386),
    IRET32: lambda k: _iret(k, IRET32),
}


def _after_trace_leave(k: Kernel, path: int) -> None:
    exit_to_user_mode_loop(k, path)


def _after_signal(k: Kernel, path: int) -> None:
    """Back in the exit loop after a signal-delivery stop, or (``path`` then a work mask, not
    a path) after a job-control stop, which does not record the stub's exit: the IRET exit
    serves every stub."""
    if path not in FINALS:
        path = IRET64 if k.kind == "x86_64" else IRET32
    exit_to_user_mode_loop(k, path)


def register() -> None:
    """Put the continuations and resume stages of the 6.9 model into ptrace's tables, as the
    3.16 entry modules do with theirs when they are imported."""
    c = P.CONTINUATIONS
    c["do_syscall_64_body"] = _do_syscall_64_body
    c["after_do_syscall_64"] = _after_do_syscall_64
    c["do_syscall_32_int80"] = lambda k, nr: _do_syscall_32_irqs_on(
        k, nr, IRET64 if k.kind == "x86_64" else IRET32
    )
    c["do_syscall_32_fast"] = lambda k, nr: _do_syscall_32_irqs_on(
        k, nr, FAST32 if k.kind == "x86_64" else FAST32_I386
    )
    c["after_do_syscall_32"] = _after_do_syscall_32
    for kind in ("x86_64", "i386"):
        c[f"after_trace_leave_{kind}-6.9"] = _after_trace_leave
        c[f"after_signal_{kind}-6.9"] = _after_signal
    r = P._RESUME
    r["trace_enter69_reported"] = _enter_reported
    r["seccomp69_event_reported"] = _seccomp_event_reported
    r["syscall_sleep69"] = _woken
    r["exec_event69_reported"] = _exec_reported


register()
