"""arch/x86/kernel/traps.c and arch/x86/mm/fault.c (Linux 3.16): what a user's fault becomes.

A fault in user mode becomes a signal to the task (do_trap, do_general_protection,
__bad_area_nosemaphore); until signal handlers are modeled, every such signal
takes its default action and ends the task. A fault in kernel mode that no
exception-table entry covers is an oops.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

# Signal numbers (arch/x86/include/uapi/asm/signal.h).
SIGILL = 4
SIGTRAP = 5
SIGBUS = 7
SIGFPE = 8
SIGKILL = 9
SIGSEGV = 11
SIGSYS = 31
SIGNAL_NAMES = {
    SIGILL: "SIGILL",
    SIGTRAP: "SIGTRAP",
    SIGBUS: "SIGBUS",
    SIGFPE: "SIGFPE",
    SIGKILL: "SIGKILL",
    SIGSEGV: "SIGSEGV",
    SIGSYS: "SIGSYS",
}

# The signal each exception sends to a user task, with the 3.16 routine that sends it:
# DO_ERROR(X86_TRAP_DE, SIGFPE, ...), DO_ERROR(X86_TRAP_UD, SIGILL, ...),
# DO_ERROR(X86_TRAP_NP, SIGBUS, ...), DO_ERROR(X86_TRAP_SS, SIGBUS, ...),
# do_general_protection -> SIGSEGV, do_page_fault -> SIGSEGV, do_int3 -> SIGTRAP.
TRAP_SIGNALS: dict[int, tuple[int, str]] = {
    0: (SIGFPE, "do_divide_error (arch/x86/kernel/traps.c)"),
    3: (SIGTRAP, "do_int3 (arch/x86/kernel/traps.c)"),
    4: (SIGSEGV, "do_overflow (arch/x86/kernel/traps.c)"),
    5: (SIGSEGV, "do_bounds (arch/x86/kernel/traps.c)"),
    6: (SIGILL, "do_invalid_op (arch/x86/kernel/traps.c)"),
    7: (SIGSEGV, "do_device_not_available (arch/x86/kernel/traps.c)"),
    10: (SIGSEGV, "do_invalid_TSS (arch/x86/kernel/traps.c)"),
    11: (SIGBUS, "do_segment_not_present (arch/x86/kernel/traps.c)"),
    12: (SIGBUS, "do_stack_segment (arch/x86/kernel/traps.c)"),
    13: (SIGSEGV, "do_general_protection (arch/x86/kernel/traps.c)"),
    14: (SIGSEGV, "do_page_fault -> bad_area (arch/x86/mm/fault.c)"),
    16: (SIGFPE, "do_coprocessor_error (arch/x86/kernel/traps.c)"),
    17: (SIGBUS, "do_alignment_check (arch/x86/kernel/traps.c)"),
    19: (SIGFPE, "do_simd_coprocessor_error (arch/x86/kernel/traps.c)"),
}
# Default actions that dump core (kernel/signal.c SIG_KERNEL_COREDUMP_MASK).
CORE_SIGNALS = frozenset({SIGILL, SIGTRAP, SIGBUS, SIGFPE, SIGSEGV, SIGSYS})


def place(k: Kernel) -> None:
    """One handler routine per IDT gate that trap_init installs (the syscall gate aside)."""
    for gate in L.idt_gates(k.kind):
        if gate.vector == L.SYSCALL_VECTOR:
            continue
        k.routine((gate.handler, _handler(gate.vector, gate.handler)))
    if k.kind == "x86_64":
        from simulator.cpu.assembler import assemble

        k.routine(("exception_iret", assemble("iretq")))


def _handler(vector: int, name: str):
    def handle(k: Kernel) -> None:
        exception(k, vector, name)

    return handle


def exception(k: Kernel, vector: int, name: str) -> None:
    """An exception reached its handler: signal a user task, or oops for a kernel fault."""
    cpu = k.cpu
    wide = k.kind == "x86_64"
    word = 8 if wide else 4
    sp = cpu.r[4]
    pushes_code = vector in (8, 10, 11, 12, 13, 14, 17)
    frame = k.kread_words(sp, 6 if pushes_code else 5, word)
    if pushes_code:
        error_code, ip, cs = frame[0], frame[1], frame[2]
    else:
        error_code, ip, cs = None, frame[0], frame[1]
    from_user = (cs & 3) == 3
    detail = f"vector {vector} at ip {ip:#x}" + (
        f", error code {error_code:#x}" if error_code is not None else ""
    )
    if vector == 14:
        detail += f", CR2 = {cpu.cr2:#x}"
    six = k.options.get("profile") == "linux-6.9"
    iret_at = k.symbols.get(
        "native_irq_return_iret" if wide else ("irq_return_69" if six else "irq_return")
    )
    if not wide and not from_user and ip == iret_at and k.current is not None:
        # The IRET's exception-table entry on i386: 3.16's iret_exc (entry_32.S) pushes
        # do_iret_error, 6.9's .Lasm_iret_error pushes iret_error; both are do_trap(
        # X86_TRAP_IRET, SIGILL, "iret exception", ILL_BADSTK) (arch/x86/kernel/traps.c).
        k.note(
            "asm_iret_error -> iret_error (arch/x86/entry/entry_32.S, arch/x86/kernel/traps.c)"
            if six
            else "iret_exc -> do_iret_error (arch/x86/kernel/entry_32.S, arch/x86/kernel/traps.c)",
            f"the IRET to user mode faulted ({detail}): do_trap(X86_TRAP_IRET, SIGILL, "
            '"iret exception", ILL_BADSTK)',
        )
        kill(k, SIGILL, reason=f"IRET to user mode faulted: {detail}")
        return
    if not from_user and ip == iret_at and k.current is not None:
        # The exception table entry of the 64-bit IRET: bad_iret (entry_64.S) pretends the
        # iret completed and the fault came from user mode: a user #GP, SIGSEGV.
        k.note(
            "bad_iret (arch/x86/kernel/entry_64.S)",
            f"the IRET to user mode faulted ({detail}): handled as a user-mode #GP",
        )
        kill(k, SIGSEGV, reason=f"IRET to user mode faulted: {detail}")
        return
    if not from_user:
        k.note(f"{name} (arch/x86/kernel/entry_{64 if wide else 32}.S)", f"kernel-mode {detail}")
        k.stop("oops", f"kernel oops: {detail} in kernel mode, no exception-table fixup")
        return
    on_vsyscall_page = vector == 14 and wide and (cpu.cr2 >> 12) == (VSYSCALL_ADDR >> 12)
    if (
        on_vsyscall_page
        and k.options.get("vsyscall") == "emulate"
        and emulate_vsyscall(k, sp, error_code or 0)
    ):
        return
    signal, routine = TRAP_SIGNALS.get(vector, (SIGSEGV, f"{name} (arch/x86/kernel/traps.c)"))
    if k.current is not None:
        if wide:
            user_fault(k, vector, signal, routine, sp, pushes_code, error_code, ip, detail)
        else:
            user_fault_32(k, vector, signal, routine, sp, pushes_code, error_code, ip, detail)
        return
    k.note(routine, f"user-mode {detail}: force_sig({SIGNAL_NAMES[signal]})")
    kill(k, signal, reason=detail)


# si_code of the signal each user fault sends (include/uapi/asm-generic/siginfo.h) and
# whether si_addr is the faulting instruction: do_trap_no_signal/do_error_trap's info, 3.16.
_FAULT_INFO = {
    0: (1, True),  # FPE_INTDIV, si_addr = ip
    3: (0x80, False),  # SIGTRAP from int3: SI_KERNEL
    4: (0x80, False),
    5: (0x80, False),
    6: (2, True),  # ILL_ILLOPN, si_addr = ip
    13: (0x80, False),  # do_general_protection: force_sig, SI_KERNEL
}


def _fault_info(k: Kernel, vector: int, error_code: int | None, ip: int) -> tuple:
    cpu = k.cpu
    if vector == 14:
        code = 2 if (error_code or 0) & 1 else 1  # SEGV_ACCERR : SEGV_MAPERR
        what = f"{'SEGV_ACCERR' if code == 2 else 'SEGV_MAPERR'}, si_addr = CR2 {cpu.cr2:#x}"
        return code, {"addr": cpu.cr2}, what
    code, with_ip = _FAULT_INFO.get(vector, (0x80, False))
    what = f"si_code {code:#x}" + (f", si_addr = ip {ip:#x}" if with_ip else "")
    return code, ({"addr": ip} if with_ip else {}), what


def user_fault_32(
    k: Kernel,
    vector: int,
    signal: int,
    routine: str,
    sp: int,
    pushes_code: bool,
    error_code: int | None,
    ip: int,
    detail: str,
) -> None:
    """A user-mode exception on the i386 kernel (entry_32.S error_code, 3.16): pt_regs built
    under the hardware frame (orig_eax = -1), force_sig_info with its siginfo, then
    resume_userspace's work (the signal: a handler, a tracer's stop or the default action)
    and restore_all's IRET."""
    from simulator.cpu.registers import RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP
    from simulator.kernel import entry_32 as E32
    from simulator.kernel import ptrace as P
    from simulator.kernel import signal as S

    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    eip_at = sp + (4 if pushes_code else 0)
    base = eip_at - 12 * 4
    words = [r[x] & 0xFFFF_FFFF for x in (RBX, RCX, RDX, RSI, RDI, RBP, RAX)]
    words += [cpu.sel[3], cpu.sel[0], cpu.sel[4], cpu.sel[5], 0xFFFF_FFFF]
    k.kwrite_words(base, words, 4)
    k.note(
        "error_code (arch/x86/kernel/entry_32.S)",
        f"{'' if pushes_code else 'pushl $-1; '}the registers saved as pt_regs, "
        "orig_eax = -1 (no system call to restart)",
    )
    code, fields, what = _fault_info(k, vector, error_code, ip)
    task.trap = (vector, error_code or 0, cpu.cr2 if vector == 14 else 0)
    k.note(routine, f"user-mode {detail}: force_sig_info({SIGNAL_NAMES[signal]}, {what})")
    task.fault_reason[signal] = detail
    S.force_sig_info(k, task, signal, (0, code, fields))
    r[RSP] = base
    if k.options.get("profile") == "linux-6.9":
        from simulator.kernel import common69

        # irqentry_exit_to_user_mode: the exit loop, then restore_all_switch_stack's IRET.
        common69.exit_to_user_mode_loop(k, common69.IRET32)
        return
    E32._resume_userspace(k, P.TIF_WORK_MASK)
    r[16] = k.symbols["restore_all"]


def user_fault(
    k: Kernel,
    vector: int,
    signal: int,
    routine: str,
    sp: int,
    pushes_code: bool,
    error_code: int | None,
    ip: int,
    detail: str,
) -> None:
    """A user-mode exception on x86_64 (3.16): error_entry's SWAPGS and full pt_regs (orig_ax
    = -1: no system call to restart), the handler's force_sig_info with its siginfo
    (#PF: SEGV_MAPERR for a page not present, SEGV_ACCERR for a protection fault, si_addr =
    CR2), then error_exit: the exit work delivers the signal (a handler, a tracer's stop, or
    the default action) and IRET returns to user mode."""
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
        RSI,
        RSP,
    )  # fmt: skip
    from simulator.cpu.segments import GS
    from simulator.kernel import entry_64 as E
    from simulator.kernel import signal as S

    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    rip_at = sp + (8 if pushes_code else 0)
    base = rip_at - 16 * 8
    values = [
        r[x] for x in (R15, R14, R13, R12, RBP, RBX, R11, R10, R9, R8, RAX, RCX, RDX, RSI, RDI)
    ]
    k.kwrite_words(base, [*values, (1 << 64) - 1], 8)
    kernel_gs = cpu.msr.values[0xC000_0102]
    cpu.msr.values[0xC000_0102] = cpu.cache[GS].base
    cpu.cache[GS] = attrs.evolve(cpu.cache[GS], base=kernel_gs)
    k.note(
        "error_entry (arch/x86/kernel/entry_64.S)",
        f"{'' if pushes_code else 'pushq $-1; '}SWAPGS; SAVE_ALL: full pt_regs, orig_ax = -1 "
        "(no system call to restart)",
    )
    code, fields, what = _fault_info(k, vector, error_code, ip)
    task.trap = (vector, error_code or 0, cpu.cr2 if vector == 14 else 0)
    k.note(routine, f"user-mode {detail}: force_sig_info({SIGNAL_NAMES[signal]}, {what})")
    task.fault_reason[signal] = detail
    S.force_sig_info(k, task, signal, (0, code, fields))
    if k.options.get("profile") == "linux-6.9":
        from simulator.kernel import common69

        # error_return -> swapgs_restore_regs_and_return_to_usermode after
        # irqentry_exit_to_user_mode's exit loop.
        r[RSP] = base
        common69.exit_to_user_mode_loop(k, common69.IRET64)
        return
    r[RSP] = base + E.ARGOFFSET
    r[16] = k.symbols["int_ret_from_sys_call"]  # error_exit -> retint_careful: the exit work


VSYSCALL_ADDR = 0xFFFF_FFFF_FF60_0000
_VSYSCALL = {0x000: ("gettimeofday", "sys_gettimeofday"), 0x400: ("time", "sys_time")}
_VSYSCALL[0x800] = ("getcpu", "sys_getcpu")
_EMULATE = "emulate_vsyscall (arch/x86/kernel/vsyscall_64.c)"


def emulate_vsyscall(k: Kernel, sp: int, error_code: int) -> bool:
    """__bad_area_nosemaphore -> emulate_vsyscall: a fetch from the NX vsyscall page.

    The fault must be the instruction fetch itself (address == regs->ip), at one of the
    three entry points (else "misaligned vsyscall": SIGSEGV), with a readable return
    address at regs->sp. The call is made, then a ``ret`` emulated: ip = the return
    address, sp += 8. Returns False when the caller must send SIGSEGV.
    """
    from simulator.cpu.registers import RAX, RDI, RDX, RIP, RSI
    from simulator.kernel import uaccess

    cpu = k.cpu
    r = cpu.r
    address = cpu.cr2
    ip, cs, flags, user_sp, ss = k.kread_words(sp + 8, 5, 8)
    if address != ip:
        k.note(_EMULATE, f"a read of {address:#x}, not a call: vsyscall read attempt")
        return False
    entry = _VSYSCALL.get(address & 0xFFF)
    if entry is None:
        k.note(
            _EMULATE,
            f"{address:#x} is not an entry point: misaligned vsyscall (exploit attempt or "
            "buggy program)",
        )
        return False
    caller = uaccess.get_user(k, user_sp, 8, "get_user (the return address)")
    if caller is None:
        k.note(_EMULATE, "the return address at regs->sp cannot be read")
        return False
    name, handler = entry
    k.note(_EMULATE, f"#PF on the NX vsyscall page at its {name} entry: emulate the call")
    checks = {"gettimeofday": ((RDI, 16), (RSI, 8)), "time": ((RDI, 8),), "getcpu": ()}[name]
    for reg, size in checks:
        if r[reg] and not uaccess.access_ok(k, r[reg], size):
            k.note(_EMULATE, "write_ok_or_segv: a bad pointer (vsyscall fault, exploit attempt?)")
            return False
    args = (r[RDI], r[RSI], r[RDX], 0, 0, 0)
    result = k.handlers[handler](k, *args) & ((1 << 64) - 1)
    r[RAX] = result
    k.kwrite_words(sp + 8, [caller, cs, flags, user_sp + 8, ss], 8)
    r[4] = sp + 8  # drop the error code; rsp -> the IRET frame
    k.note(
        _EMULATE,
        f"regs->ax = {result:#x}; emulate ret: ip = {caller:#x}, sp += 8; back by IRET "
        "(the SWAPGS pair of error_entry and the exit cancels out and is not shown)",
    )
    r[RIP] = k.symbols["exception_iret"]
    return True


def kill(k: Kernel, signal: int, *, reason: str) -> None:
    """The default action of a fatal signal: do_exit with the signal as the wait status."""
    task = k.current
    assert task is not None
    core = signal in CORE_SIGNALS
    task.killed_by = signal
    # The wait status is the signal; bit 7 (WCOREFLAG) only when a core file was written,
    # and RLIMIT_CORE starts at 0 (include/asm-generic/resource.h INIT_RLIMITS).
    task.exit_code = signal
    k.note(
        "get_signal_to_deliver -> do_group_exit (kernel/signal.c, kernel/exit.c)",
        f"{SIGNAL_NAMES.get(signal, signal)}: default action "
        f"{'core (no core file: RLIMIT_CORE is 0)' if core else 'terminate'}; "
        f"task {task.pid} exits",
    )
    k.stop("signal", f"{SIGNAL_NAMES.get(signal, signal)}: {reason}")
