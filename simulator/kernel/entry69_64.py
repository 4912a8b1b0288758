"""arch/x86/entry/entry_64.S (Linux 6.9): entry_SYSCALL_64, asm_int80_emulation, the exits.

Thin stubs: build struct pt_regs (PUSH_AND_CLEAR_REGS), call the C code in
simulator.kernel.common69, and leave by the exit it chose: SYSRETQ through
syscall_return_via_sysret, or IRETQ through swapgs_restore_regs_and_return_to_usermode. The
SWAPGS, SYSRETQ, SYSRETL and IRETQ are real instructions the CPU model executes.
"""

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
    RSI,
    RSP,
)
from simulator.kernel import common69
from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/entry/entry_64.S"
CALLING = "arch/x86/entry/calling.h"
_M64 = (1 << 64) - 1
_PT = {f.name: f.offset for f in abi.PT_REGS_64}
# struct pt_regs from its lowest slot: what PUSH_REGS pushes last comes first.
GPR_SLOTS = (
    ("r15", R15),
    ("r14", R14),
    ("r13", R13),
    ("r12", R12),
    ("bp", RBP),
    ("bx", RBX),
    ("r11", R11),
    ("r10", R10),
    ("r9", R9),
    ("r8", R8),
    ("ax", RAX),
    ("cx", RCX),
    ("dx", RDX),
    ("si", RSI),
    ("di", RDI),
)
# CLEAR_REGS (calling.h): "Sanitize registers of values that a speculation attack might
# otherwise want to exploit": every general register but rax and rdi (rdi gets pt_regs).
CLEARED = (RSI, RDX, RCX, R8, R9, R10, R11, RBX, RBP, R12, R13, R14, R15)
TSS_SP2 = 4 + 16  # offsetof(struct x86_hw_tss, sp2): reserved1 (4), sp0, sp1, then sp2


def where(symbol: str, source: str = SOURCE) -> str:
    return f"{symbol} ({source})"


def place(k: Kernel) -> None:
    """Lay out entry_64.S's 6.9 routines: real SWAPGS/SYSRET/IRETQ around modeled bodies."""
    k.routine(
        ("entry_SYSCALL_64", assemble("swapgs")),
        ("entry_SYSCALL_64_safe_stack", entry_SYSCALL_64),
    )
    k.routine(
        ("syscall_return_via_sysret", syscall_return_via_sysret),
        ("entry_SYSRETQ_unsafe_stack", assemble("swapgs\nsysretq")),
    )
    k.routine(
        ("swapgs_restore_regs_and_return_to_usermode", swapgs_restore_regs),
        (".Lswapgs_and_iret", assemble("swapgs")),
        ("native_irq_return_iret", assemble("iretq")),
    )
    k.routine(
        ("asm_int80_emulation", int80_push_regs),
        ("error_entry", assemble("swapgs")),
        ("idtentry_body_int80", int80_body),
    )
    # SYSCALL from compatibility mode with ia32 emulation off (or no CSTAR target at all).
    k.routine(("entry_SYSCALL32_ignore", assemble("mov eax, -38\nsysret")))
    k.routine(("irq_entries_start", external_interrupt))


def pt_regs_base(k: Kernel) -> int:
    """task_pt_regs(current): the top of the task stack less sizeof(struct pt_regs)."""
    assert k.current is not None
    return k.current.kernel_stack_top - L.PT_REGS_SIZE_64


def _push_regs(k: Kernel, base: int, ax: int, cx: int | None = None) -> None:
    """PUSH_REGS: di, si, dx, cx, ax, r8-r11, bx, bp, r12-r15 into their slots."""
    r = k.cpu.r
    words = [r[reg] for _, reg in GPR_SLOTS]
    words[10] = ax & _M64
    if cx is not None:
        words[11] = cx & _M64
    k.kwrite_words(base, words, 8)


def _clear_regs(k: Kernel) -> None:
    r = k.cpu.r
    for reg in CLEARED:
        r[reg] = 0


def entry_SYSCALL_64(k: Kernel) -> None:
    """entry_SYSCALL_64 after SWAPGS (6.9).

    Registers on entry (the comment above entry_SYSCALL_64):
      rax  system call number
      rcx  return address
      r11  saved rflags (note: r11 is callee-clobbered register in C ABI)
      rdi  arg0, rsi arg1, rdx arg2, r10 arg3 (needs to be moved to rcx to conform to C ABI),
      r8   arg4, r9 arg5
    The user rsp goes to TSS.sp2 as scratch; the stack is pcpu_hot.top_of_stack; the frame
    SYSCALL did not push is pushed by hand, then PUSH_AND_CLEAR_REGS rax=$-ENOSYS.
    """
    cpu = k.cpu
    r = cpu.r
    task = k.current
    assert task is not None
    user_rsp = r[RSP]
    k.kwrite(k.map.tss + TSS_SP2, user_rsp, 8)
    top = task.kernel_stack_top
    base = top - L.PT_REGS_SIZE_64
    frame = [r[RAX], r[RCX], L.USER_CS_64, r[R11], user_rsp, L.USER_DS_64]
    k.kwrite_words(base + _PT["orig_ax"], frame, 8)
    if k.trace is not None:
        k.note(
            where("entry_SYSCALL_64"),
            f"movq %rsp,PER_CPU_VAR(cpu_tss_rw + TSS_sp2); SWITCH_TO_KERNEL_CR3 (PTI: not "
            f"modeled); movq PER_CPU_VAR(pcpu_hot + X86_top_of_stack),%rsp ({top:#x}); push "
            f"__USER_DS, sp2 ({user_rsp:#x}), %r11 (flags), __USER_CS, %rcx (ip {r[RCX]:#x}), "
            f"%rax (orig_ax {r[RAX]:#x})",
        )
    _push_regs(k, base, -k.errno("ENOSYS"))
    _clear_regs(k)
    nr = r[RAX] & 0xFFFF_FFFF
    nr = nr - (1 << 32) if nr >> 31 else nr
    r[RDI] = base
    r[RSI] = nr & _M64
    r[RSP] = base
    if k.trace is not None:
        k.note(
            where("PUSH_AND_CLEAR_REGS rax=$-ENOSYS", CALLING),
            "push di, si, dx, cx, ax = -ENOSYS, r8-r11, bx, bp, r12-r15; CLEAR_REGS: xor esi, "
            "edx, ecx, r8d-r15d, ebx, ebp",
        )
        k.note(
            where("entry_SYSCALL_64"),
            f"movq %rsp,%rdi; movslq %eax,%rsi (nr = {nr}: the low 32 bits, sign-extended); "
            "IBRS_ENTER, UNTRAIN_RET, CLEAR_BRANCH_HISTORY (not modeled); call do_syscall_64",
        )
    common69.do_syscall_64(k, nr)


def _pop_regs(k: Kernel, base: int) -> None:
    r = k.cpu.r
    for (_, reg), value in zip(GPR_SLOTS, k.kread_words(base, 15, 8), strict=True):
        r[reg] = value


def syscall_return_via_sysret(k: Kernel) -> None:
    """syscall_return_via_sysret: POP_REGS pop_rdi=0, to the trampoline stack, pop rdi and the
    user rsp; then entry_SYSRETQ_unsafe_stack: swapgs; sysretq. rcx = regs->cx (== regs->ip)
    and r11 = regs->r11 (== regs->flags): do_syscall_64 checked both."""
    r = k.cpu.r
    base = r[RSP]
    _pop_regs(k, base)
    r[RSP] = k.kread(base + _PT["sp"], 8)
    if k.trace is not None:
        k.note(
            where("syscall_return_via_sysret"),
            f"IBRS_EXIT; POP_REGS pop_rdi=0 (every register from pt_regs: rcx {r[RCX]:#x}, "
            f"r11 {r[R11]:#x}); trampoline stack; popq %rdi; popq %rsp ({r[RSP]:#x}); "
            "SWITCH_TO_USER_CR3_STACK; swapgs; CLEAR_CPU_BUFFERS; sysretq",
        )


def swapgs_restore_regs(k: Kernel) -> None:
    """swapgs_restore_regs_and_return_to_usermode: POP_REGS, skip orig_ax, then swapgs and
    iretq with the frame on the stack."""
    r = k.cpu.r
    base = r[RSP]
    _pop_regs(k, base)
    r[RSP] = base + _PT["ip"]
    if k.trace is not None:
        k.note(
            where("swapgs_restore_regs_and_return_to_usermode"),
            "IBRS_EXIT; POP_REGS (every register from pt_regs); addq $8,%rsp (orig_ax); "
            "swapgs; iretq",
        )


def int80_push_regs(k: Kernel) -> None:
    """asm_int80_emulation (idtentry IA32_SYSCALL_VECTOR ... do_int80_emulation): the CPU
    pushed SS, RSP, RFLAGS, CS, RIP through the DPL 3 interrupt gate; pushq $-1 (orig_ax: "no
    syscall to restart"), then error_entry's PUSH_AND_CLEAR_REGS (ax is the user's rax) and,
    coming from user mode, swapgs."""
    r = k.cpu.r
    sp = r[RSP]
    k.kwrite(sp - 8, _M64, 8)
    base = sp - 8 - 15 * 8
    _push_regs(k, base, r[RAX])
    _clear_regs(k)
    r[RSP] = base
    if k.trace is not None:
        k.note(
            where("asm_int80_emulation"),
            "ASM_CLAC; cld; pushq $-1 (orig_ax); call error_entry: PUSH_AND_CLEAR_REGS "
            f"save_ret=1 (ax = the user's rax, {r[RAX]:#x}); testb $3,CS: from user mode, so "
            "swapgs",
        )


def int80_body(k: Kernel) -> None:
    """error_entry after SWAPGS (SWITCH_TO_KERNEL_CR3, sync_regs), then idtentry_body: call
    do_int80_emulation; jmp error_return."""
    if k.trace is not None:
        k.note(
            where("error_entry"),
            "SWITCH_TO_KERNEL_CR3 (not modeled); sync_regs: ringsim's TSS.sp0 is the task "
            "stack, so pt_regs is already in place; movq %rsp,%rdi; call do_int80_emulation",
        )
    common69.do_int80_emulation(k)


def external_interrupt(k: Kernel) -> None:
    """An external interrupt arriving on a vector ringsim gives no device."""
    k.not_modeled("irq_entries_start", "an external interrupt on a vector with no device")
    k.stop("not modeled", "external interrupt")
