"""kernel/seccomp.c (Linux 3.16): prctl(PR_SET_SECCOMP) and __secure_computing.

The BPF side (the checker and the interpreter) is simulator.kernel.bpf; this module is what
the kernel does with it: attach filters from user memory, and run them at syscall entry.
3.16 has no seccomp(2); filters arrive only through prctl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import abi
from simulator.kernel import bpf, uaccess
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel
    from simulator.kernel.task import Task

SOURCE = "kernel/seccomp.c"
TIF_NOTSC = 16  # arch/x86/include/asm/thread_info.h: strict mode disables RDTSC
CR4_TSD = 1 << 2


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def is_compat_task(k: Kernel, task: Task) -> bool:
    """is_compat_task (arch/x86/include/asm/compat.h, 3.16): is_ia32_task() (TS_COMPAT) or
    is_x32_task() (orig_ax carries __X32_SYSCALL_BIT). Note x32 counts as compat here."""
    if k.kind == "i386":
        return True
    if task.status & L.TS_COMPAT:
        return True
    return bool(P.read_slot(k, task, "orig_ax") & abi.X32_SYSCALL_BIT)


def set_mode(k: Kernel, task: Task, mode: int, user_filter: int) -> int:
    """seccomp_set_mode: a task may only stay in its mode; strict mode also disables the TSC
    (TIF_NOTSC); filter mode attaches the filter at ``user_filter`` first."""
    if task.seccomp_mode and task.seccomp_mode != mode:
        k.note(where("seccomp_set_mode"), f"mode {task.seccomp_mode} already set: -EINVAL")
        return -abi.errno_number("EINVAL")
    if mode == bpf.SECCOMP_MODE_STRICT:
        task.set_flag(TIF_NOTSC)
        k.cpu.cr4 = k.cpu.cr4 | CR4_TSD
        what = "SECCOMP_MODE_STRICT: only read, write, exit, sigreturn from now on; disable_TSC()"
    elif mode == bpf.SECCOMP_MODE_FILTER:
        ret = attach_user_filter(k, task, user_filter)
        if ret:
            return ret
        what = f"SECCOMP_MODE_FILTER: {len(task.seccomp_filters)} filter(s) attached"
    else:
        k.note(where("seccomp_set_mode"), f"mode {mode}: -EINVAL")
        return -abi.errno_number("EINVAL")
    task.seccomp_mode = mode
    task.set_flag(L.TIF_SECCOMP)
    k.note(where("seccomp_set_mode"), f"{what}; set TIF_SECCOMP")
    return 0


def attach_user_filter(k: Kernel, task: Task, user_filter: int) -> int:
    """seccomp_attach_user_filter + seccomp_attach_filter: read struct sock_fprog (the compat
    layout for a compat task), check the length, the total per path, no_new_privs or
    CAP_SYS_ADMIN, copy the instructions, then sk_chk_filter and seccomp_check_filter."""
    compat = is_compat_task(k, task)
    size = 8 if compat else 16
    raw, missing = uaccess.copy_from_user(k, user_filter, size, "copy_from_user")
    if missing or not uaccess.access_ok(k, user_filter, size):
        k.note(where("seccomp_attach_user_filter"), "struct sock_fprog unreadable: -EFAULT")
        return -abi.errno_number("EFAULT")
    length = int.from_bytes(raw[0:2], "little")
    pointer = int.from_bytes(raw[4:8] if compat else raw[8:16], "little")
    if length == 0 or length > bpf.BPF_MAXINSNS:
        k.note(where("seccomp_attach_filter"), f"len {length}: -EINVAL")
        return -abi.errno_number("EINVAL")
    attached = [bpf.converted_length(f) for f in task.seccomp_filters]
    if bpf.check_path_length(length, attached):
        k.note(where("seccomp_attach_filter"), "more than MAX_INSNS_PER_PATH: -ENOMEM")
        return -abi.errno_number("ENOMEM")
    if not task.no_new_privs and not task.cap_sys_admin:
        k.note(
            where("seccomp_attach_filter"),
            "neither no_new_privs nor CAP_SYS_ADMIN: -EACCES",
        )
        return -abi.errno_number("EACCES")
    data, missing = uaccess.copy_from_user(k, pointer, length * 8, "copy_from_user")
    if missing or not uaccess.access_ok(k, pointer, length * 8):
        k.note(where("seccomp_attach_filter"), "the instructions are unreadable: -EFAULT")
        return -abi.errno_number("EFAULT")
    program = bpf.parse_filter(bytes(data))
    if isinstance(program, bpf.Refused):
        k.note(where(program.check), f"{program.reason}: -EINVAL")
        return int(program)
    task.seccomp_filters.insert(0, program)
    k.note(
        where("seccomp_attach_filter"),
        f"{length} instructions accepted by sk_chk_filter and seccomp_check_filter",
    )
    return 0


def secure_computing(
    k: Kernel,
    task: Task,
    cont: str,
    *,
    resume: str = "seccomp_event_reported",
    recheck_after_trace: bool = False,
) -> bool:
    """__secure_computing (3.16): True when the call must be skipped (ret -1). Strict mode
    kills with SIGKILL, a filter's KILL with SIGSYS (do_exit), TRAP sends SIGSYS and skips,
    ERRNO sets -data and skips, TRACE stops for a tracer with PTRACE_O_TRACESECCOMP (or, with
    none, skips with -ENOSYS), ALLOW runs the call. ``resume`` names the stage the TRACE stop
    goes on from (the linux-6.9 model has its own). ``recheck_after_trace`` is the linux-6.9
    model's second run of the filters after the tracer resumed (kernel/seccomp.c since 4.8):
    a TRACE result then means allow ("We've been put in this state by the ptracer
    already")."""
    nr = P.syscall_nr(k, task)
    if task.seccomp_mode == bpf.SECCOMP_MODE_STRICT:
        allowed = bpf.MODE1_SYSCALLS_32 if is_compat_task(k, task) else bpf.MODE1_SYSCALLS_64
        if nr in allowed:
            k.note(where("__secure_computing"), f"strict mode: {nr} is allowed")
            return False
        k.note(where("__secure_computing"), f"strict mode: {nr} is not allowed: do_exit(SIGKILL)")
        _do_exit(k, task, P.SIGKILL, f"seccomp strict mode refused syscall {nr}")
    arch = _arch(k, task)
    args = P.syscall_arguments(k, task)
    ip = P.read_slot(k, task, "ip")
    data = bpf.seccomp_data(nr, arch, ip, args)
    result = bpf.run_filters(task.seccomp_filters, data)
    action = result & bpf.SECCOMP_RET_ACTION
    value = result & bpf.SECCOMP_RET_DATA
    text = f"seccomp_run_filters(nr {nr}, arch {arch:#x}) = {result:#x}"
    if action == bpf.SECCOMP_RET_ERRNO:
        P.write_slot(k, task, "ax", -value)
        k.note(where("__secure_computing"), f"{text}: SECCOMP_RET_ERRNO: ax = -{value}; skip")
        return True
    if action == bpf.SECCOMP_RET_TRAP:
        from simulator.kernel import signal as S

        P.write_slot(k, task, "ax", P.read_slot(k, task, "orig_ax"))
        # seccomp_send_sigsys: si_code SYS_SECCOMP, si_errno = the filter's data, and the
        # _sigsys member: si_call_addr (KSTK_EIP), si_syscall, si_arch (syscall_get_arch).
        fields = {"call_addr": ip, "syscall": nr & 0xFFFF_FFFF, "arch": arch}
        S.force_sig_info(k, task, P.SIGSYS, (value, S.SYS_SECCOMP, fields))
        k.note(
            where("__secure_computing"),
            f"{text}: SECCOMP_RET_TRAP: syscall_rollback, seccomp_send_sigsys; skip",
        )
        return True
    if action == bpf.SECCOMP_RET_TRACE:
        if recheck_after_trace:
            k.note(
                where("__seccomp_filter"),
                f"{text}: SECCOMP_RET_TRACE on the recheck after the trace: return 0 (allow)",
            )
            return False
        enabled = task.ptrace & P.PT_PTRACED and task.ptrace & (
            1 << (P.PT_OPT_FLAG_SHIFT + P.PTRACE_EVENT_SECCOMP)
        )
        if not enabled:
            P.write_slot(k, task, "ax", -abi.errno_number("ENOSYS"))
            k.note(where("__secure_computing"), f"{text}: SECCOMP_RET_TRACE, no tracer: -ENOSYS")
            return True
        task.ptrace_message = value
        P.ptrace_notify(
            k,
            (P.PTRACE_EVENT_SECCOMP << 8) | P.SIGTRAP,
            f"{text}: SECCOMP_RET_TRACE: ptrace_event(PTRACE_EVENT_SECCOMP, {value})",
            (resume, cont),
        )
        if k.options.get("profile") == "linux-6.9":
            return after_trace_event_69(k, task, cont)  # no stop: SIGKILL was pending
        return after_trace_event(k, task)  # no stop: SIGKILL was pending
    if action == bpf.SECCOMP_RET_ALLOW:
        k.note(where("__secure_computing"), f"{text}: SECCOMP_RET_ALLOW")
        return False
    k.note(where("__secure_computing"), f"{text}: SECCOMP_RET_KILL: do_exit(SIGSYS)")
    _do_exit(k, task, P.SIGSYS, f"seccomp filter killed syscall {nr}")
    return True


def after_trace_event(k: Kernel, task: Task) -> bool:
    """The rest of SECCOMP_RET_TRACE once the tracer resumes: a fatal signal pending stops the
    call (the task dies on the way out, kernel/seccomp.c "break" to do_exit); a number
    the tracer set below 0 skips the call; otherwise it runs (3.16 does not run the filters
    again)."""
    # ptrace_notify ignores the signal the tracer resumes with (only syscall stops and
    # signal-delivery stops use current->exit_code), so only a SIGKILL already queued is fatal.
    task.stop_code = 0
    if P.SIGKILL in task.pending_signals:
        _do_exit(k, task, P.SIGSYS, "fatal signal pending after the seccomp event")
    if P.syscall_nr(k, task) < 0:
        k.note(where("__secure_computing"), "the tracer set the number below 0: skip")
        return True
    return False


def after_trace_event_69(k: Kernel, task: Task, cont: str) -> bool:
    """The rest of SECCOMP_RET_TRACE in __seccomp_filter (kernel/seccomp.c, 6.9) once the
    tracer resumes: a fatal signal pending skips the call and lets the signal kill the task
    (since 4.20, "goto skip", no do_exit); a number below 0 skips; otherwise the filters run
    again with recheck_after_trace, where a second TRACE means allow."""
    task.stop_code = 0
    if P.SIGKILL in task.pending_signals:
        k.note(
            where("__seccomp_filter"),
            "fatal_signal_pending after ptrace_event: goto skip (the signal kills the task)",
        )
        return True
    if P.syscall_nr(k, task) < 0:
        k.note(where("__seccomp_filter"), "the tracer set the number below 0: goto skip")
        return True
    k.note(where("__seccomp_filter"), "recheck: __seccomp_filter(this_syscall, NULL, true)")
    return secure_computing(
        k, task, cont, resume="seccomp69_event_reported", recheck_after_trace=True
    )


def _arch(k: Kernel, task: Task) -> int:
    """syscall_get_arch (3.16): AUDIT_ARCH_I386 under TS_COMPAT, else AUDIT_ARCH_X86_64 (x32
    included)."""
    return P.audit_arch(k, task)


def _do_exit(k: Kernel, task: Task, signal: int, reason: str) -> None:
    """do_exit(signal): the task ends with the signal number as its exit code, so wait sees
    WIFSIGNALED with that signal (no core file)."""
    task.killed_by = signal
    task.exit_code = signal
    k.note("do_exit (kernel/exit.c)", f"task {task.pid} exits, status {signal:#x} ({reason})")
    k.stop("signal", reason)
