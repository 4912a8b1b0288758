"""arch/x86/entry/entry_64_compat.S (Linux 6.9): SYSENTER and SYSCALL from 32-bit processes.

entry_SYSENTER_compat (Intel) and entry_SYSCALL_compat (AMD) build pt_regs and call
do_SYSENTER_32 / do_fast_syscall_32 (simulator.kernel.common69); both leave by SYSRETL through
sysret32_from_system_call to the vDSO's int80_landing_pad when the C code allows it, else by
IRET. INT 0x80 is no longer here: it is an idtentry, asm_int80_emulation (entry69_64).
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
    RAX,
    RBP,
    RBX,
    RCX,
    RDI,
    RDX,
    RFLAGS,
    RSI,
    RSP,
)
from simulator.kernel import common69
from simulator.kernel import entry69_64 as E
from simulator.kernel import linux69 as L69
from simulator.kernel import linux316 as L

if TYPE_CHECKING:
    from simulator.kernel.kernel import Kernel

SOURCE = "arch/x86/entry/entry_64_compat.S"
_M32 = 0xFFFF_FFFF
_PT = {f.name: f.offset for f in abi.PT_REGS_64}


def where(symbol: str) -> str:
    return f"{symbol} ({SOURCE})"


def place(k: Kernel) -> None:
    """Lay out entry_64_compat.S's two entries and their SYSRETL exit."""
    k.routine(("entry_SYSENTER_compat", assemble("swapgs")), (None, sysenter_compat))
    k.routine(("entry_SYSCALL_compat", assemble("swapgs")), (None, syscall_compat))
    k.routine(
        ("sysret32_from_system_call", sysret32_from_system_call),
        (
            "entry_SYSRETL_compat_unsafe_stack",
            assemble("xor r8d, r8d\nxor r9d, r9d\nxor r10d, r10d\nswapgs\nsysret"),
        ),
    )


def sysenter_compat(k: Kernel) -> None:
    """entry_SYSENTER_compat after SWAPGS (6.9).

    Arguments (the comment above entry_SYSENTER_compat):
      eax  system call number
      ebx  arg1, ecx arg2, edx arg3, esi arg4, edi arg5
      ebp  user stack
      0(%ebp) arg6
    SYSENTER loaded RSP and RIP from the MSRs and cleared IF; it saved nothing.
    """
    r = k.cpu.r
    task = k.current
    assert task is not None
    base = task.kernel_stack_top - L.PT_REGS_SIZE_64
    r[RAX] &= _M32
    # pushq $__USER32_DS; pushq $0 (sp placeholder); pushfq; pushq $__USER32_CS; pushq $0 (ip
    # placeholder); movl %eax,%eax; pushq %rax (orig_ax)
    frame = [r[RAX], 0, L.USER32_CS, r[RFLAGS], 0, L.USER32_DS]
    k.kwrite_words(base + _PT["orig_ax"], frame, 8)
    E._push_regs(k, base, -k.errno("ENOSYS"))
    E._clear_regs(k)
    r[RSP] = base
    fixed = r[RFLAGS] & (L69.X86_EFLAGS_NT | L69.X86_EFLAGS_AC | L69.X86_EFLAGS_TF)
    if fixed:
        r[RFLAGS] = L69.X86_EFLAGS_FIXED  # .Lsysenter_fix_flags: pushq $X86_EFLAGS_FIXED; popfq
    r[RDI] = base
    k.note(
        where("entry_SYSENTER_compat"),
        "movq pcpu_hot.top_of_stack,%rsp; push __USER32_DS, 0 (sp placeholder), flags "
        "(pushfq: IF clear), __USER32_CS, 0 (ip placeholder); movl %eax,%eax; push %rax "
        "(orig_ax); PUSH_AND_CLEAR_REGS rax=$-ENOSYS; cld"
        + ("; NT/AC/TF set: .Lsysenter_fix_flags popfq's X86_EFLAGS_FIXED" if fixed else "")
        + "; call do_SYSENTER_32",
    )
    common69.do_SYSENTER_32(k)


def syscall_compat(k: Kernel) -> None:
    """entry_SYSCALL_compat after SWAPGS (6.9): 32-bit SYSCALL (AMD).

    Arguments (the comment above entry_SYSCALL_compat):
      eax  system call number
      ecx  return address
      ebx  arg1
      ebp  arg2 (note: not saved in the stack frame, should not be touched)
      edx  arg3, esi arg4, edi arg5
      esp  user stack
      0(%esp) arg6
    """
    r = k.cpu.r
    task = k.current
    assert task is not None
    r[R8] = r[RSP] & _M32  # movl %esp,%r8d
    base = task.kernel_stack_top - L.PT_REGS_SIZE_64
    r[RAX] &= _M32
    frame = [r[RAX], r[RCX], L.USER32_CS, r[R11], r[R8], L.USER32_DS]
    k.kwrite_words(base + _PT["orig_ax"], frame, 8)
    E._push_regs(k, base, -k.errno("ENOSYS"), cx=r[RBP])
    E._clear_regs(k)
    r[RSP] = base
    r[RDI] = base
    k.note(
        where("entry_SYSCALL_compat"),
        f"movl %esp,%r8d; movq pcpu_hot.top_of_stack,%rsp; push __USER32_DS, %r8 (sp "
        f"{k.kread(base + _PT['sp'], 8):#x}), %r11 (flags), __USER32_CS, %rcx (ip); movl "
        "%eax,%eax; push %rax (orig_ax); PUSH_AND_CLEAR_REGS rcx=%rbp rax=$-ENOSYS (the cx "
        "slot holds arg2); call do_fast_syscall_32",
    )
    common69.do_fast_syscall_32(k)


def sysret32_from_system_call(k: Kernel) -> None:
    """sysret32_from_system_call: rbx, rbp, r11 = flags, rcx = ip, rax, rdx, rsi, rdi from
    pt_regs (the cx slot skipped), rsp = regs->sp; then xorl r8d, r9d, r10d; swapgs; sysretl.
    r12-r15 keep what the kernel left in them: CLEAR_REGS zeroed them at entry."""
    r = k.cpu.r
    base = r[RSP]

    def slot(name: str) -> int:
        return k.kread(base + _PT[name], 8)

    r[RBX], r[RBP] = slot("bx"), slot("bp")
    r[R11], r[RCX] = slot("flags"), slot("ip")
    r[RAX], r[RDX], r[RSI], r[RDI] = slot("ax"), slot("dx"), slot("si"), slot("di")
    r[RSP] = slot("sp")
    _ = (R9, R10)
    k.note(
        where("sysret32_from_system_call"),
        f"movq RBX, RBP; r11 = EFLAGS slot ({r[R11]:#x}); rcx = RIP slot ({r[RCX]:#x}, the "
        "landing pad); pop rax, (skip cx), rdx, rsi, rdi; movq RSP-ORIG_RAX(%rsp),%rsp; "
        "xorl r8d, r9d, r10d; swapgs; CLEAR_CPU_BUFFERS; sysretl",
    )
