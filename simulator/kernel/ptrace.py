"""ptrace and the system-call entry work of Linux 3.16.

kernel/ptrace.c (sys_ptrace, ptrace_request, ptrace_resume, ptrace_traceme, ptrace_attach),
arch/x86/kernel/ptrace.c (arch_ptrace, getreg/putreg, syscall_trace_enter/leave),
include/linux/tracehook.h (ptrace_report_syscall), include/linux/ptrace.h (ptrace_event),
kernel/signal.c (ptrace_stop, ptrace_notify, get_signal_to_deliver's ptrace_signal),
kernel/exit.c (wait_task_stopped, wait_task_zombie) and kernel/seccomp.c.

A stop is a KernelStop("stopped"): the modeled routine records where it will go on
(``task.resume``), points RIP at the ``ptrace_stop_resume`` hook and ends the run; the
machine keeps the ring-0 CPU state, and when the tracer resumes the task and waits, the
run goes on from that hook exactly where the kernel would return from schedule().
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

import abi
from simulator.kernel import linux316 as L
from simulator.kernel import traps
from simulator.kernel.kernel import CONTINUATIONS as _CONTINUATIONS

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

SOURCE = "kernel/ptrace.c"
ARCH_SOURCE = "arch/x86/kernel/ptrace.c"

# Requests (include/uapi/linux/ptrace.h; arch/x86/include/uapi/asm/ptrace-abi.h), 3.16.
PTRACE_TRACEME = 0
PTRACE_PEEKTEXT = 1
PTRACE_PEEKDATA = 2
PTRACE_PEEKUSR = 3
PTRACE_POKETEXT = 4
PTRACE_POKEDATA = 5
PTRACE_POKEUSR = 6
PTRACE_CONT = 7
PTRACE_KILL = 8
PTRACE_SINGLESTEP = 9
PTRACE_GETREGS = 12
PTRACE_SETREGS = 13
PTRACE_ATTACH = 16
PTRACE_DETACH = 17
PTRACE_SYSCALL = 24
PTRACE_SYSEMU = 31
PTRACE_SYSEMU_SINGLESTEP = 32
PTRACE_SETOPTIONS = 0x4200
PTRACE_GETEVENTMSG = 0x4201
REQUESTS = {
    "PTRACE_TRACEME": PTRACE_TRACEME,
    "PTRACE_PEEKTEXT": PTRACE_PEEKTEXT,
    "PTRACE_PEEKDATA": PTRACE_PEEKDATA,
    "PTRACE_PEEKUSR": PTRACE_PEEKUSR,
    "PTRACE_PEEKUSER": PTRACE_PEEKUSR,
    "PTRACE_POKETEXT": PTRACE_POKETEXT,
    "PTRACE_POKEDATA": PTRACE_POKEDATA,
    "PTRACE_POKEUSR": PTRACE_POKEUSR,
    "PTRACE_POKEUSER": PTRACE_POKEUSR,
    "PTRACE_CONT": PTRACE_CONT,
    "PTRACE_KILL": PTRACE_KILL,
    "PTRACE_SINGLESTEP": PTRACE_SINGLESTEP,
    "PTRACE_GETREGS": PTRACE_GETREGS,
    "PTRACE_SETREGS": PTRACE_SETREGS,
    "PTRACE_ATTACH": PTRACE_ATTACH,
    "PTRACE_DETACH": PTRACE_DETACH,
    "PTRACE_SYSCALL": PTRACE_SYSCALL,
    "PTRACE_SYSEMU": PTRACE_SYSEMU,
    "PTRACE_SYSEMU_SINGLESTEP": PTRACE_SYSEMU_SINGLESTEP,
    "PTRACE_SETOPTIONS": PTRACE_SETOPTIONS,
    "PTRACE_GETEVENTMSG": PTRACE_GETEVENTMSG,
}
# Options and events (include/uapi/linux/ptrace.h).
PTRACE_O_TRACESYSGOOD = 1
PTRACE_O_TRACEEXEC = 1 << 4
PTRACE_O_TRACESECCOMP = 1 << 7
PTRACE_O_EXITKILL = 1 << 20
PTRACE_O_MASK = 0x0000_00FF | PTRACE_O_EXITKILL
PTRACE_EVENT_EXEC = 4
PTRACE_EVENT_SECCOMP = 7
# task->ptrace bits (include/linux/ptrace.h): PT_PTRACED, options above PT_OPT_FLAG_SHIFT.
PT_PTRACED = 0x1
PT_OPT_FLAG_SHIFT = 3
PT_TRACESYSGOOD = PTRACE_O_TRACESYSGOOD << PT_OPT_FLAG_SHIFT
_NSIG = 64

# Signals (arch/x86/include/uapi/asm/signal.h) and si_code CLD_TRAPPED (uapi siginfo.h).
SIGTRAP = traps.SIGTRAP
SIGKILL = traps.SIGKILL
SIGCHLD = 17
SIGSTOP = 19
SIGSYS = traps.SIGSYS
CLD_TRAPPED = 4
WNOHANG = 1
# Signals whose default action is to be ignored (SIG_KERNEL_IGNORE_MASK): SIGCONT, SIGCHLD,
# SIGWINCH, SIGURG. ringsim models no handlers, so every other signal terminates.
_IGNORED = frozenset({18, 17, 28, 23})
_STOPPING = frozenset({19, 20, 21, 22})

# The work masks of arch/x86/include/asm/thread_info.h (3.16).
_TIF = {
    "TRACE": 1 << L.TIF_SYSCALL_TRACE,
    "NOTIFY_RESUME": 1 << L.TIF_NOTIFY_RESUME,
    "SIGPENDING": 1 << L.TIF_SIGPENDING,
    "NEED_RESCHED": 1 << L.TIF_NEED_RESCHED,
    "SINGLESTEP": 1 << L.TIF_SINGLESTEP,
    "EMU": 1 << L.TIF_SYSCALL_EMU,
    "AUDIT": 1 << L.TIF_SYSCALL_AUDIT,
    "SECCOMP": 1 << L.TIF_SECCOMP,
    "TRACEPOINT": 1 << L.TIF_SYSCALL_TRACEPOINT,
    "NOHZ": 1 << L.TIF_NOHZ,
}
TIF_WORK_SYSCALL_ENTRY = (
    _TIF["TRACE"]
    | _TIF["EMU"]
    | _TIF["AUDIT"]
    | _TIF["SECCOMP"]
    | _TIF["SINGLESTEP"]
    | _TIF["TRACEPOINT"]
    | _TIF["NOHZ"]
)
TIF_WORK_SYSCALL_EXIT = (
    _TIF["TRACE"] | _TIF["AUDIT"] | _TIF["SINGLESTEP"] | _TIF["TRACEPOINT"] | _TIF["NOHZ"]
)
TIF_ALLWORK_MASK = (0xFFFF & ~_TIF["SECCOMP"]) | _TIF["TRACEPOINT"] | _TIF["NOHZ"]
TIF_WORK_MASK = 0xFFFF & ~(
    _TIF["TRACE"] | _TIF["AUDIT"] | _TIF["SINGLESTEP"] | _TIF["SECCOMP"] | _TIF["EMU"]
)
TIF_DO_NOTIFY_MASK = _TIF["SIGPENDING"] | _TIF["NOTIFY_RESUME"]  # + MCE_NOTIFY, USER_RETURN

# user_regs_struct (arch/x86/include/asm/user_64.h, user_32.h): pt_regs' order, then (64-bit)
# fs_base, gs_base, ds, es, fs, gs. sizeof(struct user) and offsetof(u_debugreg) bound
# PEEKUSR/POKEUSR (arch/x86/include/asm/user_{64,32}.h).
USER_REGS_64 = (
    "r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx",
    "rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base",
    "ds", "es", "fs", "gs",
)  # fmt: skip
USER_REGS_32 = (
    "ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "xds", "xes", "xfs", "xgs", "orig_eax",
    "eip", "xcs", "eflags", "esp", "xss",
)  # fmt: skip
SIZEOF_USER_64 = 928  # through error_code and fault_address after u_debugreg
SIZEOF_USER_32 = 284
U_DEBUGREG_64 = 848
U_DEBUGREG_32 = 252
# FLAG_MASK (arch/x86/kernel/ptrace.c): the RFLAGS bits a tracer may change.
FLAG_MASK = 0x1 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x10000 | 0x40000

# pt_regs slot of each user_regs_struct field: the 64-bit view reads pt_regs directly.
_PT64 = {f.name: f.offset for f in abi.PT_REGS_64}
_PT32 = {f.name: f.offset for f in abi.PT_REGS_32}
_USER64_TO_PT = {
    "r15": "r15", "r14": "r14", "r13": "r13", "r12": "r12", "rbp": "bp", "rbx": "bx",
    "r11": "r11", "r10": "r10", "r9": "r9", "r8": "r8", "rax": "ax", "rcx": "cx",
    "rdx": "dx", "rsi": "si", "rdi": "di", "orig_rax": "orig_ax", "rip": "ip", "cs": "cs",
    "eflags": "flags", "rsp": "sp", "ss": "ss",
}  # fmt: skip
_USER32_TO_PT = {
    "ebx": "bx", "ecx": "cx", "edx": "dx", "esi": "si", "edi": "di", "ebp": "bp", "eax": "ax",
    "xds": "ds", "xes": "es", "xfs": "fs", "xgs": "gs", "orig_eax": "orig_ax", "eip": "ip",
    "xcs": "cs", "eflags": "flags", "esp": "sp", "xss": "ss",
}  # fmt: skip
AUDIT_ARCH_X86_64 = 0xC000_003E  # include/uapi/linux/audit.h
AUDIT_ARCH_I386 = 0x4000_0003


@attrs.frozen
class TracepointEvent:
    """One raw_syscalls event (include/trace/events/syscalls.h): sys_enter with the number
    and the six arguments syscall_get_arguments gives, or sys_exit with the return value."""

    name: str
    pid: int
    nr: int
    args: tuple[int, ...] = ()
    ret: int | None = None


@attrs.frozen
class AuditRecord:
    """What audit_syscall_entry and audit_syscall_exit record (kernel/auditsc.c)."""

    pid: int
    arch: int
    nr: int
    args: tuple[int, int, int, int]
    success: bool | None = None
    ret: int | None = None


def where(symbol: str, source: str = ARCH_SOURCE) -> str:
    return f"{symbol} ({source})"


def place(k: Kernel) -> None:
    """The point a stopped task goes on from when its tracer wakes it (schedule returns)."""
    k.routine(("ptrace_stop_resume", resume_after_stop))


# ------------------------------------------------------------------ pt_regs access


def _pt(k: Kernel) -> dict[str, int]:
    return _PT64 if k.kind == "x86_64" else _PT32


def regs_base(k: Kernel, task: Task) -> int:
    """task_pt_regs(task)."""
    size = L.PT_REGS_SIZE_64 if k.kind == "x86_64" else L.PT_REGS_SIZE_32
    return task.kernel_stack_top - size - (0 if k.kind == "x86_64" else 8)


def _word(k: Kernel) -> int:
    return 8 if k.kind == "x86_64" else 4


def read_slot(k: Kernel, task: Task, name: str) -> int:
    return int.from_bytes(k.kspace.peek(regs_base(k, task) + _pt(k)[name], _word(k)), "little")


def write_slot(k: Kernel, task: Task, name: str, value: int) -> None:
    w = _word(k)
    data = (value & ((1 << (8 * w)) - 1)).to_bytes(w, "little")
    k.kspace.poke(regs_base(k, task) + _pt(k)[name], data)


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def is_compat_call(k: Kernel, task: Task) -> bool:
    """IS_IA32 / is_compat_task(): TS_COMPAT on x86_64 (set by the ia32 entries); always on
    an i386 kernel."""
    return k.kind == "i386" or bool(task.status & L.TS_COMPAT)


def syscall_arguments(k: Kernel, task: Task) -> tuple[int, ...]:
    """syscall_get_arguments (arch/x86/include/asm/syscall.h): bx, cx, dx, si, di, bp for a
    compat call (32 bits), di, si, dx, r10, r8, r9 for a 64-bit one."""
    if is_compat_call(k, task):
        return tuple(
            read_slot(k, task, n) & 0xFFFF_FFFF for n in ("bx", "cx", "dx", "si", "di", "bp")
        )
    return tuple(read_slot(k, task, n) for n in ("di", "si", "dx", "r10", "r8", "r9"))


def syscall_nr(k: Kernel, task: Task) -> int:
    """syscall_get_nr: (int) regs->orig_ax."""
    return _signed(read_slot(k, task, "orig_ax"), 32)


def audit_arch(k: Kernel, task: Task) -> int:
    return AUDIT_ARCH_I386 if is_compat_call(k, task) else AUDIT_ARCH_X86_64


# ------------------------------------------------------------------ stops


def ptrace_stop(k: Kernel, exit_code: int, why: str, resume: tuple) -> None:
    """ptrace_stop (kernel/signal.c): TASK_TRACED with exit_code, SIGCHLD (CLD_TRAPPED) to
    the tracer, schedule(). The run ends here; ``resume`` says where the kernel goes on."""
    task = k.current
    assert task is not None
    if SIGKILL in task.pending_signals:
        # TASK_TRACED includes TASK_WAKEKILL: with SIGKILL pending, __schedule's
        # signal_pending_state keeps the task running, and it goes on to die.
        k.note(
            where("ptrace_stop", "kernel/signal.c"),
            f"{why}: SIGKILL is pending, so schedule() returns at once (TASK_WAKEKILL)",
        )
        task.stop_code = 0
        return
    task.stopped = True
    task.stop_code = exit_code
    task.resume = resume
    tracer = k.tasks.get(task.tracer)
    if tracer is not None and tracer.alive:
        from simulator.kernel import signal as S

        S.send(k, tracer, SIGCHLD, "do_notify_parent_cldstop, CLD_TRAPPED")
    k.note(
        where("ptrace_stop", "kernel/signal.c"),
        f"{why}: TASK_TRACED, exit_code = {exit_code:#x}; do_notify_parent_cldstop: SIGCHLD "
        f"(CLD_TRAPPED) to the tracer, pid {task.tracer}; schedule()",
    )
    k.cpu.r[L_RIP] = k.symbols["ptrace_stop_resume"]
    k.stop("stopped", f"{why}: wait status {(exit_code << 8) | 0x7F:#x}")


def ptrace_notify(k: Kernel, exit_code: int, why: str, resume: tuple) -> None:
    """ptrace_notify -> ptrace_do_notify(SIGTRAP, exit_code, CLD_TRAPPED) -> ptrace_stop."""
    ptrace_stop(k, exit_code, why, resume)


def _report_signal(k: Kernel, task: Task) -> bool:
    """After a syscall stop: send_sig(current->exit_code) if the tracer gave one; return
    fatal_signal_pending (tracehook.h ptrace_report_syscall)."""
    code = task.stop_code
    task.stop_code = 0
    if code:
        k.note(
            where("ptrace_report_syscall", "include/linux/tracehook.h"),
            f"the tracer resumed with signal {code}: send_sig({code})",
        )
        send_signal(k, task, code)
    return SIGKILL in task.pending_signals


def send_signal(k: Kernel, task: Task, signal: int) -> None:
    """Queue a signal and set TIF_SIGPENDING (kernel/signal.c __send_signal, in part)."""
    if signal not in task.pending_signals:
        task.pending_signals.append(signal)
    task.set_flag(L.TIF_SIGPENDING)


def exec_event(k: Kernel, task: Task) -> None:
    """ptrace_event(PTRACE_EVENT_EXEC) after a successful exec: an event stop for a tracer
    with PTRACE_O_TRACEEXEC (reported where the 64-bit stub's call returns), else the legacy
    SIGTRAP (include/linux/ptrace.h)."""
    if not task.ptrace & PT_PTRACED:
        return
    if task.ptrace & (1 << (PT_OPT_FLAG_SHIFT + PTRACE_EVENT_EXEC)):
        if k.kind == "x86_64" and not task.status & L.TS_COMPAT:
            task.exec_event = True
            return
        k.unmodeled.append("ptrace_event(PTRACE_EVENT_EXEC) from a compat execve")
        return
    k.note(
        where("ptrace_event", "include/linux/ptrace.h"),
        "PTRACE_EVENT_EXEC without PTRACE_O_TRACEEXEC: legacy send_sig(SIGTRAP)",
    )
    send_signal(k, task, SIGTRAP)


def idle_signal(k: Kernel, task: Task) -> None:
    """A pending signal taken by a task that sits in user mode between calls (ringsim does not
    model the interrupt that would bring it in): a signal-delivery stop if traced (not for
    SIGKILL), else the default action."""
    signal = task.pending_signals.pop(0)
    if not task.pending_signals:
        task.set_flag(L.TIF_SIGPENDING, False)
    if task.ptrace & PT_PTRACED and signal != SIGKILL:
        task.stopped = True
        task.stop_code = signal
        task.resume = ("idle_signal",)
        return
    _idle_default(task, signal)


def idle_resumed(k: Kernel, task: Task) -> None:
    """The tracer resumed a task stopped by idle_signal: its signal (the resume data) takes
    effect now, or nothing if it is 0."""
    task.resume = ()
    signal = task.stop_code
    task.stop_code = 0
    if signal:
        _idle_default(task, signal)


def _idle_default(task: Task, signal: int) -> None:
    if signal in _IGNORED or signal in _STOPPING:
        return
    task.killed_by = signal
    task.exit_code = signal
    task.user_state = None


def resume_after_stop(k: Kernel) -> None:
    """schedule() returns in ptrace_stop: go on where the stop said."""
    task = k.current
    assert task is not None
    stage, *rest = task.resume
    task.resume = ()
    if stage.startswith("syscall_sleep"):
        k.note("schedule (kernel/sched/core.c)", "woken up: back from schedule()")
    else:
        k.note(
            where("ptrace_stop", "kernel/signal.c"),
            f"woken by the tracer (exit_code now {task.stop_code}); back from schedule()",
        )
    _RESUME[stage](k, task, *rest)


# ------------------------------------------------------------------ entry work


Continuation = Callable[["Kernel", int], None]
# The entry routines' tails by name (defined with the dispatch in simulator.kernel.kernel).
CONTINUATIONS: dict[str, Continuation] = _CONTINUATIONS


def syscall_trace_enter(k: Kernel, cont: str) -> None:
    """syscall_trace_enter (arch/x86/kernel/ptrace.c, 3.16), in its order: TIF_SINGLESTEP
    forces TF; secure_computing; TIF_SYSCALL_EMU; the ptrace entry stop; the sys_enter
    tracepoint; audit_syscall_entry. Then the entry routine ``cont`` goes on with the number
    it returns, ``ret ?: regs->orig_ax``."""
    task = k.current
    assert task is not None
    nr = syscall_nr(k, task)
    k.note(
        where("syscall_trace_enter"),
        f"entry work for {nr} (flags {task.flags & TIF_WORK_SYSCALL_ENTRY:#x}); user_exit()",
    )
    if task.has(L.TIF_SINGLESTEP):
        write_slot(k, task, "flags", read_slot(k, task, "flags") | 0x100)
        k.note(where("syscall_trace_enter"), "TIF_SINGLESTEP: regs->flags |= X86_EFLAGS_TF")
    if task.has(L.TIF_SECCOMP):
        from simulator.kernel import seccomp

        if seccomp.secure_computing(k, task, cont):
            _enter_out(k, task, cont, -1)
            return
    _enter_after_seccomp(k, task, cont)


def _enter_after_seccomp(k: Kernel, task: Task, cont: str) -> None:
    ret = 0
    if task.has(L.TIF_SYSCALL_EMU):
        ret = -1
        k.note(where("syscall_trace_enter"), "TIF_SYSCALL_EMU: ret = -1 (the call is skipped)")
    if (ret or task.has(L.TIF_SYSCALL_TRACE)) and task.ptrace & PT_PTRACED:
        code = SIGTRAP | (0x80 if task.ptrace & PT_TRACESYSGOOD else 0)
        ptrace_notify(
            k,
            code,
            "tracehook_report_syscall_entry -> ptrace_report_syscall (syscall-entry stop)",
            ("enter_reported", cont, ret),
        )
        _enter_reported(k, task, cont, ret)  # no stop: SIGKILL was pending
        return
    _enter_tail(k, task, cont, ret)


def _enter_reported(k: Kernel, task: Task, cont: str, ret: int) -> None:
    if _report_signal(k, task):
        ret = -1
        k.note(where("syscall_trace_enter"), "fatal signal pending: ret = -1")
    _enter_tail(k, task, cont, ret)


def _enter_tail(k: Kernel, task: Task, cont: str, ret: int) -> None:
    nr = syscall_nr(k, task)
    args = syscall_arguments(k, task)
    if task.has(L.TIF_SYSCALL_TRACEPOINT):
        k.tracepoints.append(TracepointEvent("sys_enter", task.pid, nr, args))
        k.note(
            where("trace_sys_enter", "include/trace/events/syscalls.h"),
            f"sys_enter: NR {nr} ({', '.join(f'{a:#x}' for a in args)})",
        )
    if task.has(L.TIF_SYSCALL_AUDIT):
        from simulator.kernel import seccomp

        # IS_IA32 is is_compat_task(): an x32 call counts too (3.16), so it is audited as
        # AUDIT_ARCH_I386 with bx, cx, dx, si.
        if seccomp.is_compat_task(k, task):
            arch = AUDIT_ARCH_I386
            a = tuple(read_slot(k, task, n) & 0xFFFF_FFFF for n in ("bx", "cx", "dx", "si"))
        else:
            arch = AUDIT_ARCH_X86_64
            a = tuple(read_slot(k, task, n) for n in ("di", "si", "dx", "r10"))
        record = AuditRecord(task.pid, arch, nr, (a[0], a[1], a[2], a[3]))
        k.audit.append(record)
        k.note(
            where("audit_syscall_entry", "kernel/auditsc.c"),
            f"arch {arch:#x}, nr {nr}, a0-a3 {', '.join(f'{x:#x}' for x in a)}",
        )
    _enter_out(k, task, cont, ret)


def _enter_out(k: Kernel, task: Task, cont: str, ret: int) -> None:
    result = ret if ret else read_slot(k, task, "orig_ax")
    k.note(
        where("syscall_trace_enter"),
        f"return ret ?: regs->orig_ax = {result & ((1 << (8 * _word(k))) - 1):#x}",
    )
    CONTINUATIONS[cont](k, result & ((1 << 64) - 1))


def audit_entry_fast(k: Kernel, task: Task) -> None:
    """auditsys / sysenter_auditsys / cstar_auditsys: __audit_syscall_entry on the fast path."""
    nr = syscall_nr(k, task)
    args = syscall_arguments(k, task)
    arch = audit_arch(k, task)
    k.audit.append(AuditRecord(task.pid, arch, nr, (args[0], args[1], args[2], args[3])))
    k.note(
        "auditsys (arch/x86/kernel/entry_64.S)" if k.kind == "x86_64" else where("audit"),
        f"TIF_SYSCALL_AUDIT alone: __audit_syscall_entry(arch {arch:#x}, nr {nr}, a0-a3), "
        "then back to the fast path",
    )


def audit_exit(k: Kernel, task: Task, ret: int, source: str) -> None:
    """audit_syscall_exit: success = ret is not an errno (the audit exit fast paths compare
    against -MAX_ERRNO; __audit_syscall_exit with AUDITSC_RESULT)."""
    bits = 8 * _word(k)
    value = _signed(ret, bits if not is_compat_call(k, task) else 32)
    success = not -4095 <= value <= -1
    for i in range(len(k.audit) - 1, -1, -1):
        record = k.audit[i]
        if record.pid == task.pid and record.ret is None:
            k.audit[i] = attrs.evolve(record, success=success, ret=value)
            break
    k.note(source, f"__audit_syscall_exit: {'success' if success else 'failure'}, {value}")


def syscall_trace_leave(k: Kernel, mask: int) -> None:
    """syscall_trace_leave (arch/x86/kernel/ptrace.c, 3.16): audit exit, the sys_exit
    tracepoint, then the exit stop when TIF_SYSCALL_TRACE is set (or a single-step trap)."""
    task = k.current
    assert task is not None
    ret = read_slot(k, task, "ax")
    if task.has(L.TIF_SYSCALL_AUDIT):
        audit_exit(k, task, ret, where("audit_syscall_exit", "kernel/auditsc.c"))
    if task.has(L.TIF_SYSCALL_TRACEPOINT):
        value = _signed(ret, 32 if is_compat_call(k, task) else 8 * _word(k))
        k.tracepoints.append(TracepointEvent("sys_exit", task.pid, syscall_nr(k, task), (), value))
        k.note(where("trace_sys_exit", "include/trace/events/syscalls.h"), f"sys_exit: {value}")
    step = task.has(L.TIF_SINGLESTEP) and not task.has(L.TIF_SYSCALL_EMU)
    if step:
        k.note(
            where("tracehook_report_syscall_exit", "include/linux/tracehook.h"),
            "single-stepping: force SIGTRAP (TRAP_BRKPT) rather than a syscall stop",
        )
        send_signal(k, task, SIGTRAP)
    elif task.has(L.TIF_SYSCALL_TRACE) and task.ptrace & PT_PTRACED:
        code = SIGTRAP | (0x80 if task.ptrace & PT_TRACESYSGOOD else 0)
        ptrace_notify(
            k,
            code,
            "tracehook_report_syscall_exit -> ptrace_report_syscall (syscall-exit stop)",
            ("leave_reported", mask),
        )
    CONTINUATIONS[f"after_trace_leave_{_flavour(k)}"](k, mask)


def _leave_reported(k: Kernel, task: Task, mask: int) -> None:
    _report_signal(k, task)
    CONTINUATIONS[f"after_trace_leave_{_flavour(k)}"](k, mask)
    _fall_through(k)


# ------------------------------------------------------------------ signals on the way out


def do_signal(k: Kernel, mask: int) -> bool:
    """do_notify_resume -> do_signal -> get_signal_to_deliver (kernel/signal.c), ringsim's
    part: a traced task reports each signal but SIGKILL to its tracer first (ptrace_signal:
    a signal-delivery stop); the tracer's resume signal replaces it (0 discards it). With no
    handlers modeled, a delivered signal takes its default action. Returns False when the
    work loop should stop (the task stopped or died)."""
    task = k.current
    assert task is not None
    from simulator.kernel import signal as S

    if SIGKILL in task.pending_signals:
        task.pending_signals.clear()
        task.set_flag(L.TIF_SIGPENDING, False)
        _deliver(k, task, SIGKILL)
    while True:
        ready = [s for s in task.pending_signals if not task.blocked & S.sigmask(s)]
        if not ready:
            S.recalc_sigpending(task)
            break
        # next_signal (kernel/signal.c): synchronous signals first, then the lowest number.
        sync = [s for s in ready if s in (4, 5, 7, 8, 11, 31)]
        signal = min(sync or ready)
        task.pending_signals.remove(signal)
        S.recalc_sigpending(task)
        if task.ptrace & PT_PTRACED and signal != SIGKILL:
            ptrace_stop(
                k,
                signal,
                f"get_signal_to_deliver -> ptrace_signal: signal {signal} (signal-delivery stop)",
                ("signal_reported", mask),
            )
        if _deliver(k, task, signal):
            return True
    _restart_without_handler(k, task)
    return True


def _restart_without_handler(k: Kernel, task: Task) -> None:
    """The end of do_signal (arch/x86/kernel/signal.c, 3.16) when no handler ran: an
    interrupted system call (-ERESTARTNOHAND, -ERESTARTSYS, -ERESTARTNOINTR) restarts with
    ax = orig_ax and ip -= 2; -ERESTART_RESTARTBLOCK restarts as restart_syscall."""
    from simulator.kernel import signal as S

    if syscall_nr(k, task) < 0:
        return
    bits = 8 * _word(k)
    error = _signed(read_slot(k, task, "ax"), bits)
    if error in (-S.ERESTARTNOHAND, -S.ERESTARTSYS, -S.ERESTARTNOINTR):
        write_slot(k, task, "ax", read_slot(k, task, "orig_ax"))
    elif error == -S.ERESTART_RESTARTBLOCK:
        nr = 0 if task.is_compat or k.kind == "i386" else 219  # __NR_restart_syscall
        if nr and k.options.get("profile") == "linux-6.9":
            # get_nr_restart_syscall (arch/x86/kernel/signal.c, 6.9): __NR_restart_syscall |
            # (regs->orig_ax & __X32_SYSCALL_BIT), so an x32 task restarts as x32.
            nr |= read_slot(k, task, "orig_ax") & 0x4000_0000
        write_slot(k, task, "ax", nr)
    else:
        return
    write_slot(k, task, "ip", read_slot(k, task, "ip") - 2)
    k.note(
        "do_signal (arch/x86/kernel/signal.c)",
        f"no handler ran: restart the interrupted call ({error}): ax = orig_ax, ip -= 2",
    )


def _deliver(k: Kernel, task: Task, signal: int) -> bool:
    """Deliver one signal; True when a handler was set up for it."""
    from simulator.kernel import signal as S

    action = task.sigactions.get(signal, (S.SIG_DFL, 0, 0, 0))[0]
    if S.is_ignored(task, signal) and signal != SIGKILL:
        k.note(where("get_signal_to_deliver", "kernel/signal.c"), f"signal {signal}: ignored")
        return False
    if action not in (S.SIG_DFL, S.SIG_IGN) and signal != SIGKILL:
        S.handle_signal(k, task, signal, task.sigactions[signal])
        return True
    if signal in _STOPPING:
        # do_signal_stop (kernel/signal.c): TASK_STOPPED with the signal as the group exit
        # code, the parent told (CLD_STOPPED); a SIGCONT (or SIGKILL) wakes it.
        task.job_stopped = True
        task.job_status = (signal << 8) | 0x7F
        parent = k.tasks.get(task.parent)
        if parent is not None and parent.alive:
            from simulator.kernel import signal as S2

            S2.send(k, parent, 17, "do_notify_parent_cldstop, CLD_STOPPED")
        k.note(
            where("do_signal_stop", "kernel/signal.c"),
            f"signal {signal}: default action stop: TASK_STOPPED until SIGCONT",
        )
        k.cpu.r[L_RIP] = k.symbols["ptrace_stop_resume"]
        task.resume = ("job_continued",)
        k.stop("stopped", f"stopped by signal {signal} (job control)")
    reason = task.fault_reason.pop(signal, None)
    traps.kill(
        k, signal, reason=reason or f"signal {signal} delivered on the way back to user mode"
    )
    return False


def _signal_reported(k: Kernel, task: Task, mask: int) -> None:
    signal = task.stop_code
    task.stop_code = 0
    handled = False
    if signal:
        handled = _deliver(k, task, signal)
    else:
        k.note(
            where("ptrace_signal", "kernel/signal.c"),
            "the tracer resumed with signal 0: the signal is discarded",
        )
    if not handled and not task.pending_signals:
        _restart_without_handler(k, task)
    CONTINUATIONS[f"after_signal_{_flavour(k)}"](k, mask)
    _fall_through(k)


def _seccomp_event_reported(k: Kernel, task: Task, cont: str) -> None:
    from simulator.kernel import seccomp

    if seccomp.after_trace_event(k, task):
        _enter_out(k, task, cont, -1)
        return
    _enter_after_seccomp(k, task, cont)


def _syscall_woken(k: Kernel, task: Task, table: str, number: int, args, after, extra) -> None:
    """Back from schedule() in a sleeping handler: run the call again from there."""
    k.call_or_sleep(table, number, tuple(args), after, tuple(extra))


def _job_continued(k: Kernel, task: Task) -> None:
    """Back from a job-control stop (SIGCONT or SIGKILL woke it): the exit work goes on."""
    CONTINUATIONS[f"after_signal_{_flavour(k)}"](k, TIF_WORK_MASK)
    _fall_through(k)


_RESUME: dict[str, Callable[..., None]] = {
    "job_continued": _job_continued,
    "syscall_sleep": _syscall_woken,
    "enter_reported": _enter_reported,
    "leave_reported": _leave_reported,
    "signal_reported": _signal_reported,
    "seccomp_event_reported": _seccomp_event_reported,
}
# Where an exit-work hook falls through to when it was resumed from a stop instead. The
# linux-6.9 model (simulator.kernel.common69) has none: its continuations choose the exit.
_EXIT_FALLTHROUGH = {"x86_64": "retint_swapgs", "i386": "restore_all"}


def _flavour(k: Kernel) -> str:
    """The key of the exit-work continuations: the kernel kind, with "-6.9" for linux-6.9."""
    return k.kind if k.options.get("profile", "linux-3.16") == "linux-3.16" else f"{k.kind}-6.9"


def _fall_through(k: Kernel) -> None:
    fall = _EXIT_FALLTHROUGH.get(_flavour(k))
    if fall is not None:
        k.cpu.r[L_RIP] = k.symbols[fall]


L_RIP = 16  # simulator.cpu.registers.RIP


# ------------------------------------------------------------------ sys_ptrace


@attrs.frozen
class PtraceResult:
    """What ptrace(2) gives back: ``ret`` (0 or -errno, as sys_ptrace returns it),
    ``errno`` (its name), and ``value``: the word PEEK* reads, the registers GETREGS
    copies (a dict of user_regs_struct fields), the message GETEVENTMSG reads."""

    ret: int
    errno: str | None = None
    value: Any = None


def _fail(k: Kernel, name: str, why: str) -> PtraceResult:
    k.note(where("sys_ptrace", SOURCE), f"-{name}: {why}")
    return PtraceResult(-abi.errno_number(name), name)


def valid_signal(sig: int) -> bool:
    return 0 <= sig <= _NSIG


def sys_ptrace(
    k: Kernel, tracer: Task, request: int, pid: int, addr: int, data: Any
) -> PtraceResult:
    """sys_ptrace (kernel/ptrace.c, 3.16): TRACEME, ATTACH, then ptrace_check_attach and
    arch_ptrace / ptrace_request for the rest."""
    if request == PTRACE_TRACEME:
        return _traceme(k, tracer)
    child = k.tasks.get(pid)
    if child is None or (not child.alive and child.reaped):
        return _fail(k, "ESRCH", f"no process {pid} (ptrace_get_task_struct)")
    if request == PTRACE_ATTACH:
        return _attach(k, tracer, child)
    if not (child.ptrace & PT_PTRACED and child.tracer == tracer.pid):
        return _fail(
            k, "ESRCH", f"process {pid} is not traced by {tracer.pid} (ptrace_check_attach)"
        )
    if request != PTRACE_KILL and not child.stopped:
        return _fail(k, "ESRCH", f"process {pid} is not stopped (ptrace_check_attach)")
    return arch_ptrace(k, child, request, addr, data)


def _traceme(k: Kernel, task: Task) -> PtraceResult:
    if task.ptrace:
        return _fail(k, "EPERM", "already traced (ptrace_traceme)")
    parent = k.tasks.get(task.parent)
    if parent is None or not parent.alive:
        return _fail(k, "EPERM", "no parent to trace it (ringsim: spawn(parent=...) sets one)")
    task.ptrace = PT_PTRACED
    task.tracer = task.parent
    k.note(
        where("ptrace_traceme", SOURCE),
        f"current->ptrace = PT_PTRACED; tracer = parent {task.parent}",
    )
    return PtraceResult(0)


def _attach(k: Kernel, tracer: Task, child: Task) -> PtraceResult:
    if child is tracer:
        return _fail(k, "EPERM", "a task cannot attach to itself (ptrace_attach)")
    if not child.alive:
        return _fail(k, "EPERM", "the task is exiting (ptrace_attach)")
    if child.ptrace:
        return _fail(k, "EPERM", "already traced (ptrace_attach)")
    child.ptrace = PT_PTRACED
    child.tracer = tracer.pid
    send_signal(k, child, SIGSTOP)
    k.note(where("ptrace_attach", SOURCE), f"PT_PTRACED; send_sig_info(SIGSTOP) to {child.pid}")
    return PtraceResult(0)


def arch_ptrace(k: Kernel, child: Task, request: int, addr: int, data: Any) -> PtraceResult:
    """arch_ptrace (arch/x86/kernel/ptrace.c), falling back to ptrace_request."""
    word = _word(k)
    user_size = SIZEOF_USER_64 if k.kind == "x86_64" else SIZEOF_USER_32
    regs_size = len(USER_REGS_64 if k.kind == "x86_64" else USER_REGS_32) * word
    if request in (PTRACE_PEEKUSR, PTRACE_POKEUSR):
        if addr % word or addr < 0 or addr >= user_size:
            return _fail(k, "EIO", f"offset {addr:#x} misaligned or past sizeof(struct user)")
        if addr >= regs_size:
            debug = U_DEBUGREG_64 if k.kind == "x86_64" else U_DEBUGREG_32
            in_debugregs = debug <= addr <= debug + 7 * word
            if request == PTRACE_PEEKUSR:
                # ptrace_get_debugreg gives 0 (no breakpoints set); the rest of struct user
                # reads as tmp = 0.
                return PtraceResult(0, None, 0)
            if in_debugregs:
                k.unmodeled.append("ptrace_set_debugreg")
                return _fail(k, "EIO", "setting debug registers is not modeled")
            return _fail(k, "EIO", f"POKEUSR at {addr:#x}: neither a register nor u_debugreg")
        name = (USER_REGS_64 if k.kind == "x86_64" else USER_REGS_32)[addr // word]
        if request == PTRACE_PEEKUSR:
            return PtraceResult(0, None, getreg(k, child, name))
        return putreg(k, child, name, int(data))
    if request == PTRACE_GETREGS:
        names = USER_REGS_64 if k.kind == "x86_64" else USER_REGS_32
        return PtraceResult(0, None, {n: getreg(k, child, n) for n in names})
    if request == PTRACE_SETREGS:
        if not isinstance(data, Mapping):
            raise TypeError(
                f"data: expected a mapping of user_regs_struct fields, received {data!r}"
            )
        names = USER_REGS_64 if k.kind == "x86_64" else USER_REGS_32
        unknown = set(data) - set(names)
        if unknown:
            raise ValueError(f"data: expected user_regs_struct fields, received {sorted(unknown)}")
        for name in names:
            if name in data:
                result = putreg(k, child, name, int(data[name]))
                if result.ret:
                    return result
        return PtraceResult(0)
    return ptrace_request(k, child, request, addr, data)


def getreg(k: Kernel, task: Task, name: str) -> int:
    """getreg: the pt_regs slot, or the thread's segment state."""
    if k.kind == "x86_64":
        if name in _USER64_TO_PT:
            value = read_slot(k, task, _USER64_TO_PT[name])
            if name in ("cs", "ss"):
                value &= 0xFFFF
            return value
        if name == "fs_base":
            return task.fs_base
        if name == "gs_base":
            return task.gs_base
        state = task.kernel_state or task.user_state
        index = {"es": 0, "ds": 3, "fs": 4, "gs": 5}[name]
        return state.selectors[index] if state is not None else 0
    value = read_slot(k, task, _USER32_TO_PT[name])
    if name in ("xds", "xes", "xfs", "xgs", "xcs", "xss"):
        value &= 0xFFFF
    return value


def putreg(k: Kernel, task: Task, name: str, value: int) -> PtraceResult:
    """putreg: segment selectors must be null or RPL 3, fs_base/gs_base below TASK_SIZE,
    flags only in FLAG_MASK; anything else is stored in pt_regs as given."""
    bits = 8 * _word(k)
    value &= (1 << bits) - 1
    if name in ("cs", "ss", "ds", "es", "fs", "gs", "xcs", "xss", "xds", "xes", "xfs", "xgs"):
        value &= 0xFFFF  # set_segment_reg takes a u16
        if name in ("cs", "ss") and not task.has(L.TIF_IA32):
            # "Can't actually change these in 64-bit mode": ignored for a 64-bit tracee.
            k.note(where("set_segment_reg"), f"{name} of a 64-bit task cannot change: ignored")
            return PtraceResult(0)
        if value and (value & 3) != 3:
            return _fail(k, "EIO", f"{name} = {value:#x}: not a user selector (invalid_selector)")
        if name in ("cs", "ss", "xcs", "xss") and value == 0:
            return _fail(k, "EIO", f"{name} = 0: CS and SS cannot be null")
        pt_name = _USER64_TO_PT.get(name) or _USER32_TO_PT.get(name)
        if pt_name is None:
            k.unmodeled.append("set_segment_reg")
            return _fail(k, "EIO", f"setting {name} of a stopped task is not modeled")
        write_slot(k, task, pt_name, value)
        return PtraceResult(0)
    if name in ("fs_base", "gs_base"):
        if value >= L.TASK_SIZE_MAX_64:
            return _fail(k, "EIO", f"{name} = {value:#x} is not below TASK_SIZE")
        setattr(task, name, value)
        return PtraceResult(0)
    if name == "eflags":
        old = read_slot(k, task, "flags")
        write_slot(k, task, "flags", (old & ~FLAG_MASK) | (value & FLAG_MASK))
        return PtraceResult(0)
    pt_name = _USER64_TO_PT[name] if k.kind == "x86_64" else _USER32_TO_PT[name]
    write_slot(k, task, pt_name, value)
    k.note(where("putreg"), f"{name} = {value:#x} in pid {task.pid}'s pt_regs")
    return PtraceResult(0)


def _access_vm(k: Kernel, task: Task, addr: int, size: int) -> bytes | None:
    try:
        return task.mm.peek(addr, size)
    except LookupError:
        return None


def ptrace_request(k: Kernel, child: Task, request: int, addr: int, data: Any) -> PtraceResult:
    """ptrace_request (kernel/ptrace.c, 3.16)."""
    word = _word(k)
    if request in (PTRACE_PEEKTEXT, PTRACE_PEEKDATA):
        raw = _access_vm(k, child, addr, word)
        if raw is None:
            return _fail(k, "EIO", f"access_process_vm({addr:#x}) copied less than a word")
        return PtraceResult(0, None, int.from_bytes(raw, "little"))
    if request in (PTRACE_POKETEXT, PTRACE_POKEDATA):
        if _access_vm(k, child, addr, word) is None:
            return _fail(k, "EIO", f"access_process_vm({addr:#x}) wrote less than a word")
        child.mm.poke(addr, (int(data) & ((1 << (8 * word)) - 1)).to_bytes(word, "little"))
        return PtraceResult(0)
    if request == PTRACE_SETOPTIONS:
        data = int(data)
        if data & ~PTRACE_O_MASK:
            return _fail(k, "EINVAL", f"options {data:#x} outside PTRACE_O_MASK")
        child.ptrace &= ~(PTRACE_O_MASK << PT_OPT_FLAG_SHIFT)
        child.ptrace |= data << PT_OPT_FLAG_SHIFT
        k.note(where("ptrace_setoptions", SOURCE), f"options {data:#x}")
        return PtraceResult(0)
    if request == PTRACE_GETEVENTMSG:
        return PtraceResult(0, None, child.ptrace_message)
    if request in (PTRACE_CONT, PTRACE_SYSCALL, PTRACE_SYSEMU, PTRACE_KILL):
        if request == PTRACE_KILL:
            if not child.alive:
                return PtraceResult(0)
            data = SIGKILL
        return ptrace_resume(k, child, request, int(data))
    if request == PTRACE_DETACH:
        if not valid_signal(int(data)):
            return _fail(k, "EIO", f"signal {data} is not valid")
        child.set_flag(L.TIF_SYSCALL_EMU, False)
        child.set_flag(L.TIF_SYSCALL_TRACE, False)
        child.set_flag(L.TIF_SINGLESTEP, False)
        child.ptrace = 0
        child.tracer = 0
        _wake(k, child, int(data))
        k.note(where("ptrace_detach", SOURCE), f"untraced; resumed with signal {data}")
        return PtraceResult(0)
    if request in (PTRACE_SINGLESTEP, PTRACE_SYSEMU_SINGLESTEP):
        k.unmodeled.append("user_enable_single_step")
        return _fail(k, "EIO", "single-stepping is not modeled (no #DB)")
    return _fail(k, "EIO", f"request {request} is not one ptrace_request knows")


def ptrace_resume(k: Kernel, child: Task, request: int, data: int) -> PtraceResult:
    """ptrace_resume: TIF_SYSCALL_TRACE for PTRACE_SYSCALL (cleared otherwise),
    TIF_SYSCALL_EMU for PTRACE_SYSEMU, exit_code = data, wake_up_state(__TASK_TRACED)."""
    if not valid_signal(data):
        return _fail(k, "EIO", f"signal {data} is not valid")
    child.set_flag(L.TIF_SYSCALL_TRACE, request == PTRACE_SYSCALL)
    child.set_flag(L.TIF_SYSCALL_EMU, request == PTRACE_SYSEMU)
    child.set_flag(L.TIF_SINGLESTEP, False)
    _wake(k, child, data)
    k.note(
        where("ptrace_resume", SOURCE),
        f"pid {child.pid}: TIF_SYSCALL_TRACE {int(request == PTRACE_SYSCALL)}, "
        f"TIF_SYSCALL_EMU {int(request == PTRACE_SYSEMU)}, exit_code = {data}; wake up",
    )
    return PtraceResult(0)


def _wake(k: Kernel, child: Task, data: int) -> None:
    """exit_code = data and wake_up_state(__TASK_TRACED). A task stopped between calls
    (idle_signal) has no kernel path to go on with: its signal takes effect here."""
    child.stop_code = data
    child.stopped = False
    if child.resume == ("idle_signal",):
        idle_resumed(k, child)


# ------------------------------------------------------------------ wait


@attrs.frozen
class WaitResult:
    """What wait4 gives back: ``pid`` (the child reported, 0 for nothing yet, or -errno)
    and ``status``, the wait status word (WIFSTOPPED: low byte 0x7f, WSTOPSIG in bits 8-15,
    the ptrace event above; WIFEXITED: low 7 bits 0, WEXITSTATUS in bits 8-15; WIFSIGNALED:
    the signal in the low 7 bits)."""

    pid: int
    status: int = 0
    errno: str | None = None

    @property
    def stopped(self) -> bool:
        """WIFSTOPPED: a child was reported stopped (low byte 0x7f)."""
        return self.pid > 0 and self.status & 0xFF == 0x7F

    @property
    def stopsig(self) -> int:
        """WSTOPSIG: the signal that stopped it (bits 8-15; SIGTRAP | 0x80 for a syscall stop
        under PTRACE_O_TRACESYSGOOD)."""
        return (self.status >> 8) & 0xFF

    @property
    def event(self) -> int:
        """The PTRACE_EVENT_* of a ptrace event stop (status >> 16), 0 for none."""
        return self.status >> 16

    @property
    def exited(self) -> bool:
        """WIFEXITED: a child was reported to have exited (low 7 bits 0)."""
        return self.pid > 0 and self.status & 0x7F == 0

    @property
    def exitstatus(self) -> int:
        """WEXITSTATUS: its exit code (bits 8-15)."""
        return (self.status >> 8) & 0xFF

    @property
    def signaled(self) -> bool:
        """WIFSIGNALED: a child was reported killed by a signal."""
        return self.pid > 0 and (self.status & 0x7F) not in (0, 0x7F)

    @property
    def termsig(self) -> int:
        """WTERMSIG: the signal that killed it (low 7 bits)."""
        return self.status & 0x7F


WUNTRACED, WCONTINUED = 2, 8


def wait_report(k: Kernel, waiter: Task, child: Task, options: int = 0) -> WaitResult | None:
    """wait_task_zombie, wait_task_stopped (ptrace=1 for a tracee; WUNTRACED for a
    job-control stop) and wait_task_continued (WCONTINUED): the child's reportable state."""
    if not child.alive:
        if child.reaped:
            return None
        child.reaped = True
        status = child.exit_code or 0
        k.note(
            where("wait_task_zombie", "kernel/exit.c"),
            f"pid {child.pid}: status {status:#x}; reaped",
        )
        return WaitResult(child.pid, status)
    if child.stopped and child.stop_code:
        status = (child.stop_code << 8) | 0x7F
        child.stop_code = 0
        k.note(
            where("wait_task_stopped", "kernel/exit.c"),
            f"pid {child.pid}: traced stop, status {status:#x} (exit_code cleared)",
        )
        return WaitResult(child.pid, status)
    if child.job_status and (options & WUNTRACED or child.tracer == waiter.pid):
        status = child.job_status if child.job_stopped else 0
        if child.job_stopped:
            child.job_status = 0
            k.note(
                where("wait_task_stopped", "kernel/exit.c"),
                f"pid {child.pid}: stopped, {status:#x}",
            )
            return WaitResult(child.pid, status)
    if child.continued and options & WCONTINUED:
        child.continued = False
        k.note(where("wait_task_continued", "kernel/exit.c"), f"pid {child.pid}: continued")
        return WaitResult(child.pid, 0xFFFF)
    return None


# ------------------------------------------------------------------ the system calls


def _handler(name: str, source: str):
    from simulator.kernel.syscalls import handler

    return handler(name, source)


@_handler("sys_ptrace", SOURCE)
def sys_ptrace_call(k: Kernel, request: int, pid: int, addr: int, data: int, *_: int) -> int:
    """ptrace(2) from a simulated process: PEEK* put the word at ``data`` (put_user), GETREGS
    and SETREGS copy user_regs_struct to and from ``data`` (copy_regset_to_user/from_user)."""
    from simulator.kernel import uaccess

    task = k.current
    assert task is not None
    request &= (1 << 64) - 1
    pid = _signed(pid, 32)
    word = _word(k)
    names = USER_REGS_64 if k.kind == "x86_64" else USER_REGS_32
    payload: Any = data
    if request == PTRACE_SETREGS:
        raw, missing = uaccess.copy_from_user(k, data, len(names) * word, "copy_regset_from_user")
        if missing or not uaccess.access_ok(k, data, len(names) * word):
            return -abi.errno_number("EFAULT")
        payload = {
            n: int.from_bytes(raw[i * word : (i + 1) * word], "little") for i, n in enumerate(names)
        }
    result = sys_ptrace(k, task, request, pid, addr, payload)
    if result.ret or result.value is None:
        return result.ret
    if request == PTRACE_GETREGS:
        blob = b"".join(
            (result.value[n] & ((1 << (8 * word)) - 1)).to_bytes(word, "little") for n in names
        )
        ok = uaccess.access_ok(k, data, len(blob)) and not uaccess.copy_to_user(
            k, data, blob, "copy_regset_to_user"
        )
        return 0 if ok else -abi.errno_number("EFAULT")
    if not uaccess.put_user(k, data, result.value, word):
        return -abi.errno_number("EFAULT")
    return 0


@_handler("sys_wait4", "kernel/exit.c")
def sys_wait4(k: Kernel, pid: int, status_addr: int, options: int, rusage: int, *_: int) -> int:
    """wait4 from a simulated process, for a child that is already stopped or dead (or with
    WNOHANG). Waiting for a child that would have to run first needs a scheduler, which
    ringsim does not model: that case is reported as not modeled."""
    from simulator.kernel import uaccess

    task = k.current
    assert task is not None
    pid = _signed(pid, 32)
    options &= 0xFFFF_FFFF
    candidates = [
        t
        for t in k.tasks.values()
        if (t.tracer == task.pid or t.parent == task.pid)
        and not t.reaped
        and (pid == -1 or t.pid == pid)
    ]
    if not candidates:
        k.note(where("do_wait", "kernel/exit.c"), "no such child: -ECHILD")
        return -abi.errno_number("ECHILD")
    for child in candidates:
        report = wait_report(k, task, child, options)
        if report is None:
            continue
        if status_addr and not uaccess.put_user(k, status_addr, report.status, 4):
            return -abi.errno_number("EFAULT")
        return report.pid
    if options & WNOHANG:
        return 0
    return k.not_modeled("do_wait", "wait4 would sleep until the child runs (no scheduler)")
