"""arch/x86/ia32/ia32entry.S (Linux 3.16): 32-bit processes entering a 64-bit kernel.

Three ways in, all into ia32_sys_call_table: SYSENTER (ia32_sysenter_target),
INT 0x80 (ia32_syscall) and, on AMD, SYSCALL from compatibility mode
(ia32_cstar_target). Each checks the number and fetches argument 6 before
IA32_ARG_FIXUP moves EBX..EBP into the C argument registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import abi
from simulator.cpu import alu
from simulator.cpu.assembler import assemble
from simulator.cpu.registers import (
    R8,
    R9,
    R10,
    R11,
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RFLAGS,
    RIP,
    RSI,
    RSP,
)
from simulator.cpu.segments import GS
from simulator.kernel import entry_64 as E
from simulator.kernel import linux316 as L
from simulator.kernel import ptrace as P
from simulator.kernel import uaccess

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/ia32/ia32entry.S"
_M32 = 0xFFFF_FFFF
_PT = {f.name: f.offset for f in abi.PT_REGS_64}
PTREGS_STUBS = {
    "stub32_execve": "compat_sys_execve",
    "stub32_rt_sigreturn": "sys32_rt_sigreturn",
    "stub32_sigreturn": "sys32_sigreturn",
    "stub32_fork": "sys_fork",
    "stub32_vfork": "sys_vfork",
    "stub32_clone": "sys_clone",
}


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def place(k: Kernel) -> None:
    """Lay out ia32entry.S's three entries and the two fast exits."""
    k.routine(("ia32_sysenter_target", assemble("swapgs")), (None, sysenter_body))
    k.routine(("ia32_cstar_target", assemble("swapgs")), (None, cstar_body))
    k.routine(("ia32_syscall", assemble("swapgs")), (None, int80_body))
    # ENABLE_INTERRUPTS_SYSEXIT32 and USERGS_SYSRET32, native forms.
    k.routine(("native_irq_enable_sysexit", assemble("swapgs\nsti\nsysexit")))
    k.routine(("native_usergs_sysret32", assemble("swapgs\nsysret")))


def _base(k: Kernel) -> int:
    return E.pt_regs_base(k)


def _save_args(k: Kernel, base: int, *, rcx: bool) -> None:
    """SAVE_ARGS ...,0: rdi, rsi, rdx, (rcx), rax into pt_regs; r8-r11 are not saved."""
    r = k.cpu.r
    k.kwrite(base + _PT["ax"], r[RAX], 8)
    if rcx:
        k.kwrite(base + _PT["cx"], r[RCX], 8)
    k.kwrite_words(base + _PT["dx"], [r[RDX], r[RSI], r[RDI]], 8)


def _check_number(k: Kernel, routine: str) -> bool:
    """cmpq $(IA32_NR_syscalls-1),%rax; ja ia32_badsys."""
    table = k.tables["ia32_sys_call_table"]
    nr = k.cpu.r[RAX]
    if nr > table.max_number:
        k.note(where(routine), f"cmpq $(IA32_NR_syscalls-1),%rax: {nr:#x} > {table.max_number}")
        ia32_badsys(k)
        return False
    k.note(where(routine), f"cmpq $(IA32_NR_syscalls-1),%rax: {nr} <= {table.max_number}")
    return True


def _dispatch(
    k: Kernel, routine: str, after: str, extra: tuple = (), *, noebp: bool = False
) -> None:
    """IA32_ARG_FIXUP (edi->r8d, ebp->r9d, xchg ecx/esi, ebx->edi, movl %edx,%edx), then call.
    The entry routine's tail ``after`` follows (simulator.kernel.kernel.Kernel.call_or_sleep);
    a PTREGSCALL stub leaves through ia32_ptregs_common and ia32_sysret itself, whatever the
    entry."""
    r = k.cpu.r
    nr = r[RAX]
    ebx, ecx, edx, esi, edi, ebp = (r[x] & _M32 for x in (RBX, RCX, RDX, RSI, RDI, RBP))
    r[R8] = edi
    if not noebp:
        r[R9] = ebp
    r[RCX], r[RSI] = esi, ecx
    r[RDI] = ebx
    r[RDX] = edx
    k.note(
        where("IA32_ARG_FIXUP"),
        "ebx->rdi, ecx->rsi, edx->rdx, esi->rcx, edi->r8, ebp->r9 (zero-extended)",
    )
    entry = k.tables["ia32_sys_call_table"].entries[nr]
    args = (r[RDI], r[RSI], r[RDX], r[RCX], r[R8], r[R9])
    if entry in PTREGS_STUBS:
        base = _base(k)
        k.note_table_call("ia32_sys_call_table", nr)
        E.save_rest(k, base)
        k.note(where(entry), f"PTREGSCALL {entry}: SAVE_REST; call {PTREGS_STUBS[entry]}")
        result = k.call_stub(entry, PTREGS_STUBS[entry], nr, args)
        E.restore_rest(k, base)
        k.note(where("ia32_ptregs_common"), "RESTORE_REST; jmp ia32_sysret (an IRET exit)")
        ia32_sysret(k, result)
        return
    k.call_or_sleep("ia32_sys_call_table", nr, args, after, extra)


def ia32_badsys(k: Kernel) -> None:
    """ia32_badsys: orig_ax = 0, rax = -ENOSYS, then ia32_sysret (an IRET exit)."""
    base = _base(k)
    k.kwrite(base + _PT["orig_ax"], 0, 8)
    k.note(where("ia32_badsys"), "movq $0,ORIG_RAX; movq $-ENOSYS,%rax; jmp ia32_sysret")
    ia32_sysret(k, -k.errno("ENOSYS"))


def ia32_badarg(k: Kernel) -> None:
    """ia32_badarg: rax = -EFAULT, then ia32_sysret (an IRET exit)."""
    k.note(where("ia32_badarg"), "movq $-EFAULT,%rax; jmp ia32_sysret")
    ia32_sysret(k, -k.errno("EFAULT"))


def ia32_sysret(k: Kernel, result: int) -> None:
    """ia32_sysret: RAX slot = rax; CLEAR_RREGS (r8-r11 slots = 0); jmp int_ret_from_sys_call."""
    base = _base(k)
    k.kwrite(base + _PT["ax"], result, 8)
    k.kwrite_words(base + _PT["r11"], [0, 0, 0, 0], 8)
    k.note(
        where("ia32_sysret"),
        f"movq %rax,RAX-ARGOFFSET(%rsp) ({result & 0xFFFF_FFFF_FFFF_FFFF:#x}); CLEAR_RREGS: "
        "r8-r11 slots = 0; jmp int_ret_from_sys_call",
    )
    k.cpu.r[RSP] = base + E.ARGOFFSET
    k.cpu.r[RIP] = k.symbols["int_ret_from_sys_call"]


def _auditsys(k: Kernel, task, routine: str) -> bool:
    """sysenter_auditsys / cstar_auditsys (auditsys_entry_common): __audit_syscall_entry with
    AUDIT_ARCH_I386, then the bounds check (ia32_badsys above the table); True to go on."""
    P.audit_entry_fast(k, task)
    return _check_number(k, routine)


def _exit_work(k: Kernel, task, result: int, routine: str) -> bool:
    """auditsys_exit (ia32entry.S 3.16): other work goes to ia32_ret_from_sys_call (IRET) at
    once; TIF_SYSCALL_AUDIT alone runs __audit_syscall_exit and keeps the fast exit. True when
    the IRET path was taken."""
    if task.flags & E.TIF_ALLWORK & ~E._AUDIT:
        k.note(where(routine), "work pending: ia32_ret_from_sys_call, leave by IRET")
        ia32_sysret(k, result)
        return True
    if task.flags & E._AUDIT:
        P.audit_exit(k, task, result, where(routine))
    return False


def _tracesys32(k: Kernel, routine: str, *, xchg: bool) -> None:
    """sysenter_tracesys / cstar_tracesys: (cstar: xchgl %r9d,%ebp), SAVE_REST, CLEAR_RREGS,
    RAX slot = -ENOSYS, call syscall_trace_enter."""
    r = k.cpu.r
    base = _base(k)
    if xchg:
        r[R9], r[RBP] = r[RBP] & _M32, r[R9] & _M32
    E.save_rest(k, base)
    k.kwrite_words(base + _PT["r11"], [0, 0, r[R9] if xchg else 0, 0], 8)
    k.kwrite(base + _PT["ax"], -k.errno("ENOSYS"), 8)
    k.note(
        where(routine),
        ("xchgl %r9d,%ebp (ebp = arg6); " if xchg else "")
        + "SAVE_REST (bp slot = arg6); CLEAR_RREGS; movq $-ENOSYS,RAX(%rsp); "
        "call syscall_trace_enter",
    )
    r[RSP] = base
    P.syscall_trace_enter(k, routine)


def _tracesys32_after(k: Kernel, nr: int, routine: str, xchg: bool) -> None:
    r = k.cpu.r
    base = _base(k)
    if xchg:
        r[R9] = k.kread(base + _PT["r9"], 4)
    for reg, slot in ((RCX, "cx"), (RDX, "dx"), (RSI, "si"), (RDI, "di")):
        r[reg] = k.kread(base + _PT[slot], 4)
    E.restore_rest(k, base)
    if xchg:
        r[RBP], r[R9] = r[R9] & _M32, r[RBP] & _M32
    r[RAX] = nr
    k.note(
        where(routine),
        f"LOAD_ARGS32 ARGOFFSET{', 1' if xchg else ''}; RESTORE_REST"
        + ("; xchgl %ebp,%r9d" if xchg else "")
        + f"; rax = {nr:#x}",
    )
    table = k.tables["ia32_sys_call_table"]
    r[RSP] = base + E.ARGOFFSET
    if nr > table.max_number:
        k.note(where(routine), f"{nr:#x} > {table.max_number}: ja int_ret_from_sys_call")
        r[RIP] = k.symbols["int_ret_from_sys_call"]
        return
    k.note(where(routine), f"cmpq $(IA32_NR_syscalls-1),%rax: {nr} <= {table.max_number}")
    _dispatch(k, routine, "sysretl" if xchg else "sysexit", (base,), noebp=xchg)


P.CONTINUATIONS["sysenter_tracesys"] = lambda k, nr: _tracesys32_after(
    k, nr, "sysenter_tracesys", False
)
P.CONTINUATIONS["cstar_tracesys"] = lambda k, nr: _tracesys32_after(k, nr, "cstar_tracesys", True)


def sysenter_body(k: Kernel) -> None:
    """ia32_sysenter_target after SWAPGS.

    Registers on entry (the comment above ia32_sysenter_target):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5
      ebp  user stack: 0(%ebp) is arg6 (the vDSO pushed ebp there)
      0(%ebp) arg6
    The stack is PER_CPU(kernel_stack) + KERNEL_STACK_OFFSET; no access_ok on
    ebp is needed because it was zero-extended (source comment).
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    gs = cpu.cache[GS].base
    kernel_stack = k.kread(gs + L.PERCPU_KERNEL_STACK, 8)
    # addq $(KERNEL_STACK_OFFSET),%rsp sets the arithmetic flags that pushfq saves and
    # the fast exit's popfq gives back to the user.
    top, add_flags = alu.add(kernel_stack, L.KERNEL_STACK_OFFSET, 8)
    r[RFLAGS] = (r[RFLAGS] & ~alu.ARITH_FLAGS) | add_flags
    k.enable_interrupts()
    r[RBP] &= _M32
    r[RAX] &= _M32
    base = top - L.PT_REGS_SIZE_64
    frame = [r[RAX], task.sysenter_return, L.USER32_CS, r[RFLAGS], r[RBP], L.USER32_DS]
    k.kwrite_words(base + _PT["orig_ax"], frame, 8)
    r[RSP] = base + E.ARGOFFSET
    _save_args(k, base, rcx=True)
    k.note(
        where("ia32_sysenter_target"),
        f"rsp = kernel_stack + KERNEL_STACK_OFFSET; push __USER32_DS, %rbp ({r[RBP]:#x}), "
        f"flags, __USER32_CS, sysenter_return ({task.sysenter_return:#x}), %rax; SAVE_ARGS 0,1,0",
    )
    arg6 = uaccess.get_user(k, r[RBP], 4, "ia32_sysenter_target: 1: movl (%rbp),%ebp")
    if arg6 is None:
        ia32_badarg(k)
        return
    r[RBP] = arg6
    k.note(where("ia32_sysenter_target"), f"1: movl (%rbp),%ebp: arg6 = {arg6:#x}")
    task.status |= L.TS_COMPAT
    if task.flags & E.TIF_WORK_SYSCALL_ENTRY:
        if task.flags & E.TIF_WORK_SYSCALL_ENTRY & ~E._AUDIT:
            _tracesys32(k, "sysenter_tracesys", xchg=False)
            return
        if not _auditsys(k, task, "sysenter_auditsys"):
            return
    elif not _check_number(k, "ia32_sysenter_target"):
        return
    _dispatch(k, "ia32_sysenter_target", "sysexit", (base,))


def _sysexit(k: Kernel, base: int, result: int) -> None:
    """sysenter_dispatch after the call: the RAX slot, then sysexit_from_sys_call unless work
    is pending (sysexit_audit)."""
    r = k.cpu.r
    task = k.current
    assert task is not None
    k.kwrite(base + _PT["ax"], result, 8)
    k.disable_interrupts()
    if _exit_work(k, task, result, "sysexit_audit"):
        return
    # sysexit_from_sys_call
    task.status &= ~L.TS_COMPAT
    flags = k.kread(base + _PT["flags"], 8) & ~0x200
    r[RDX] = k.kread(base + _PT["ip"], 8) & _M32
    r[RSI] = k.kread(base + _PT["si"], 8)
    r[RDI] = k.kread(base + _PT["di"], 8)
    r[RAX] = result
    r[R8] = r[R9] = r[R10] = r[R11] = 0
    r[RFLAGS] = flags
    r[RCX] = k.kread(base + _PT["sp"], 8)
    r[RSP] = base + _PT["ss"]  # after popfq and popq %rcx
    k.note(
        where("sysexit_from_sys_call"),
        "andl $~TS_COMPAT; edx = RIP slot (SYSENTER_RETURN); RESTORE_ARGS (rsi, rdi); "
        "xorq r8-r11; popfq (IF cleared); popq %rcx (user esp); ENABLE_INTERRUPTS_SYSEXIT32",
    )
    r[RIP] = k.symbols["native_irq_enable_sysexit"]


def cstar_body(k: Kernel) -> None:
    """ia32_cstar_target after SWAPGS: SYSCALL from compatibility mode (AMD).

    Registers on entry (the comment above ia32_cstar_target):
      eax  system call number
      ebx  arg1, ebp arg2 (the vDSO copied ecx there), edx arg3, esi arg4, edi arg5
      esp  user stack: 0(%esp) is arg6
      ecx  return address, r11 eflags (SYSCALL wrote them)
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    gs = cpu.cache[GS].base
    r[R8] = r[RSP] & _M32
    top = k.kread(gs + L.PERCPU_KERNEL_STACK, 8)
    r[RSP] = top
    k.enable_interrupts()
    sp = top - (9 * 8 + 8)
    base = sp - E.ARGOFFSET
    _save_args(k, base, rcx=False)
    r[RAX] &= _M32
    k.kwrite(base + _PT["orig_ax"], r[RAX], 8)
    k.kwrite(base + _PT["ip"], r[RCX], 8)
    k.kwrite(base + _PT["cx"], r[RBP], 8)
    r[RCX] = r[RBP] & _M32
    k.kwrite_words(base + _PT["cs"], [L.USER32_CS, r[R11], r[R8], L.USER32_DS], 8)
    r[RSP] = sp
    k.note(
        where("ia32_cstar_target"),
        "movl %esp,%r8d; rsp = kernel_stack; SAVE_ARGS 8,0,0; RIP slot = rcx, RCX slot = rbp "
        "(arg2), movl %ebp,%ecx; CS, SS, EFLAGS = r11, RSP = r8",
    )
    arg6 = uaccess.get_user(k, r[R8], 4, "ia32_cstar_target: 1: movl (%r8),%r9d")
    if arg6 is None:
        ia32_badarg(k)
        return
    r[R9] = arg6
    k.note(where("ia32_cstar_target"), f"1: movl (%r8),%r9d: arg6 = {arg6:#x}")
    task.status |= L.TS_COMPAT
    if task.flags & E.TIF_WORK_SYSCALL_ENTRY:
        if task.flags & E.TIF_WORK_SYSCALL_ENTRY & ~E._AUDIT:
            _tracesys32(k, "cstar_tracesys", xchg=True)
            return
        if not _auditsys(k, task, "cstar_auditsys"):
            return
    elif not _check_number(k, "ia32_cstar_target"):
        return
    _dispatch(k, "ia32_cstar_target", "sysretl", (base,), noebp=True)


def _sysretl(k: Kernel, base: int, result: int) -> None:
    """cstar_dispatch after the call: the RAX slot, then sysretl_from_sys_call unless work is
    pending (sysretl_audit)."""
    r = k.cpu.r
    task = k.current
    assert task is not None
    k.kwrite(base + _PT["ax"], result, 8)
    k.disable_interrupts()
    if _exit_work(k, task, result, "sysretl_audit"):
        return
    task.status &= ~L.TS_COMPAT
    r[RAX] = result
    r[RDX] = k.kread(base + _PT["dx"], 8)
    r[RSI] = k.kread(base + _PT["si"], 8)
    r[RDI] = k.kread(base + _PT["di"], 8)
    r[RCX] = k.kread(base + _PT["ip"], 8) & _M32
    r[R11] = k.kread(base + _PT["flags"], 8) & _M32
    r[R8] = r[R9] = r[R10] = 0
    r[RSP] = k.kread(base + _PT["sp"], 8) & _M32
    k.note(
        where("sysretl_from_sys_call"),
        "RESTORE_ARGS (rdx, rsi, rdi); ecx = RIP slot, r11d = EFLAGS slot; xorq r10, r9, r8; "
        "esp = RSP slot; USERGS_SYSRET32",
    )
    r[RIP] = k.symbols["native_usergs_sysret32"]


def int80_body(k: Kernel) -> None:
    """ia32_syscall after SWAPGS: INT 0x80 from a 32-bit (or 64-bit) process.

    Registers on entry (the comment above ia32_syscall):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5, ebp arg6
    The CPU pushed SS, RSP, RFLAGS, CS and RIP through the DPL 3 interrupt gate,
    so interrupts are off on entry. Always leaves by IRET with r8-r11 = 0.
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    k.enable_interrupts()
    r[RAX] &= _M32
    sp = r[RSP] - 8
    k.kwrite(sp, r[RAX], 8)
    sp -= 9 * 8
    base = sp - E.ARGOFFSET
    r[RSP] = sp
    _save_args(k, base, rcx=True)
    k.note(
        where("ia32_syscall"),
        f"movl %eax,%eax; pushq %rax (orig_ax {r[RAX]:#x}); SAVE_ARGS 0,1,0 on the frame the "
        "CPU pushed",
    )
    task.status |= L.TS_COMPAT
    if task.flags & E.TIF_WORK_SYSCALL_ENTRY:
        ia32_tracesys(k)
        return
    if not _check_number(k, "ia32_syscall"):
        return
    _dispatch(k, "ia32_syscall", "ia32_sysret")


def ia32_tracesys(k: Kernel) -> None:
    """ia32_tracesys: SAVE_REST, CLEAR_RREGS, RAX slot = -ENOSYS, call syscall_trace_enter
    (every entry work flag, audit included: INT 0x80 has no audit fast path in 3.16)."""
    base = _base(k)
    E.save_rest(k, base)
    k.kwrite_words(base + _PT["r11"], [0, 0, 0, 0], 8)
    k.kwrite(base + _PT["ax"], -k.errno("ENOSYS"), 8)
    k.note(
        where("ia32_tracesys"),
        "SAVE_REST; CLEAR_RREGS (r8-r11 slots = 0); movq $-ENOSYS,RAX(%rsp); "
        "call syscall_trace_enter",
    )
    k.cpu.r[RSP] = base
    P.syscall_trace_enter(k, "ia32_tracesys")


def _ia32_tracesys_after(k: Kernel, nr: int) -> None:
    """LOAD_ARGS32 ARGOFFSET (ecx, edx, esi, edi), RESTORE_REST (ebx, ebp, ...), the bounds
    check on the returned number, then ia32_do_call."""
    r = k.cpu.r
    base = _base(k)
    for reg, slot in ((RCX, "cx"), (RDX, "dx"), (RSI, "si"), (RDI, "di")):
        r[reg] = k.kread(base + _PT[slot], 4)
    E.restore_rest(k, base)
    r[RAX] = nr
    k.note(
        where("ia32_tracesys"),
        "LOAD_ARGS32 ARGOFFSET (ecx, edx, esi, edi from pt_regs in case ptrace changed them); "
        f"RESTORE_REST; rax = {nr:#x}",
    )
    table = k.tables["ia32_sys_call_table"]
    r[RSP] = base + E.ARGOFFSET
    r[RIP] = k.symbols["int_ret_from_sys_call"]
    if nr > table.max_number:
        k.note(
            where("ia32_tracesys"),
            f"cmpq $(IA32_NR_syscalls-1),%rax: {nr:#x} > {table.max_number}: "
            "ja int_ret_from_sys_call (RAX slot already set)",
        )
        return
    k.note(where("ia32_tracesys"), f"cmpq $(IA32_NR_syscalls-1),%rax: {nr} <= {table.max_number}")
    _dispatch(k, "ia32_do_call", "ia32_sysret")


P.CONTINUATIONS["ia32_tracesys"] = _ia32_tracesys_after
P.CONTINUATIONS["ia32_sysret"] = lambda k, result: ia32_sysret(k, result & 0xFFFF_FFFF_FFFF_FFFF)
P.CONTINUATIONS["sysexit"] = lambda k, result, base: _sysexit(
    k, base, result & 0xFFFF_FFFF_FFFF_FFFF
)
P.CONTINUATIONS["sysretl"] = lambda k, result, base: _sysretl(
    k, base, result & 0xFFFF_FFFF_FFFF_FFFF
)
